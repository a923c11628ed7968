package solvekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// Experiments (docs/experiments.md): a job type's variants (solver and
// config) run over a stored instance set, each instance × variant ×
// repetition as one execution (a cell), with a bounded number in flight.
//
// The experiment and its bookkeeping live in Redis (internal/store's
// documents). Every process that runs Work drives the running experiments
// beside its scheduler loop (startExperimentLoop); a short lease per
// experiment lets one process at a time submit its cells. Cell i's execution has an id derived from
// the experiment's and i (experiment.ExecutionID), and an id is created once (a submit of an id that
// exists is a conflict), so a cell is never submitted twice, whatever
// restarts or lease expiries happen: that is sturdier than an idempotency
// key, which expires with Config.IdempotencyWindow, and it makes a cell's
// execution findable without an index.

// InstanceSet is a named, tagged collection of stored instances
// (experiment.InstanceSet).
type InstanceSet = experiment.InstanceSet

// Experiment is a stored experiment (experiment.Experiment).
type Experiment = experiment.Experiment

// Variant is one configuration an experiment compares
// (experiment.Variant).
type Variant = experiment.Variant

// ExperimentResults is an experiment's results table with its aggregates
// and performance profile (experiment.Results).
type ExperimentResults = experiment.Results

// ExperimentLabel and VariantLabel are the metadata labels that name the
// experiment and the variant a cell's execution belongs to
// (ListOptions.Metadata filters on them).
const (
	ExperimentLabel = "solvekit.experiment"
	VariantLabel    = "solvekit.variant"
)

// Limits of instance sets and experiments.
const (
	// MaxSetInstances is how many instances an instance set holds at most.
	MaxSetInstances = 10000
	// MaxExperimentCells is how many cells (instances × variants ×
	// repetitions) an experiment has at most.
	MaxExperimentCells = 10000
	// MaxVariants is how many variants an experiment compares at most.
	MaxVariants = 32
)

// InstanceSetRequest asks for a new instance set.
type InstanceSetRequest struct {
	Name        string
	Description string
	// JobType, when set, validates imported files against its instance
	// schema.
	JobType string
	Tags    []string
	// InstanceIDs are stored instances (CreateInstance) the set holds.
	InstanceIDs []string
	Owner       string
}

// InstanceFile is a file to import as an instance: a .json document, an
// .mps or .lp model (stored as {"format": "mps", "model": "..."}, as the
// REST upload of an instance does), or a file of a format the job type
// reads itself (job.WithInstanceFile, e.g. TSPLIB's .tsp for the TSP
// example).
type InstanceFile struct {
	Name string
	Data []byte
}

// ListFilter pages the listings of instance sets and experiments, newest
// first.
type ListFilter struct {
	// Owner, when set, lists only that owner's documents (their Owner),
	// read from a per-owner index: the page is full and the total counts
	// theirs only. "" lists everyone's.
	Owner string
	// Limit is the page size: default 25, at most 1000.
	Limit int
	// Offset skips that many.
	Offset int
}

func invalidAt(pointer, keyword, msg string) error {
	return &job.Error{Code: job.CodeInvalid, Message: msg,
		Violations: []job.Violation{{Pointer: pointer, Keyword: keyword, Message: msg}}}
}

// CreateInstanceSet stores a set of stored instances. Every instance must
// exist; nothing is stored otherwise.
func (s *Service) CreateInstanceSet(ctx context.Context, req InstanceSetRequest) (*InstanceSet, error) {
	if strings.TrimSpace(req.Name) == "" {
		return nil, invalidAt("/name", "required", "an instance set needs a name")
	}
	if len(req.InstanceIDs) == 0 || len(req.InstanceIDs) > MaxSetInstances {
		return nil, invalidAt("/instance_ids", "maxItems", fmt.Sprintf("an instance set holds 1 to %d instances", MaxSetInstances))
	}
	tags, err := job.CheckTags("/tags", req.Tags)
	if err != nil {
		return nil, err
	}
	u, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	set := &InstanceSet{ID: u.String(), Name: req.Name, Description: req.Description, JobType: req.JobType, Tags: tags,
		InstanceIDs: req.InstanceIDs, Owner: req.Owner, CreatedAt: nowUTC().Truncate(time.Millisecond)}
	def, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	// Pinned first, so that retention never removes an instance a stored
	// set holds and DeleteInstance refuses it (it checks the pin
	// atomically): an instance that exists after its pin stays.
	if err := s.store.PinInstances(ctx, set.InstanceIDs, 1); err != nil {
		return nil, store.Classify(err)
	}
	unpin := func(err error) (*InstanceSet, error) {
		_ = s.store.PinInstances(context.WithoutCancel(ctx), set.InstanceIDs, -1)
		return nil, err
	}
	for i, id := range req.InstanceIDs {
		if _, err := s.GetInstance(ctx, id); err != nil {
			if job.ErrorCode(err) == job.CodeNotFound {
				return unpin(invalidAt(fmt.Sprintf("/instance_ids/%d", i), "exists", fmt.Sprintf("instance %q not found", id)))
			}
			return unpin(err)
		}
	}
	if err := s.store.PutDoc(ctx, store.KindInstanceSet, set.ID, set.Owner, def, set.CreatedAt, nil); err != nil {
		return unpin(store.Classify(err))
	}
	return set, nil
}

