package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/experiment"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/job"
)

// benchJob is a stand-in solver for experiments: on instance {"n": n}
// mode "exact" finds n×10 (optimal), mode "quick" n×10 + seed (feasible);
// each publishes a worse incumbent first. Instances with "block" run
// until stopped, returning their incumbent.
func benchJob() *job.Definition {
	return job.Async("bench", func(ctx context.Context, jc *job.Context) (any, error) {
		var in struct {
			N     int  `json:"n"`
			Block bool `json:"block"`
		}
		var cfg struct {
			Mode string `json:"mode"`
			Seed int    `json:"seed"`
		}
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		if err := jc.DecodeConfig(&cfg); err != nil {
			return nil, err
		}
		bound := float64(in.N * 10)
		obj := bound
		status := job.StatusOptimal
		if cfg.Mode == "quick" {
			obj, status = bound+float64(cfg.Seed), job.StatusFeasible
		}
		if err := jc.Incumbent(map[string]float64{"v": obj + 5}, obj+5); err != nil {
			return nil, err
		}
		if in.Block {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
		if err := jc.Incumbent(map[string]float64{"v": obj}, obj); err != nil {
			return nil, err
		}
		return job.Result{Solution: map[string]float64{"v": obj}, Status: status, Objective: &obj, BestBound: &bound,
			KPIs: map[string]float64{"cost": obj, "n": float64(in.N)}}, nil
	}, job.WithConfigSchema([]byte(`{"type": "object", "additionalProperties": false, "properties": {
		"mode": {"enum": ["exact", "quick"], "default": "exact"}, "seed": {"type": "integer", "default": 0}}}`)))
}

// benchSet stores n instances of bench (those at block indexes block)
// and a set of them.
func benchSet(t *testing.T, svc *solvekit.Service, n int, block ...int) *solvekit.InstanceSet {
	t.Helper()
	ctx := context.Background()
	files := make([]solvekit.InstanceFile, n)
	for i := range files {
		files[i] = solvekit.InstanceFile{Name: fmt.Sprintf("i%02d.json", i), Data: fmt.Appendf(nil, `{"n": %d}`, i+1)}
		for _, b := range block {
			if b == i {
				files[i].Data = fmt.Appendf(nil, `{"n": %d, "block": true}`, i+1)
			}
		}
	}
	set, err := svc.ImportInstanceSet(ctx, solvekit.InstanceSetRequest{Name: "bench", JobType: "bench", Tags: []string{"bench"}}, files)
	require.NoError(t, err)
	require.Len(t, set.InstanceIDs, n)
	return set
}

// awaitExperiment waits until experiment id is no longer running.
func awaitExperiment(t *testing.T, svc *solvekit.Service, id string, within time.Duration) *solvekit.Experiment {
	t.Helper()
	deadline := time.Now().Add(patience.Scale(within))
	for {
		e, err := svc.Experiment(context.Background(), id)
		require.NoError(t, err)
		if e.State != experiment.StateRunning {
			return e
		}
		require.True(t, time.Now().Before(deadline), "experiment %s still running: %d of %d submitted", id, e.Submitted, e.Cells)
		time.Sleep(20 * time.Millisecond)
	}
}

// maxInFlight watches experiment e until it no longer runs and returns
// the most of its executions it saw unfinished at once.
func maxInFlight(t *testing.T, svc *solvekit.Service, e *solvekit.Experiment) int {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(patience.Scale(2 * time.Minute))
	maxSeen := 0
	for {
		cur, err := svc.Experiment(ctx, e.ID)
		require.NoError(t, err)
		if cur.State != experiment.StateRunning {
			return maxSeen
		}
		n := 0
		for i := range cur.Submitted {
			if x, err := svc.Get(ctx, e.ExecutionID(i)); err == nil && !x.State.Terminal() {
				n++
			}
		}
		maxSeen = max(maxSeen, n)
		require.True(t, time.Now().Before(deadline), "experiment still running: %+v", cur)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExperimentResultsMatchExecutions runs 2 variants × 10 instances × 2
// seeds and checks every cell of the results table against its execution.
func TestExperimentResultsMatchExecutions(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{benchJob()}, cfg: solvekit.Config{SchedulerInterval: 20 * time.Millisecond}})
	ctx := context.Background()
	set := benchSet(t, b.svc, 10)
	e, err := b.svc.CreateExperiment(ctx, solvekit.ExperimentRequest{Name: "modes", JobType: "bench", InstanceSetID: set.ID,
		Variants:    []solvekit.Variant{{Label: "exact", Config: json.RawMessage(`{"mode": "exact"}`)}, {Label: "quick", Config: json.RawMessage(`{"mode": "quick"}`)}},
		Repetitions: 2, MaxInFlight: 3})
	require.NoError(t, err)
	require.Equal(t, 40, e.Cells)
	require.Equal(t, experiment.StateRunning, e.State)

	// At most MaxInFlight of its executions are unfinished at any time.
	require.LessOrEqual(t, maxInFlight(t, b.svc, e), 3)
	done := awaitExperiment(t, b.svc, e.ID, time.Minute)
	require.Equal(t, experiment.StateFinished, done.State)
	require.Equal(t, 40, done.Submitted)
	require.NotNil(t, done.FinishedAt)

	res, err := b.svc.ExperimentResults(ctx, e.ID)
	require.NoError(t, err)
	require.Len(t, res.Rows, 40)
	seen := map[string]bool{}
	for i, r := range res.Rows {
		require.Equal(t, i, r.Cell)
		x, err := b.svc.Get(ctx, r.ExecutionID)
		require.NoError(t, err, "cell %d", i)
		key := fmt.Sprintf("%d/%s/%d", r.Instance, r.Variant, r.Repetition)
		require.False(t, seen[key], "cell %s twice", key)
		seen[key] = true
		require.Equal(t, set.InstanceIDs[r.Instance], r.InstanceID)
		require.Equal(t, x.InstanceID, r.InstanceID)
		require.Equal(t, e.ID, x.Metadata[solvekit.ExperimentLabel])
		require.Equal(t, r.Variant, x.Metadata[solvekit.VariantLabel])
		var cfg struct {
			Mode string `json:"mode"`
			Seed int    `json:"seed"`
		}
		require.NoError(t, json.Unmarshal(x.Config, &cfg))
		require.Equal(t, r.Variant, cfg.Mode)
		require.Equal(t, r.Repetition+1, cfg.Seed)

		require.Equal(t, string(x.State), r.State)
		require.Equal(t, "succeeded", r.State)
		require.Equal(t, string(x.SolverStatus), r.SolverStatus)
		require.Equal(t, *x.Objective, *r.Objective)
		require.Equal(t, *x.BestBound, *r.BestBound)
		n := float64(r.Instance + 1)
		want := n * 10
		if r.Variant == "quick" {
			want += float64(r.Repetition + 1)
			require.Equal(t, "feasible", r.SolverStatus)
			require.InDelta(t, float64(r.Repetition+1)/want, *r.Gap, 1e-12)
		} else {
			require.Equal(t, "optimal", r.SolverStatus)
			require.InDelta(t, 0, *r.Gap, 1e-12)
		}
		require.Equal(t, want, *r.Objective)
		require.Equal(t, x.KPIs, r.KPIs)
		require.InDelta(t, x.FinishedAt.Sub(*x.StartedAt).Seconds(), *r.Time, 1e-9)
		// The incumbents: the worse one first, then the final one, which
		// is the time to best.
		require.Len(t, r.Incumbents, 2, "cell %d", i)
		require.Equal(t, want+5, r.Incumbents[0].Objective)
		require.Equal(t, want, r.Incumbents[1].Objective)
		require.LessOrEqual(t, r.Incumbents[0].T, r.Incumbents[1].T)
		require.Equal(t, r.Incumbents[1].T, *r.TimeToBest)
		require.LessOrEqual(t, *r.TimeToBest, *r.Time+0.002) // the stream clock is in ms
	}
	require.Len(t, seen, 40)

	// Aggregates: exact solves all 20 and wins all 20 problems; quick
	// solves none (feasible).
	require.Len(t, res.Aggregates, 2)
	ex, qu := res.Aggregates[0], res.Aggregates[1]
	require.Equal(t, "exact", ex.Variant)
	require.Equal(t, 20, ex.Solved)
	require.Equal(t, 20, ex.Wins)
	require.Equal(t, 0, qu.Solved)
	require.Equal(t, 0, qu.Wins)
	require.InDelta(t, 55, *ex.MeanObjective, 1e-9)   // mean of 10n, n = 1..10
	require.InDelta(t, 56.5, *qu.MeanObjective, 1e-9) // plus the mean seed, 1.5
	require.InDelta(t, 0, *ex.MeanGap, 1e-12)
	require.NotNil(t, ex.PrimalIntegral)
	require.NotNil(t, ex.SGMTime)
	require.Equal(t, 20, res.Profile[0].Problems)
	require.Equal(t, 1.0, res.Profile[0].At(1))
	require.Equal(t, 0.0, res.Profile[1].At(1e9))

	// The listing's executions are the cells'.
	xs, total, err := b.svc.List(ctx, solvekit.ListOptions{Metadata: map[string]string{solvekit.ExperimentLabel: e.ID}, Limit: 100})
	require.NoError(t, err)
	require.EqualValues(t, 40, total)
	require.Len(t, xs, 40)

	// A later experiment compared with this one as baseline: the same
	// variants, so nothing got worse.
	_, err = b.svc.SetExperimentBaseline(ctx, e.ID, true)
	require.NoError(t, err)
	e2, err := b.svc.CreateExperiment(ctx, solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID,
		Variants:    []solvekit.Variant{{Label: "exact", Config: json.RawMessage(`{"mode": "exact"}`)}, {Label: "quick", Config: json.RawMessage(`{"mode": "exact"}`)}},
		MaxInFlight: 8})
	require.NoError(t, err)
	awaitExperiment(t, b.svc, e2.ID, time.Minute)
	// Loose on time: this is about solved counts and objectives.
	cmp, err := b.svc.CompareExperiments(ctx, e2.ID, "", experiment.CompareOptions{Relative: 1e6})
	require.NoError(t, err)
	require.Equal(t, e.ID, cmp.BaselineID)
	require.False(t, cmp.Worse, "%+v", cmp.Metrics)
	verdicts := map[string]experiment.Verdict{}
	for _, m := range cmp.Metrics {
		verdicts[m.Variant+" "+m.Metric] = m.Verdict
	}
	require.Equal(t, experiment.Better, verdicts["quick solved_share"])
	require.Equal(t, experiment.Same, verdicts["exact solved_share"])
	// And the other way round, the quick variant got worse.
	_, err = b.svc.SetExperimentBaseline(ctx, e2.ID, true)
	require.NoError(t, err)
	cmp, err = b.svc.CompareExperiments(ctx, e.ID, e2.ID, experiment.CompareOptions{Relative: 1e6})
	require.NoError(t, err)
	require.True(t, cmp.Worse)
}

