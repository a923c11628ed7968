package api

import "github.com/solvekit/solvekit/experiment"

// InstanceSetCreate is the body of POST /instanceSets: a set of stored
// instances. POST /instanceSets/import creates the instances from files
// instead (multipart: parts named "file", or one "archive" part holding a
// .zip, .tar or .tar.gz of them; fields name, description, job_type and
// tags, comma-separated).
type InstanceSetCreate struct {
	Name        string   `json:"name" validate:"required,max=256"`
	Description string   `json:"description,omitempty" validate:"max=4096"`
	JobType     string   `json:"job_type,omitempty" validate:"max=128"`
	Tags        []string `json:"tags,omitempty" validate:"max=32,dive,min=1,max=64"`
	// InstanceIDs name stored instances, in the set's order.
	InstanceIDs []string `json:"instance_ids" validate:"required,min=1,max=10000,dive,uuid"`
}

// InstanceSet is a stored instance set.
type InstanceSet = experiment.InstanceSet

// InstanceSetList is a page of instance sets, newest first.
type InstanceSetList struct {
	InstanceSets []*InstanceSet `json:"instance_sets"`
	TotalEntries int64          `json:"total_entries"`
}

// VariantCreate is one variant of an ExperimentCreate.
type VariantCreate = experiment.Variant

// ExperimentCreate is the body of POST /experiments: a job type's
// variants run over an instance set (docs/experiments.md).
type ExperimentCreate struct {
	Name          string          `json:"name,omitempty" validate:"max=256"`
	JobType       string          `json:"job_type" validate:"required,max=128"`
	InstanceSetID string          `json:"instance_set_id" validate:"required,max=64"`
	Variants      []VariantCreate `json:"variants" validate:"required,min=1,max=32"`
	// Repetitions (default 1): with more than one, repetition r sets the
	// config field seed_field (default "seed") to r+1.
	Repetitions int    `json:"repetitions,omitempty" validate:"min=0,max=100"`
	SeedField   string `json:"seed_field,omitempty" validate:"max=128"`
	// TimeLimitSeconds is each execution's hard time limit (0: the job
	// type's).
	TimeLimitSeconds float64 `json:"time_limit_seconds,omitempty" validate:"min=0"`
	// MaxInFlight bounds the executions queued or running at once
	// (default 4).
	MaxInFlight int `json:"max_in_flight,omitempty" validate:"min=0,max=1000"`
	// Sense is the objective's direction: min (default) or max.
	Sense    string   `json:"sense,omitempty" validate:"max=8"`
	Baseline bool     `json:"baseline,omitempty"`
	Tags     []string `json:"tags,omitempty" validate:"max=32,dive,min=1,max=64"`
}

// ExperimentPatch is the body of PATCH /experiments/{id}.
type ExperimentPatch struct {
	// Baseline marks the experiment as a baseline (or not).
	Baseline *bool `json:"baseline,omitempty"`
}

// Experiment is a stored experiment.
type Experiment = experiment.Experiment

// ExperimentList is a page of experiments, newest first.
type ExperimentList struct {
	Experiments  []*Experiment `json:"experiments"`
	TotalEntries int64         `json:"total_entries"`
}

// ExperimentResults is an experiment's results table, aggregates per
// variant and performance profile.
type ExperimentResults = experiment.Results

// ExperimentComparison compares an experiment with a baseline.
type ExperimentComparison = experiment.Comparison