// InstanceFileData is the instance data of file name: a .json file as it
// is, an .mps or .lp model wrapped as {"format": ..., "model": ...}; it
// returns the format too. Other files are CodeInvalid.
func InstanceFileData(name string, data []byte) (json.RawMessage, string, error) {
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".json":
		if !json.Valid(data) {
			return nil, "", job.Errorf(job.CodeInvalid, "%s is not valid JSON", name)
		}
		return data, "json", nil
	case ".mps", ".lp":
		b, err := json.Marshal(map[string]string{"format": ext[1:], "model": string(data)})
		return b, ext[1:], err
	}
	return nil, "", job.Errorf(job.CodeInvalid, "%s: unsupported file type: import .json, .mps or .lp files", name)
}

// ImportInstanceSet stores each file as an instance (named by the file,
// with the request's job type, owner and tags) and a set that holds them,
// in the files' order. When a file is refused, the instances stored so
// far are deleted and the error names the file (/files/<i>).
func (s *Service) ImportInstanceSet(ctx context.Context, req InstanceSetRequest, files []InstanceFile) (*InstanceSet, error) {
	if len(req.InstanceIDs)+len(files) > MaxSetInstances {
		return nil, invalidAt("/files", "maxItems", fmt.Sprintf("an instance set holds at most %d instances", MaxSetInstances))
	}
	var created []string
	undo := func() {
		for _, id := range created {
			_ = s.DeleteInstance(context.WithoutCancel(ctx), id)
		}
	}
	var readers map[string]func([]byte) (json.RawMessage, error)
	if t, err := s.reg.Lookup(req.JobType); err == nil {
		readers = t.Def.InstanceFiles
	}
	for i, f := range files {
		data, format, err := InstanceFileData(f.Name, f.Data)
		if ext := strings.ToLower(path.Ext(f.Name)); readers[ext] != nil {
			format = ext[1:]
			if data, err = readers[ext](f.Data); err != nil {
				err = job.Errorf(job.CodeInvalid, "%v", err)
			}
		}
		if err == nil {
			var in *job.Instance
			in, err = s.CreateInstance(ctx, &job.Instance{Name: f.Name, JobType: req.JobType, Owner: req.Owner, Format: format, Tags: req.Tags}, data)
			if err == nil {
				created = append(created, in.ID)
				continue
			}
		}
		undo()
		if je, ok := errors.AsType[*job.Error](err); ok && (je.Code == job.CodeInvalid || je.Code == job.CodeBadRequest) {
			out := &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("file %q: %s", f.Name, je.Message)}
			for _, v := range je.Violations {
				v.Pointer = fmt.Sprintf("/files/%d", i) + v.Pointer
				out.Violations = append(out.Violations, v)
			}
			if len(out.Violations) == 0 {
				out.Violations = []job.Violation{{Pointer: fmt.Sprintf("/files/%d", i), Keyword: "format", Message: je.Message}}
			}
			return nil, out
		}
		return nil, err
	}
	req.InstanceIDs = append(append([]string(nil), req.InstanceIDs...), created...)
	set, err := s.CreateInstanceSet(ctx, req)
	if err != nil {
		undo()
	}
	return set, err
}