// TestStopExperiment: stopping cancels the running executions, submits
// nothing more and leaves the finished cells intact.
func TestStopExperiment(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{benchJob()}, cfg: solvekit.Config{SchedulerInterval: 20 * time.Millisecond}})
	ctx := context.Background()
	set := benchSet(t, b.svc, 6, 2, 3) // instances 2 and 3 run until stopped
	e, err := b.svc.CreateExperiment(ctx, solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID,
		Variants: []solvekit.Variant{{Label: "exact"}}, MaxInFlight: 2})
	require.NoError(t, err)
	// Cells 0 and 1 finish; 2 and 3 then run, and fill the bound.
	for _, i := range []int{2, 3} {
		deadline := time.Now().Add(patience.Scale(time.Minute))
		for {
			x, err := b.svc.Get(ctx, e.ExecutionID(i))
			if err == nil && x.State == job.StateRunning {
				if inc, err := b.svc.Incumbent(ctx, x.ID); err == nil && inc != nil {
					break
				}
			}
			require.True(t, time.Now().Before(deadline), "cell %d not running", i)
			time.Sleep(10 * time.Millisecond)
		}
	}
	stopped, err := b.svc.StopExperiment(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, experiment.StateStopped, stopped.State)
	require.Equal(t, 4, stopped.Submitted)
	for _, i := range []int{2, 3} {
		x := waitFor(t, b, e.ExecutionID(i), 30*time.Second)
		require.Equal(t, job.StateStopped, x.State)
		require.True(t, x.HasSolution, "the stopped cell keeps its incumbent")
	}
	// The drivers store the stopped cells' rows without a results read:
	// the experiment's finished count reaches its submitted count.
	deadline := time.Now().Add(patience.Scale(time.Minute))
	for {
		cur, err := b.svc.Experiment(ctx, e.ID)
		require.NoError(t, err)
		if cur.Finished == 4 {
			break
		}
		require.True(t, time.Now().Before(deadline), "finished %d of 4 submitted cells", cur.Finished)
		time.Sleep(10 * time.Millisecond)
	}
	again, err := b.svc.StopExperiment(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, experiment.StateStopped, again.State)

	res, err := b.svc.ExperimentResults(ctx, e.ID)
	require.NoError(t, err)
	require.Len(t, res.Rows, 6)
	for i, r := range res.Rows {
		switch i {
		case 0, 1:
			x, err := b.svc.Get(ctx, r.ExecutionID)
			require.NoError(t, err)
			require.Equal(t, job.StateSucceeded, x.State)
			require.Equal(t, "succeeded", r.State)
			require.Equal(t, float64((i+1)*10), *r.Objective)
			require.Len(t, r.Incumbents, 2)
		case 2, 3:
			require.Equal(t, "stopped", r.State)
			require.Equal(t, float64((i+1)*10+5), *r.Objective)
		default:
			require.Equal(t, experiment.CellPending, r.State)
			_, err := b.svc.Get(ctx, r.ExecutionID)
			require.ErrorIs(t, err, job.ErrNotFound, "cell %d was submitted after the stop", i)
		}
	}
	require.Equal(t, 2, res.Aggregates[0].Solved)
	cur, err := b.svc.Experiment(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, 4, cur.Submitted)

	// A stopped experiment can be deleted; its executions stay.
	require.NoError(t, b.svc.DeleteExperiment(ctx, e.ID))
	_, err = b.svc.Experiment(ctx, e.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
	_, err = b.svc.Get(ctx, e.ExecutionID(0))
	require.NoError(t, err)
}

