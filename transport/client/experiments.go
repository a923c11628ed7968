package client

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/solvekit/solvekit/transport/api"
)

// --- instance sets and experiments (docs/experiments.md) ---

// CreateInstanceSet calls POST /instanceSets.
func (c *Client) CreateInstanceSet(ctx context.Context, req api.InstanceSetCreate) (*api.InstanceSet, error) {
	return call[api.InstanceSet](ctx, c, Request{Method: "POST", Path: "/instanceSets", Body: req})
}

// File is a named file to upload.
type File struct {
	Name string
	Data []byte
}

// ImportInstanceSet calls POST /instanceSets/import: each file (.json,
// .mps, .lp) becomes an instance, validated against jobType's instance
// schema when jobType is set, and the set holds them. A file named .zip,
// .tar or .tar.gz is sent as an archive of such files.
func (c *Client) ImportInstanceSet(ctx context.Context, name, jobType string, tags []string, files []File) (*api.InstanceSet, error) {
	parts := make([]formPart, len(files))
	for i, f := range files {
		field, lower := "file", strings.ToLower(f.Name)
		if strings.HasSuffix(lower, ".zip") || strings.HasSuffix(lower, ".tar") || strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".tgz") {
			field = "archive"
		}
		parts[i] = formFile(field, f.Name, bytes.NewReader(f.Data))
	}
	return upload[api.InstanceSet](ctx, c, "/instanceSets/import", []string{"name", name, "job_type", jobType, "tags", strings.Join(tags, ",")}, parts...)
}

// ListInstanceSets calls GET /instanceSets.
func (c *Client) ListInstanceSets(ctx context.Context, p Page) (*api.InstanceSetList, error) {
	return call[api.InstanceSetList](ctx, c, Request{Method: "GET", Path: "/instanceSets", Query: p.query(nil)})
}

// GetInstanceSet calls GET /instanceSets/{id}.
func (c *Client) GetInstanceSet(ctx context.Context, id string) (*api.InstanceSet, error) {
	return call[api.InstanceSet](ctx, c, Request{Method: "GET", Path: "/instanceSets/" + esc(id)})
}

// DeleteInstanceSet calls DELETE /instanceSets/{id}.
func (c *Client) DeleteInstanceSet(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: "/instanceSets/" + esc(id)}, nil)
}

func expPath(id, rest string) string { return "/experiments/" + esc(id) + rest }

// CreateExperiment calls POST /experiments.
func (c *Client) CreateExperiment(ctx context.Context, req api.ExperimentCreate) (*api.Experiment, error) {
	return call[api.Experiment](ctx, c, Request{Method: "POST", Path: "/experiments", Body: req})
}

// ListExperiments calls GET /experiments.
func (c *Client) ListExperiments(ctx context.Context, p Page) (*api.ExperimentList, error) {
	return call[api.ExperimentList](ctx, c, Request{Method: "GET", Path: "/experiments", Query: p.query(nil)})
}

// GetExperiment calls GET /experiments/{id}.
func (c *Client) GetExperiment(ctx context.Context, id string) (*api.Experiment, error) {
	return call[api.Experiment](ctx, c, Request{Method: "GET", Path: expPath(id, "")})
}

// SetExperimentBaseline calls PATCH /experiments/{id} with baseline.
func (c *Client) SetExperimentBaseline(ctx context.Context, id string, baseline bool) (*api.Experiment, error) {
	return call[api.Experiment](ctx, c, Request{Method: "PATCH", Path: expPath(id, ""), Query: maskQuery([]string{"baseline"}),
		Body: api.ExperimentPatch{Baseline: &baseline}})
}

// StopExperiment calls POST /experiments/{id}/stop.
func (c *Client) StopExperiment(ctx context.Context, id string) (*api.Experiment, error) {
	return call[api.Experiment](ctx, c, Request{Method: "POST", Path: expPath(id, "/stop")})
}

// DeleteExperiment calls DELETE /experiments/{id}.
func (c *Client) DeleteExperiment(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: expPath(id, "")}, nil)
}

// ExperimentResults calls GET /experiments/{id}/results.
func (c *Client) ExperimentResults(ctx context.Context, id string) (*api.ExperimentResults, error) {
	return call[api.ExperimentResults](ctx, c, Request{Method: "GET", Path: expPath(id, "/results")})
}

// ExperimentFile calls GET /experiments/{id}/<name>: name is results.csv,
// profile.svg or primal.svg. It returns the body and its content type.
func (c *Client) ExperimentFile(ctx context.Context, id, name string) ([]byte, string, error) {
	return c.download(ctx, expPath(id, "/"+esc(name)))
}

// CompareOptions are GET /experiments/{id}/comparison's parameters.
type CompareOptions struct {
	// Baseline is the baseline experiment's id ("": the newest baseline
	// of the same job type).
	Baseline string
	// Tolerance is the relative tolerance (0: the server's 0.05).
	Tolerance float64
	// KPIs maps KPI names to compare to "min" or "max".
	KPIs map[string]string
}

// CompareExperiment calls GET /experiments/{id}/comparison.
func (c *Client) CompareExperiment(ctx context.Context, id string, o CompareOptions) (*api.ExperimentComparison, error) {
	q := url.Values{}
	if o.Baseline != "" {
		q.Set("baseline", o.Baseline)
	}
	if o.Tolerance > 0 {
		q.Set("tolerance", strconv.FormatFloat(o.Tolerance, 'g', -1, 64))
	}
	var kpis []string
	for k, v := range o.KPIs {
		kpis = append(kpis, k+":"+v)
	}
	if len(kpis) > 0 {
		q.Set("kpi", strings.Join(kpis, ","))
	}
	return call[api.ExperimentComparison](ctx, c, Request{Method: "GET", Path: expPath(id, "/comparison"), Query: q})
}
