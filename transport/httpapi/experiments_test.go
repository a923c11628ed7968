package httpapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// zipOf is a zip archive of files.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(data))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// awaitExperimentHTTP waits until experiment id no longer runs.
func awaitExperimentHTTP(t *testing.T, c *client.Client, id string) *api.Experiment {
	t.Helper()
	var e *api.Experiment
	require.Eventually(t, func() bool {
		var err error
		e, err = c.GetExperiment(context.Background(), id)
		require.NoError(t, err)
		return e.State != experiment.StateRunning
	}, patience.Scale(time.Minute), 20*time.Millisecond)
	return e
}

// TestExperimentsHTTP drives instance sets and experiments through the Go
// client, every response checked against the OpenAPI document: an import
// from files and from a zip archive, an experiment's results as JSON,
// CSV and SVG, a baseline comparison, privacy between planners, a stop.
func TestExperimentsHTTP(t *testing.T) {
	e, planner, admin := plannerEnv(t, envOpts{})
	other := e.addUser("other", api.RolePlanner)
	ctx := context.Background()

	_, err := planner.c.ImportInstanceSet(ctx, "bad", "sum", nil, []client.File{{Name: "a.json", Data: []byte(`{"values":[-1]}`)}})
	require.Equal(t, 422, client.StatusCode(err), "%v", err)
	set, err := planner.c.ImportInstanceSet(ctx, "sums", "sum", []string{"demo"}, []client.File{
		{Name: "one.json", Data: []byte(`{"values":[1]}`)},
		{Name: "more.zip", Data: zipOf(t, map[string]string{"two.json": `{"values":[1,1]}`, "dir/three.json": `{"values":[1,2]}`, ".hidden": "x"})},
	})
	require.NoError(t, err)
	require.Len(t, set.InstanceIDs, 3)
	require.Equal(t, []string{"demo"}, set.Tags)
	_, err = other.c.GetInstanceSet(ctx, set.ID)
	require.Equal(t, 404, client.StatusCode(err))
	sets, err := admin.c.ListInstanceSets(ctx, client.Page{})
	require.NoError(t, err)
	require.EqualValues(t, 1, sets.TotalEntries)
	again, err := planner.c.CreateInstanceSet(ctx, api.InstanceSetCreate{Name: "first two", InstanceIDs: set.InstanceIDs[:2]})
	require.NoError(t, err)
	require.Equal(t, set.InstanceIDs[:2], again.InstanceIDs)
	require.NoError(t, planner.c.DeleteInstanceSet(ctx, again.ID))

	_, err = planner.c.CreateExperiment(ctx, api.ExperimentCreate{JobType: "sum", InstanceSetID: set.ID, Variants: []api.VariantCreate{{Label: "a", Config: json.RawMessage(`{"scale":"x"}`)}}})
	require.Equal(t, 422, client.StatusCode(err), "%v", err)
	_, err = other.c.CreateExperiment(ctx, api.ExperimentCreate{JobType: "sum", InstanceSetID: set.ID, Variants: []api.VariantCreate{{Label: "a"}}})
	require.Equal(t, 422, client.StatusCode(err), "another planner's set: %v", err)
	ex, err := planner.c.CreateExperiment(ctx, api.ExperimentCreate{Name: "scales", JobType: "sum", InstanceSetID: set.ID,
		Variants:    []api.VariantCreate{{Label: "one", Config: json.RawMessage(`{"scale":1}`)}, {Label: "two", Config: json.RawMessage(`{"scale":2}`)}},
		Repetitions: 2, MaxInFlight: 2, Baseline: true})
	require.NoError(t, err)
	require.Equal(t, 12, ex.Cells)
	done := awaitExperimentHTTP(t, planner.c, ex.ID)
	require.Equal(t, experiment.StateFinished, done.State)
	require.True(t, done.Baseline)

	res, err := planner.c.ExperimentResults(ctx, ex.ID)
	require.NoError(t, err)
	require.Len(t, res.Rows, 12)
	for _, r := range res.Rows {
		require.Equal(t, "succeeded", r.State)
		x, err := planner.c.GetExecution(ctx, r.ExecutionID)
		require.NoError(t, err)
		require.Equal(t, ex.ID, x.Metadata["solvekit.experiment"])
		require.Len(t, r.Incumbents, 1)
	}
	require.Equal(t, 6, res.Aggregates[0].Solved)
	csv, ctype, err := planner.c.ExperimentFile(ctx, ex.ID, "results.csv")
	require.NoError(t, err)
	require.Contains(t, ctype, "text/csv")
	require.Len(t, strings.Split(strings.TrimSpace(string(csv)), "\n"), 13)
	for _, name := range []string{"profile.svg", "primal.svg"} {
		svg, ctype, err := planner.c.ExperimentFile(ctx, ex.ID, name)
		require.NoError(t, err)
		require.Equal(t, "image/svg+xml", ctype)
		require.True(t, bytes.HasPrefix(svg, []byte("<svg")), "%s", svg)
	}
	_, err = other.c.ExperimentResults(ctx, ex.ID)
	require.Equal(t, 404, client.StatusCode(err))

	// A later experiment, compared with the baseline.
	ex2, err := planner.c.CreateExperiment(ctx, api.ExperimentCreate{JobType: "sum", InstanceSetID: set.ID,
		Variants: []api.VariantCreate{{Label: "one"}}, MaxInFlight: 3})
	require.NoError(t, err)
	awaitExperimentHTTP(t, planner.c, ex2.ID)
	cmp, err := planner.c.CompareExperiment(ctx, ex2.ID, client.CompareOptions{Tolerance: 1e6})
	require.NoError(t, err)
	require.Equal(t, ex.ID, cmp.BaselineID)
	require.False(t, cmp.Worse, "%+v", cmp.Metrics)
	list, err := planner.c.ListExperiments(ctx, client.Page{})
	require.NoError(t, err)
	require.EqualValues(t, 2, list.TotalEntries)
	got, err := planner.c.SetExperimentBaseline(ctx, ex.ID, false)
	require.NoError(t, err)
	require.False(t, got.Baseline)

	// A stop cancels the running cells; nothing more is submitted.
	slow, err := planner.c.ImportInstanceSet(ctx, "slow", "", nil, []client.File{{Name: "a.json", Data: []byte(`{}`)}, {Name: "b.json", Data: []byte(`{}`)}})
	require.NoError(t, err)
	ex3, err := planner.c.CreateExperiment(ctx, api.ExperimentCreate{JobType: "slow", InstanceSetID: slow.ID, Variants: []api.VariantCreate{{Label: "wait"}}, MaxInFlight: 1})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		x, err := planner.c.GetExecution(ctx, experiment.ExecutionID(ex3.ID, 0))
		return err == nil && x.State == "running"
	}, patience.Scale(30*time.Second), 20*time.Millisecond)
	err = planner.c.DeleteExperiment(ctx, ex3.ID)
	require.Equal(t, 409, client.StatusCode(err), "a running experiment")
	_, err = other.c.StopExperiment(ctx, ex3.ID)
	require.Equal(t, 404, client.StatusCode(err))
	st, err := planner.c.StopExperiment(ctx, ex3.ID)
	require.NoError(t, err)
	require.Equal(t, experiment.StateStopped, st.State)
	require.Eventually(t, func() bool {
		x, err := planner.c.GetExecution(ctx, experiment.ExecutionID(ex3.ID, 0))
		return err == nil && x.State == "stopped"
	}, patience.Scale(30*time.Second), 20*time.Millisecond)
	_, err = planner.c.GetExecution(ctx, experiment.ExecutionID(ex3.ID, 1))
	require.Equal(t, 404, client.StatusCode(err))
	require.NoError(t, planner.c.DeleteExperiment(ctx, ex3.ID))
	_, err = planner.c.GetExperiment(ctx, ex3.ID)
	require.Equal(t, 404, client.StatusCode(err))
	_, err = planner.c.CompareExperiment(ctx, ex2.ID, client.CompareOptions{Baseline: fmt.Sprint(ex3.ID)})
	require.Equal(t, 404, client.StatusCode(err))
}