func TestExperimentRefusesBadInput(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{benchJob()}, noWork: true})
	ctx := context.Background()
	set := benchSet(t, b.svc, 2)
	for name, c := range map[string]struct {
		req     solvekit.ExperimentRequest
		pointer string
	}{
		"no set":       {solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: "nope", Variants: []solvekit.Variant{{Label: "a"}}}, "/instance_set_id"},
		"no job type":  {solvekit.ExperimentRequest{JobType: "nope", InstanceSetID: set.ID, Variants: []solvekit.Variant{{Label: "a"}}}, "/job_type"},
		"no variants":  {solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID}, "/variants"},
		"same labels":  {solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID, Variants: []solvekit.Variant{{Label: "a"}, {Label: "a"}}}, "/variants/1/label"},
		"bad config":   {solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID, Variants: []solvekit.Variant{{Label: "a"}, {Label: "b", Config: json.RawMessage(`{"mode": "magic"}`)}}}, "/variants/1/config/mode"},
		"bad sense":    {solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID, Variants: []solvekit.Variant{{Label: "a"}}, Sense: "up"}, "/sense"},
		"seed refused": {solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID, Variants: []solvekit.Variant{{Label: "a"}}, Repetitions: 2, SeedField: "rng"}, "/variants/0/config"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := b.svc.CreateExperiment(ctx, c.req)
			var je *job.Error
			require.ErrorAs(t, err, &je)
			require.Equal(t, job.CodeInvalid, je.Code, "%v", err)
			require.NotEmpty(t, je.Violations)
			require.True(t, strings.HasPrefix(je.Violations[0].Pointer, c.pointer), "%+v", je.Violations)
		})
	}
	es, total, err := b.svc.Experiments(ctx, solvekit.ListFilter{})
	require.NoError(t, err)
	require.Zero(t, total)
	require.Empty(t, es)

	// A bad file stores nothing.
	_, err = b.svc.ImportInstanceSet(ctx, solvekit.InstanceSetRequest{Name: "x", JobType: "bench"},
		[]solvekit.InstanceFile{{Name: "a.json", Data: []byte(`{"n": 1}`)}, {Name: "b.json", Data: []byte(`{"n": `)}})
	var je *job.Error
	require.ErrorAs(t, err, &je)
	require.Equal(t, "/files/1", je.Violations[0].Pointer, "%+v", je.Violations)
	_, n, err := b.svc.ListInstances(ctx, solvekit.InstanceFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 2, n) // benchSet's
	sets, n, err := b.svc.InstanceSets(ctx, solvekit.ListFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, set.ID, sets[0].ID)
	require.NoError(t, b.svc.DeleteInstanceSet(ctx, set.ID))
	_, err = b.svc.InstanceSet(ctx, set.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
}