// InstanceSet returns instance set id.
func (s *Service) InstanceSet(ctx context.Context, id string) (*InstanceSet, error) {
	d, err := s.store.GetDoc(ctx, store.KindInstanceSet, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	return decodeInstanceSet(d)
}

func decodeInstanceSet(d *store.Doc) (*InstanceSet, error) {
	var set InstanceSet
	if err := json.Unmarshal(d.Def, &set); err != nil {
		return nil, fmt.Errorf("solvekit: instance set %s: %w", d.ID, err)
	}
	return &set, nil
}

// InstanceSets returns a page of instance sets, newest first, and how
// many there are (of f.Owner's when set).
func (s *Service) InstanceSets(ctx context.Context, f ListFilter) ([]*InstanceSet, int64, error) {
	return listDocs(ctx, s, store.KindInstanceSet, f, decodeInstanceSet)
}

// listDocs reads a page of documents of kind and decodes them.
func listDocs[T any](ctx context.Context, s *Service, kind store.DocKind, f ListFilter, decode func(*store.Doc) (*T, error)) ([]*T, int64, error) {
	p, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	ds, total, err := s.store.ListDocs(ctx, kind, f.Owner, p.Offset, p.Limit)
	if err != nil {
		return nil, 0, store.Classify(err)
	}
	out := make([]*T, 0, len(ds))
	for _, d := range ds {
		v, err := decode(d)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, nil
}

// DeleteInstanceSet removes an instance set; its instances, and the
// experiments that ran over it, stay. While a set holds an instance,
// retention (Config.InstanceRetention) keeps it; after the delete it
// follows the usual rule again.
func (s *Service) DeleteInstanceSet(ctx context.Context, id string) error {
	set, err := s.InstanceSet(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteDoc(ctx, store.KindInstanceSet, id); err != nil {
		return store.Classify(err)
	}
	return store.Classify(s.store.PinInstances(ctx, set.InstanceIDs, -1))
}

// ExperimentRequest asks for a new experiment.
type ExperimentRequest struct {
	Name string
	// JobType names a registered async job type. Required.
	JobType string
	// InstanceSetID names the instance set to run over. Required.
	InstanceSetID string
	// Variants are the configurations to compare: 1 to MaxVariants, with
	// distinct labels.
	Variants []Variant
	// Repetitions is how often each instance runs under each variant
	// (default 1). With more than one, repetition r's config sets
	// SeedField to r+1, so the config schema must accept it.
	Repetitions int
	// SeedField is the config field of the seed (default "seed").
	SeedField string
	// TimeLimit is each execution's hard time limit (SubmitRequest.Timeout;
	// 0 keeps the job type's). A solver's own time limit goes in the
	// variants' configs.
	TimeLimit time.Duration
	// MaxInFlight bounds how many of the experiment's executions are
	// queued or running at once (default 4, at most 1000).
	MaxInFlight int
	// Sense is the objective's direction (default experiment.Minimize).
	Sense experiment.Sense
	// Baseline marks the experiment as a baseline for later comparisons.
	Baseline bool
	Tags     []string
	Owner    string
}

// CreateExperiment checks and stores an experiment; the schedulers of the
// processes that run Work then submit its cells, at most MaxInFlight at a
// time. Every variant's config is checked on the first instance (a dry
// run of the submit): a bad job type, instance set or config is
// CodeInvalid and nothing is stored.
func (s *Service) CreateExperiment(ctx context.Context, req ExperimentRequest) (*Experiment, error) {
	set, err := s.InstanceSet(ctx, req.InstanceSetID)
	if err != nil {
		if job.ErrorCode(err) == job.CodeNotFound {
			return nil, invalidAt("/instance_set_id", "exists", fmt.Sprintf("instance set %q not found", req.InstanceSetID))
		}
		return nil, err
	}
	t, err := s.reg.Lookup(req.JobType)
	if err != nil {
		return nil, invalidAt("/job_type", "exists", fmt.Sprintf("job type %q not found", req.JobType))
	}
	if t.Def.Kind == job.KindSync {
		return nil, invalidAt("/job_type", "kind", fmt.Sprintf("job type %q is sync: experiments run async job types", req.JobType))
	}
	e := &Experiment{Name: req.Name, JobType: req.JobType, InstanceSetID: set.ID, InstanceIDs: set.InstanceIDs,
		Variants: req.Variants, Repetitions: max(req.Repetitions, 1), SeedField: req.SeedField,
		TimeLimitSeconds: req.TimeLimit.Seconds(), MaxInFlight: req.MaxInFlight, Sense: req.Sense, Baseline: req.Baseline,
		Owner: req.Owner, State: experiment.StateRunning}
	if e.SeedField == "" {
		e.SeedField = "seed"
	}
	if e.MaxInFlight <= 0 {
		e.MaxInFlight = 4
	}
	if e.Sense == "" {
		e.Sense = experiment.Minimize
	}
	if e.Tags, err = job.CheckTags("/tags", req.Tags); err != nil {
		return nil, err
	}
	if err := checkExperiment(e, req); err != nil {
		return nil, err
	}
	for vi := range e.Variants {
		for _, rep := range []int{0, e.Repetitions - 1} {
			sr, err := s.cellRequest(e, rep*len(e.Variants)*len(e.InstanceIDs)+vi)
			if err == nil {
				_, _, _, err = s.prepare(ctx, sr)
			}
			if err != nil {
				return nil, variantError(vi, store.Classify(err))
			}
		}
	}
	u, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	e.ID, e.CreatedAt, e.Cells = u.String(), nowUTC().Truncate(time.Millisecond), e.CellCount()
	def, err := encodeExperiment(e)
	if err != nil {
		return nil, err
	}
	if err := s.store.PutDoc(ctx, store.KindExperiment, e.ID, e.Owner, def, e.CreatedAt,
		map[string]string{"state": string(e.State), "next": "0", "baseline": strconv.FormatBool(e.Baseline)}); err != nil {
		return nil, store.Classify(err)
	}
	s.nudgeExperiments()
	return e, nil
}

// checkExperiment checks e's variants, bounds and sense.
func checkExperiment(e *Experiment, req ExperimentRequest) error {
	if len(e.Variants) == 0 || len(e.Variants) > MaxVariants {
		return invalidAt("/variants", "maxItems", fmt.Sprintf("an experiment compares 1 to %d variants", MaxVariants))
	}
	seen := map[string]bool{}
	for i, v := range e.Variants {
		if v.Label == "" || len(v.Label) > 64 || seen[v.Label] || strings.ContainsAny(v.Label, ",\"\n") {
			return invalidAt(fmt.Sprintf("/variants/%d/label", i), "uniqueItems", "each variant needs its own label: 1 to 64 characters, no comma, quote or newline")
		}
		seen[v.Label] = true
	}
	switch {
	case req.Repetitions < 0 || e.Repetitions > 100:
		return invalidAt("/repetitions", "maximum", "repetitions is 1 to 100")
	case e.CellCount() > MaxExperimentCells:
		return invalidAt("/variants", "maxItems", fmt.Sprintf("an experiment has at most %d cells (instances × variants × repetitions), not %d", MaxExperimentCells, e.CellCount()))
	case e.MaxInFlight > 1000:
		return invalidAt("/max_in_flight", "maximum", "max_in_flight is at most 1000")
	case req.TimeLimit < 0:
		return invalidAt("/time_limit_seconds", "minimum", "the time limit must not be negative")
	case e.Sense != experiment.Minimize && e.Sense != experiment.Maximize:
		return invalidAt("/sense", "enum", "sense is min or max")
	}
	return nil
}

// variantError puts a dry run's error under /variants/<i>.
func variantError(i int, err error) error {
	je, ok := errors.AsType[*job.Error](err)
	if !ok || (je.Code != job.CodeInvalid && je.Code != job.CodeBadRequest) {
		return err
	}
	out := &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("variant %d: %s", i, je.Message)}
	for _, v := range je.Violations {
		v.Pointer = fmt.Sprintf("/variants/%d", i) + v.Pointer
		out.Violations = append(out.Violations, v)
	}
	return out
}

// cellConfig is variant v's config for repetition rep: with a seed when
// the experiment repeats.
func cellConfig(e *Experiment, v Variant, rep int) (json.RawMessage, error) {
	if e.Repetitions <= 1 {
		return v.Config, nil
	}
	m := map[string]json.RawMessage{}
	if len(v.Config) > 0 && string(v.Config) != "null" {
		if err := json.Unmarshal(v.Config, &m); err != nil {
			return nil, invalidAt("/config", "type", "a variant's config must be a JSON object to take a seed")
		}
	}
	m[e.SeedField] = json.RawMessage(strconv.Itoa(rep + 1))
	return json.Marshal(m)
}

// cellRequest is the submit of cell i's execution.
func (s *Service) cellRequest(e *Experiment, i int) (SubmitRequest, error) {
	inst, vi, rep := e.CellOf(i)
	v := e.Variants[vi]
	cfg, err := cellConfig(e, v, rep)
	if err != nil {
		return SubmitRequest{}, err
	}
	name := v.Label
	if e.Name != "" {
		name = e.Name + " " + v.Label
	}
	return SubmitRequest{ID: e.ExecutionID(i), JobType: e.JobType, InstanceID: e.InstanceIDs[inst], Config: cfg,
		Solver: v.Solver, Name: fmt.Sprintf("%s #%d.%d", name, inst, rep), Owner: e.Owner,
		Timeout:  time.Duration(e.TimeLimitSeconds * float64(time.Second)),
		Metadata: map[string]string{ExperimentLabel: e.ID, VariantLabel: v.Label}}, nil
}

// encodeExperiment is e's stored definition: what changes is kept in
// fields of its own.
func encodeExperiment(e *Experiment) ([]byte, error) {
	d := *e
	d.State, d.Submitted, d.FinishedAt, d.Baseline = "", 0, nil, false
	return json.Marshal(&d)
}

func decodeExperiment(d *store.Doc) (*Experiment, error) {
	var e Experiment
	if err := json.Unmarshal(d.Def, &e); err != nil {
		return nil, fmt.Errorf("solvekit: experiment %s: %w", d.ID, err)
	}
	e.State = experiment.State(d.Fields["state"])
	e.Submitted, _ = strconv.Atoi(d.Fields["next"])
	e.Finished, _ = strconv.Atoi(d.Fields["finished_cells"])
	e.Baseline = d.Fields["baseline"] == "true"
	if ms, err := strconv.ParseInt(d.Fields["finished_at"], 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		e.FinishedAt = &t
	}
	return &e, nil
}

// Experiment returns experiment id.
func (s *Service) Experiment(ctx context.Context, id string) (*Experiment, error) {
	d, err := s.store.GetDoc(ctx, store.KindExperiment, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	return decodeExperiment(d)
}

// Experiments returns a page of experiments, newest first, and how many
// there are (of f.Owner's when set).
func (s *Service) Experiments(ctx context.Context, f ListFilter) ([]*Experiment, int64, error) {
	return listDocs(ctx, s, store.KindExperiment, f, decodeExperiment)
}

// SetExperimentBaseline marks experiment id as a baseline (or not).
func (s *Service) SetExperimentBaseline(ctx context.Context, id string, baseline bool) (*Experiment, error) {
	if _, err := s.Experiment(ctx, id); err != nil {
		return nil, err
	}
	if err := s.store.SetDocField(ctx, store.KindExperiment, id, "baseline", strconv.FormatBool(baseline)); err != nil {
		return nil, store.Classify(err)
	}
	return s.Experiment(ctx, id)
}

// DeleteExperiment removes a finished or stopped experiment and its
// results table; its executions stay (ListOptions.Metadata with
// ExperimentLabel finds them). A running one is CodeConflict: stop it
// first.
func (s *Service) DeleteExperiment(ctx context.Context, id string) error {
	e, err := s.Experiment(ctx, id)
	if err != nil {
		return err
	}
	if e.State == experiment.StateRunning {
		return job.Errorf(job.CodeConflict, "experiment %q is running: stop it first", id)
	}
	return store.Classify(s.store.DeleteDoc(ctx, store.KindExperiment, id))
}

// experimentBatch is how many cells of one experiment a pass of the
// driver submits at most.
const experimentBatch = 100

// experimentLease is how long one process may drive an experiment without
// renewing its lease.
const experimentLease = 30 * time.Second

// lockExperiment takes experiment id's lease, waiting up to wait for it;
// it returns the release, or nil when the lease was not had.
func (s *Service) lockExperiment(ctx context.Context, id string, wait time.Duration) func() {
	owner := s.workerID + ":" + randHex(4)
	deadline := time.Now().Add(wait)
	for {
		ok, err := s.store.TryLock(ctx, "exp:"+id, owner, experimentLease)
		if err == nil && ok {
			return func() { _ = s.store.Unlock(context.WithoutCancel(ctx), "exp:"+id, owner) }
		}
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// StopExperiment stops a running experiment: it submits nothing more and
// its queued and running executions are cancelled (a running solver
// returns its best incumbent, as Cancel says); finished cells keep their
// results. Stopping a stopped experiment returns it as it is; a finished
// one is CodeConflict.
func (s *Service) StopExperiment(ctx context.Context, id string) (*Experiment, error) {
	// The lease keeps a driver from submitting a cell while the open
	// cells are read; without it after a while, the cell being submitted
	// is cancelled too.
	if unlock := s.lockExperiment(ctx, id, 10*time.Second); unlock != nil {
		defer unlock()
	}
	e, err := s.Experiment(ctx, id)
	if err != nil {
		return nil, err
	}
	switch e.State {
	case experiment.StateStopped:
		return e, nil
	case experiment.StateFinished:
		return nil, job.Errorf(job.CodeConflict, "experiment %q already finished", id)
	}
	if err := s.store.EndExperiment(ctx, id, string(experiment.StateStopped), nowUTC()); err != nil {
		return nil, store.Classify(err)
	}
	e, err = s.Experiment(ctx, id)
	if err != nil {
		return nil, err
	}
	open, err := s.store.OpenCells(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	if e.Submitted < e.Cells {
		open = append(open, e.Submitted)
	}
	for _, i := range open {
		err := s.Cancel(ctx, e.ExecutionID(i))
		if err != nil && job.ErrorCode(err) != job.CodeConflict && job.ErrorCode(err) != job.CodeNotFound {
			return nil, err
		}
	}
	s.nudgeExperiments()
	return e, nil
}

// experimentTick is the shortest time between two passes of a process's
// experiment driver: the cells that end meanwhile are closed together.
const experimentTick = 25 * time.Millisecond

// nudgeExperiments wakes this process's experiment driver: a cell ended
// here (its next cell can be submitted at once), or an experiment was
// created or stopped here. Without a nudge the driver looks every
// SchedulerInterval, which covers cells that end in processes that run
// no driver, and experiments made through them.
func (s *Service) nudgeExperiments() {
	select {
	case s.expWake <- struct{}{}:
	default:
	}
}

// startExperimentLoop runs the experiment driver beside the scheduler
// until ctx ends; the returned func waits for it to stop.
func (s *Service) startExperimentLoop(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			next := time.Now().Add(experimentTick)
			s.driveExperiments(ctx)
			select {
			case <-ctx.Done():
				return
			case <-s.expWake:
			case <-time.After(s.cfg.SchedulerInterval):
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
		}
	}()
	return func() { <-done }
}

// driveExperiments moves every active experiment on (see
// driveExperiment).
func (s *Service) driveExperiments(ctx context.Context) {
	ids, err := s.store.ActiveExperiments(ctx)
	if err != nil {
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		s.driveExperiment(ctx, id)
	}
}

// driveExperiment, when this process gets experiment id's lease, closes
// its open cells that finished (storing their rows), submits cells while
// fewer than MaxInFlight are open, and marks the experiment finished once
// every cell was submitted and has finished. A stopped experiment's open
// cells are closed the same way, until none is left.
func (s *Service) driveExperiment(ctx context.Context, id string) {
	unlock := s.lockExperiment(ctx, id, 0)
	if unlock == nil {
		return
	}
	defer unlock()
	e, err := s.Experiment(ctx, id)
	if err != nil {
		return
	}
	open, err := s.store.OpenCells(ctx, id)
	if err != nil {
		return
	}
	closed, err := s.closeFinished(ctx, e, open)
	if err != nil {
		return
	}
	inFlight := len(open) - closed
	if e.State != experiment.StateRunning {
		// Stopped: its cancelled cells end in their own time; their rows
		// are stored as they do, and then the drivers let it go.
		if inFlight == 0 {
			_ = s.store.DropActive(ctx, id)
		}
		return
	}
	// At most experimentBatch submits a pass, so that one experiment does
	// not hold up the scheduler loop's other work.
	for n := 0; n < experimentBatch && inFlight < e.MaxInFlight && e.Submitted < e.Cells && ctx.Err() == nil; n++ {
		i := e.Submitted
		req, err := s.cellRequest(e, i)
		if err == nil {
			_, err = s.Submit(ctx, req)
		}
		code := job.ErrorCode(err)
		if err != nil && (code == job.CodeUnavailable || code == job.CodeOutcomeUnknown || code == job.CodeTooMany || ctx.Err() != nil) {
			return // try again at the next pass
		}
		if ok, err := s.store.CellSubmitted(ctx, id, i); err != nil || !ok {
			return
		}
		e.Submitted++
		inFlight++
		if err != nil && code != job.CodeConflict {
			// The cell cannot run (its instance was deleted since, say):
			// its row says why, and the experiment goes on.
			s.cfg.Logger.Warn("solvekit: an experiment's cell could not be submitted", "experiment", id, "cell", i, "err", err)
			row := s.pendingRow(e, i)
			row.State = string(job.StateInvalid)
			if b, merr := json.Marshal(row); merr == nil && s.store.CloseCells(ctx, id, map[int][]byte{i: b}) == nil {
				inFlight--
			}
		}
	}
	if e.Submitted >= e.Cells && inFlight == 0 {
		_ = s.store.EndExperiment(ctx, id, string(experiment.StateFinished), nowUTC())
	}
}

// closeFinished stores the rows of experiment e's cells that finished
// among cells and takes them out of the open cells; it returns how many.
func (s *Service) closeFinished(ctx context.Context, e *Experiment, cells []int) (int, error) {
	rows, err := s.cellRows(ctx, e, cells)
	if err != nil {
		return 0, err
	}
	done := map[int][]byte{}
	for _, r := range rows {
		if r.Finished() || r.State == experiment.CellMissing {
			b, err := json.Marshal(r)
			if err != nil {
				return 0, err
			}
			done[r.Cell] = b
		}
	}
	if err := s.store.CloseCells(ctx, e.ID, done); err != nil {
		return 0, store.Classify(err)
	}
	return len(done), nil
}

// pendingRow is cell i's row before it runs.
func (s *Service) pendingRow(e *Experiment, i int) experiment.Row {
	inst, vi, rep := e.CellOf(i)
	return experiment.Row{Cell: i, Instance: inst, InstanceID: e.InstanceIDs[inst], Variant: e.Variants[vi].Label,
		Repetition: rep, ExecutionID: e.ExecutionID(i), State: experiment.CellPending}
}

// cellRows reads the rows of experiment e's cells from their executions
// (incumbents too, for the finished ones).
func (s *Service) cellRows(ctx context.Context, e *Experiment, cells []int) ([]experiment.Row, error) {
	const batch = 500
	out := make([]experiment.Row, 0, len(cells))
	for lo := 0; lo < len(cells); lo += batch {
		part := cells[lo:min(lo+batch, len(cells))]
		ids := make([]string, len(part))
		for j, i := range part {
			ids[j] = e.ExecutionID(i)
		}
		recs, err := s.store.GetMany(ctx, ids)
		if err != nil {
			return nil, store.Classify(err)
		}
		byID := make(map[string]*job.Execution, len(recs))
		for _, r := range recs {
			byID[r.ID] = r
		}
		for _, i := range part {
			row := s.pendingRow(e, i)
			x := byID[row.ExecutionID]
			if x == nil {
				row.State = experiment.CellMissing
			} else if err := s.fillRow(ctx, &row, x); err != nil {
				return nil, err
			}
			out = append(out, row)
		}
	}
	return out, nil
}

// fillRow sets row's fields from its execution x; a finished one's
// incumbents come from its event stream.
func (s *Service) fillRow(ctx context.Context, row *experiment.Row, x *job.Execution) error {
	row.State, row.SolverStatus = string(x.State), string(x.SolverStatus)
	row.Objective, row.BestBound, row.Gap, row.KPIs = x.Objective, x.BestBound, x.Gap, x.KPIs
	if row.Gap == nil {
		row.Gap = solver.RelGap(x.Objective, x.BestBound)
	}
	if x.StartedAt == nil || x.FinishedAt == nil || !x.State.Terminal() {
		return nil
	}
	t := x.FinishedAt.Sub(*x.StartedAt).Seconds()
	row.Time = &t
	pts, err := s.incumbents(ctx, x)
	if err != nil {
		return err
	}
	if x.Objective != nil {
		ttb := t
		for _, p := range pts {
			if p.Objective == *x.Objective {
				ttb = p.T
				break
			}
		}
		row.TimeToBest = &ttb
	}
	row.Incumbents = experiment.Thin(pts, experiment.MaxIncumbents)
	return nil
}

// incumbents reads the incumbents of x's last attempt from its event
// stream, timed from its start.
func (s *Service) incumbents(ctx context.Context, x *job.Execution) ([]experiment.Point, error) {
	var out []experiment.Point
	after := ""
	for range 20 { // at most 20,000 events
		evs, err := s.store.Events(ctx, x.ID, after, 1000)
		if err != nil {
			return nil, store.Classify(err)
		}
		for _, ev := range evs {
			after = ev.ID
			if ev.Type != "incumbent" {
				continue
			}
			var inc struct {
				Objective *float64 `json:"objective"`
				Attempt   int      `json:"attempt"`
			}
			if json.Unmarshal(ev.Data, &inc) != nil || inc.Objective == nil || inc.Attempt != x.Attempt {
				continue
			}
			ms, _, _ := strings.Cut(ev.ID, "-")
			at, _ := strconv.ParseInt(ms, 10, 64)
			t := max(time.UnixMilli(at).Sub(*x.StartedAt).Seconds(), 0)
			out = append(out, experiment.Point{T: t, Objective: *inc.Objective})
		}
		if len(evs) < 1000 {
			break
		}
	}
	return out, nil
}

// ExperimentResults returns experiment id's results table (every cell in
// cell order: finished cells as stored when they ended, the others as
// their executions stand now), its aggregates per variant and its
// performance profile.
func (s *Service) ExperimentResults(ctx context.Context, id string) (*ExperimentResults, error) {
	e, err := s.Experiment(ctx, id)
	if err != nil {
		return nil, err
	}
	stored, err := s.store.CellRows(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	rows := make([]experiment.Row, e.Cells)
	var live []int
	for i := range rows {
		if b, ok := stored[i]; ok && json.Unmarshal(b, &rows[i]) == nil {
			continue
		}
		if i < e.Submitted {
			live = append(live, i)
		} else {
			rows[i] = s.pendingRow(e, i)
		}
	}
	lr, err := s.cellRows(ctx, e, live)
	if err != nil {
		return nil, err
	}
	done := map[int][]byte{}
	for _, r := range lr {
		rows[r.Cell] = r
		if r.Finished() {
			if b, err := json.Marshal(r); err == nil {
				done[r.Cell] = b
			}
		}
	}
	// Kept, as the drivers keep the rows they close: a row outlives its
	// execution's retention, and a Service that runs no worker runs no
	// driver either.
	if err := s.store.CloseCells(ctx, id, done); err != nil {
		return nil, store.Classify(err)
	}
	labels := make([]string, len(e.Variants))
	for i, v := range e.Variants {
		labels[i] = v.Label
	}
	return &ExperimentResults{Experiment: e, Rows: rows,
		Aggregates: experiment.Summarize(rows, labels, e.Sense, e.TimeLimitSeconds),
		Profile:    experiment.Profile(rows, labels)}, nil
}

// CompareExperiments compares experiment id's aggregates with those of
// experiment baselineID, variant by variant (experiment.Compare; o.Sense
// defaults to the experiment's). With baselineID "" the baseline is the
// newest experiment marked Baseline, of the same job type and owner (the
// owner's per-owner listing; everyone's when the experiment has none),
// among the 1,000 newest of them (CodeNotFound when there is none): one
// user's comparisons never pick another's baseline unasked.
func (s *Service) CompareExperiments(ctx context.Context, id, baselineID string, o experiment.CompareOptions) (*experiment.Comparison, error) {
	cur, err := s.ExperimentResults(ctx, id)
	if err != nil {
		return nil, err
	}
	c, _, err := s.compareResults(ctx, cur, baselineID, o)
	return c, err
}

// compareResults is CompareExperiments for results cur already read; it
// returns the baseline's results too.
func (s *Service) compareResults(ctx context.Context, cur *ExperimentResults, baselineID string, o experiment.CompareOptions) (*experiment.Comparison, *ExperimentResults, error) {
	id := cur.Experiment.ID
	if baselineID == "" {
		es, _, err := s.Experiments(ctx, ListFilter{Owner: cur.Experiment.Owner, Limit: 1000})
		if err != nil {
			return nil, nil, err
		}
		for _, b := range es {
			if b.Baseline && b.ID != id && b.JobType == cur.Experiment.JobType {
				baselineID = b.ID
				break
			}
		}
		if baselineID == "" {
			return nil, nil, job.Errorf(job.CodeNotFound, "no baseline experiment of job type %q", cur.Experiment.JobType)
		}
	}
	base, err := s.ExperimentResults(ctx, baselineID)
	if err != nil {
		return nil, nil, err
	}
	if o.Sense == "" {
		o.Sense = cur.Experiment.Sense
	}
	c := experiment.Compare(base.Aggregates, cur.Aggregates, o)
	c.BaselineID, c.ExperimentID = baselineID, id
	return &c, base, nil
}