// TestExperimentListsPerOwner: a planner's listing of instance sets and
// experiments is a full page of their own with their own total; an admin
// (and, with Sharing, a planner) lists everyone's. An instance a set holds
// cannot be deleted (409) until the set is.
func TestExperimentListsPerOwner(t *testing.T) {
	e, ann, admin := plannerEnv(t, envOpts{})
	bob := e.addUser("bob", api.RolePlanner)
	ctx := context.Background()
	sets := map[string][]string{}
	// Interleaved, so that a page over everyone's would mix them.
	for i, a := range []*actor{ann, bob, ann, bob, ann} {
		set, err := a.c.ImportInstanceSet(ctx, fmt.Sprint("set", i), "sum", nil, []client.File{{Name: "a.json", Data: []byte(`{"values":[1]}`)}})
		require.NoError(t, err)
		sets[a.name] = append(sets[a.name], set.ID)
	}
	for _, id := range []string{sets[ann.name][0], sets[bob.name][0], sets[ann.name][1]} {
		a := ann
		if id == sets[bob.name][0] {
			a = bob
		}
		ex, err := a.c.CreateExperiment(ctx, api.ExperimentCreate{JobType: "sum", InstanceSetID: id, Variants: []api.VariantCreate{{Label: "a"}},
			Baseline: a == bob})
		require.NoError(t, err)
		awaitExperimentHTTP(t, a.c, ex.ID)
		if a == ann {
			// Bob's baseline is not ann's: her comparison finds none.
			_, err = ann.c.CompareExperiment(ctx, ex.ID, client.CompareOptions{})
			require.Equal(t, 404, client.StatusCode(err), "%v", err)
		}
	}
	for _, c := range []struct {
		a                         *actor
		sets, exps, firstPageSets int
	}{{ann, 3, 2, 2}, {bob, 2, 1, 2}, {admin, 5, 3, 2}} {
		l, err := c.a.c.ListInstanceSets(ctx, client.Page{Limit: 2})
		require.NoError(t, err)
		require.EqualValues(t, c.sets, l.TotalEntries, c.a.name)
		require.Len(t, l.InstanceSets, c.firstPageSets, c.a.name)
		rest, err := c.a.c.ListInstanceSets(ctx, client.Page{Limit: 2, Offset: 2})
		require.NoError(t, err)
		require.Len(t, rest.InstanceSets, min(c.sets-2, 2), c.a.name)
		for _, s := range append(l.InstanceSets, rest.InstanceSets...) {
			require.True(t, c.a == admin || s.Owner == c.a.user.ID, "%s sees %s's set", c.a.name, s.Owner)
		}
		xs, err := c.a.c.ListExperiments(ctx, client.Page{Limit: 1})
		require.NoError(t, err)
		require.EqualValues(t, c.exps, xs.TotalEntries, c.a.name)
		require.Len(t, xs.Experiments, 1, c.a.name)
		require.True(t, c.a == admin || xs.Experiments[0].Owner == c.a.user.ID)
	}

	set, err := ann.c.GetInstanceSet(ctx, sets[ann.name][2])
	require.NoError(t, err)
	err = ann.c.DeleteInstance(ctx, set.InstanceIDs[0])
	require.Equal(t, 409, client.StatusCode(err), "%v", err)
	require.ErrorContains(t, err, "instance set")
	require.Equal(t, 409, client.StatusCode(admin.c.DeleteInstance(ctx, set.InstanceIDs[0])))
	require.NoError(t, ann.c.DeleteInstanceSet(ctx, set.ID))
	require.NoError(t, ann.c.DeleteInstance(ctx, set.InstanceIDs[0]))
	l, err := ann.c.ListInstanceSets(ctx, client.Page{})
	require.NoError(t, err)
	require.EqualValues(t, 2, l.TotalEntries)
}

// TestExperimentListsSharing: with Sharing, a planner lists everyone's
// instance sets, as the other listings do.
func TestExperimentListsSharing(t *testing.T) {
	e, ann, _ := plannerEnv(t, envOpts{opts: httpapi.Options{Sharing: true}})
	bob := e.addUser("bob", api.RolePlanner)
	ctx := context.Background()
	for _, a := range []*actor{ann, bob} {
		_, err := a.c.ImportInstanceSet(ctx, "s", "", nil, []client.File{{Name: "a.json", Data: []byte(`{}`)}})
		require.NoError(t, err)
	}
	l, err := bob.c.ListInstanceSets(ctx, client.Page{Limit: 1})
	require.NoError(t, err)
	require.EqualValues(t, 2, l.TotalEntries)
	require.Len(t, l.InstanceSets, 1)
}