// TestExperimentTwoProcesses: two processes drive one experiment; each
// cell runs once and the in-flight bound holds across them.
func TestExperimentTwoProcesses(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{benchJob()}, cfg: solvekit.Config{SchedulerInterval: 10 * time.Millisecond}})
	other := secondService(t, b, benchJob())
	ctx := context.Background()
	set := benchSet(t, b.svc, 12)
	e, err := other.CreateExperiment(ctx, solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID,
		Variants: []solvekit.Variant{{Label: "exact"}, {Label: "quick", Config: json.RawMessage(`{"mode": "quick"}`)}}, MaxInFlight: 2})
	require.NoError(t, err)
	require.LessOrEqual(t, maxInFlight(t, b.svc, e), 2)
	done := awaitExperiment(t, b.svc, e.ID, time.Minute)
	require.Equal(t, experiment.StateFinished, done.State)
	xs, total, err := b.svc.List(ctx, solvekit.ListOptions{Metadata: map[string]string{solvekit.ExperimentLabel: e.ID}, Limit: 100})
	require.NoError(t, err)
	require.EqualValues(t, 24, total)
	for _, x := range xs {
		require.Equal(t, 1, x.Attempt, "execution %s ran once", x.ID)
	}
	res, err := b.svc.ExperimentResults(ctx, e.ID)
	require.NoError(t, err)
	for _, r := range res.Rows {
		require.Equal(t, "succeeded", r.State)
	}
}

// TestInstanceSetKeepsItsInstances: retention keeps an old, unused
// instance while an instance set holds it, and removes it once the set is
// deleted.
func TestInstanceSetKeepsItsInstances(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{benchJob()}, noWork: true, cfg: solvekit.Config{RetentionInterval: time.Hour}})
	ctx := context.Background()
	set := benchSet(t, b.svc, 2)
	loose, err := b.svc.CreateInstance(ctx, &job.Instance{Name: "loose"}, []byte(`{"n": 1}`))
	require.NoError(t, err)
	in, err := b.svc.GetInstance(ctx, set.InstanceIDs[0])
	require.NoError(t, err)
	require.Equal(t, "i00.json", in.Name, "a pin changes nothing the record shows")
	sweep := solvekit.RetentionSweeper(b.svc)
	later := time.Now().Add(365 * 24 * time.Hour)
	_, n, _, err := sweep(later)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.svc.GetInstance(ctx, loose.ID)
	require.ErrorIs(t, err, job.ErrNotFound)
	for _, id := range set.InstanceIDs {
		_, err := b.svc.GetInstance(ctx, id)
		require.NoError(t, err, "a set holds it")
	}
	require.NoError(t, b.svc.DeleteInstanceSet(ctx, set.ID))
	total := 0
	for range 2 {
		_, n, _, err = sweep(later)
		require.NoError(t, err)
		total += n
	}
	require.Equal(t, 2, total)
}

// TestInstanceSetRefusesInstanceDelete: DeleteInstance of an instance a
// set holds is CodeConflict and leaves it; once no set holds it, it goes.
// A set over a missing instance pins nothing.
func TestInstanceSetRefusesInstanceDelete(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{benchJob()}, noWork: true})
	ctx := context.Background()
	set := benchSet(t, b.svc, 2)
	again, err := b.svc.CreateInstanceSet(ctx, solvekit.InstanceSetRequest{Name: "first", InstanceIDs: set.InstanceIDs[:1]})
	require.NoError(t, err)
	id := set.InstanceIDs[0]
	err = b.svc.DeleteInstance(ctx, id)
	require.ErrorIs(t, err, job.ErrConflict)
	require.Contains(t, err.Error(), "held by 2 instance set(s)")
	_, err = b.svc.GetInstance(ctx, id)
	require.NoError(t, err, "a refused delete leaves the instance")
	require.NoError(t, b.svc.DeleteInstanceSet(ctx, set.ID))
	require.ErrorIs(t, b.svc.DeleteInstance(ctx, id), job.ErrConflict, "the other set still holds it")
	require.NoError(t, b.svc.DeleteInstance(ctx, set.InstanceIDs[1]), "no set holds it any more")
	require.NoError(t, b.svc.DeleteInstanceSet(ctx, again.ID))
	require.NoError(t, b.svc.DeleteInstance(ctx, id))
	require.ErrorIs(t, b.svc.DeleteInstance(ctx, id), job.ErrNotFound)

	loose, err := b.svc.CreateInstance(ctx, &job.Instance{Name: "loose"}, []byte(`{"n": 1}`))
	require.NoError(t, err)
	_, err = b.svc.CreateInstanceSet(ctx, solvekit.InstanceSetRequest{Name: "bad", InstanceIDs: []string{loose.ID, "missing"}})
	require.Equal(t, job.CodeInvalid, job.ErrorCode(err), "%v", err)
	require.NoError(t, b.svc.DeleteInstance(ctx, loose.ID), "a refused set leaves no pin")
}

// TestExperimentDriverWakesOnCellEnd: the driver moves on when a cell ends
// in its process, not at its next look: with SchedulerInterval an hour,
// an experiment of one cell at a time still runs all its cells, and a
// stop's cancelled cell is still closed.
func TestExperimentDriverWakesOnCellEnd(t *testing.T) {
	b := setup(t, setupOpts{defs: []*job.Definition{benchJob()}, cfg: solvekit.Config{SchedulerInterval: time.Hour}})
	ctx := context.Background()
	set := benchSet(t, b.svc, 5)
	e, err := b.svc.CreateExperiment(ctx, solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: set.ID,
		Variants: []solvekit.Variant{{Label: "a"}, {Label: "b"}}, MaxInFlight: 1})
	require.NoError(t, err)
	done := awaitExperiment(t, b.svc, e.ID, time.Minute)
	require.Equal(t, experiment.StateFinished, done.State)
	require.Equal(t, 10, done.Finished)

	blocked := benchSet(t, b.svc, 2, 0)
	e, err = b.svc.CreateExperiment(ctx, solvekit.ExperimentRequest{JobType: "bench", InstanceSetID: blocked.ID,
		Variants: []solvekit.Variant{{Label: "a"}}, MaxInFlight: 1})
	require.NoError(t, err)
	deadline := time.Now().Add(patience.Scale(time.Minute))
	for {
		x, err := b.svc.Get(ctx, e.ExecutionID(0))
		if err == nil && x.State == job.StateRunning {
			break
		}
		require.True(t, time.Now().Before(deadline), "the first cell was not submitted and started (%v)", err)
		time.Sleep(10 * time.Millisecond)
	}
	_, err = b.svc.StopExperiment(ctx, e.ID)
	require.NoError(t, err)
	for {
		cur, err := b.svc.Experiment(ctx, e.ID)
		require.NoError(t, err)
		if cur.Finished == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the stopped cell was not closed")
		time.Sleep(10 * time.Millisecond)
	}
}
