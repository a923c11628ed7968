package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
)

// hardInstance is a knapsack whose branch and bound never ends: values
// equal weights, all even, and an odd capacity, so no subset fills the
// knapsack exactly and the fractional bound (the capacity) prunes nothing.
// Its first solution is found after n nodes.
func hardInstance(n int) Instance {
	in := Instance{}
	total := 0
	for i := range n {
		w := 2 * (1000 + (i*7919)%1000)
		in.Items = append(in.Items, Item{Name: fmt.Sprintf("i%05d", i), Weight: w, Value: w})
		total += w
	}
	in.Capacity = total/2 + 1
	if in.Capacity%2 == 0 {
		in.Capacity++
	}
	return in
}

// onIncumbent is a job.Reporter that calls fn on the first incumbent.
type onIncumbent struct {
	once sync.Once
	fn   func()
}

func (r *onIncumbent) Progress(float64, string) {}
func (r *onIncumbent) Incumbent(json.RawMessage, *float64) error {
	r.once.Do(r.fn)
	return nil
}

func jobContext(config string, rep job.Reporter) *job.Context {
	return &job.Context{Config: json.RawMessage(config), Reporter: rep}
}

// checkSolution verifies a returned solution against the instance.
func checkSolution(t *testing.T, in Instance, sol Solution, objective *float64) {
	t.Helper()
	byName := map[string]Item{}
	for _, it := range in.Items {
		byName[it.Name] = it
	}
	w, v := 0, 0
	for _, name := range sol.Items {
		w += byName[name].Weight
		v += byName[name].Value
	}
	require.Equal(t, w, sol.Weight)
	require.Equal(t, v, sol.Value)
	require.LessOrEqual(t, w, in.Capacity)
	require.NotNil(t, objective)
	require.Equal(t, float64(v), *objective)
}

// TestKnapsackStoppedBeforeFirstSolution: with more items than nodes
// between two stop checks, a stop, a time limit or a node limit that comes
// before the first leaf leaves no solution: not_solved, no solution and no
// objective (it was -1 and an invalid solution).
func TestKnapsackStoppedBeforeFirstSolution(t *testing.T) {
	in := hardInstance(5000)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for name, c := range map[string]struct {
		ctx    context.Context
		config string
	}{
		"cancel":     {cancelled, `{}`},
		"time limit": {expired, `{}`},
		"node limit": {context.Background(), `{"node_limit": 100}`},
	} {
		res, err := solveKnapsack(c.ctx, jobContext(c.config, nil), in)
		require.NoError(t, err, name)
		require.Equal(t, job.StatusNotSolved, res.Status, name)
		require.Nil(t, res.Solution, name)
		require.Nil(t, res.Objective, name)
	}
}

// TestKnapsackStoppedWithIncumbent: a Cancel after the first solution is
// reported feasible (it was time_limit), a time limit time_limit, each
// with the best solution found.
func TestKnapsackStoppedWithIncumbent(t *testing.T) {
	in := hardInstance(60)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := solveKnapsack(ctx, jobContext(`{}`, &onIncumbent{fn: cancel}), in)
	require.NoError(t, err)
	require.Equal(t, job.StatusFeasible, res.Status)
	checkSolution(t, in, res.Solution.(Solution), res.Objective)

	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	res, err = solveKnapsack(ctx, jobContext(`{}`, &onIncumbent{fn: func() { <-ctx.Done() }}), in)
	require.NoError(t, err)
	require.Equal(t, job.StatusTimeLimit, res.Status)
	checkSolution(t, in, res.Solution.(Solution), res.Objective)
}

// newService runs the knapsack job on a Service with a worker, on a
// database of the package's private Redis, until the test ends.
func newService(t *testing.T) *solvekit.Service {
	t.Helper()
	return solvekittest.Start(t, solvekittest.Options{Config: solvekit.Config{Redis: redistest.Client(t)}}, knapsackJob())
}

func wait(t *testing.T, svc *solvekit.Service, id string) *job.Execution {
	t.Helper()
	return solvekittest.Wait(t, svc, id, time.Minute)
}

// TestKnapsackServiceCancel runs the job on a worker: a Cancel after an
// incumbent ends stopped/feasible (not time_limit) with a valid solution.
func TestKnapsackServiceCancel(t *testing.T) {
	svc := newService(t)
	ctx := context.Background()

	in := hardInstance(60)
	raw, _ := json.Marshal(in)
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "knapsack", Instance: raw})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := svc.Get(ctx, e.ID)
		return err == nil && got.Objective != nil
	}, time.Minute, 10*time.Millisecond, "no incumbent published")
	require.NoError(t, svc.Cancel(ctx, e.ID))
	e = wait(t, svc, e.ID)
	require.Equal(t, job.StateStopped, e.State)
	require.Equal(t, job.StatusFeasible, e.SolverStatus)
	require.Nil(t, e.Error)
	if e.Objective != nil {
		require.GreaterOrEqual(t, *e.Objective, 0.0, "objective of a run without a solution")
	}
	sol, err := svc.Solution(ctx, e.ID)
	require.NoError(t, err)
	var s Solution
	require.NoError(t, json.Unmarshal(sol, &s))
	checkSolution(t, in, s, e.Objective)
}

// TestKnapsackServiceTimeLimit: a 1 ms limit on 10,000 items ends
// timed_out without a -1 objective: either not_solved with no solution
// (the usual case: the limit passes before the first leaf), or time_limit
// with a valid one.
func TestKnapsackServiceTimeLimit(t *testing.T) {
	svc := newService(t)
	ctx := context.Background()
	in := hardInstance(10000)
	raw, _ := json.Marshal(in)
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "knapsack", Instance: raw, Timeout: time.Millisecond})
	require.NoError(t, err)
	e = wait(t, svc, e.ID)
	require.Equal(t, job.StateTimedOut, e.State)
	require.Nil(t, e.Error)
	if e.Objective != nil {
		require.GreaterOrEqual(t, *e.Objective, 0.0, "objective of a run without a solution")
	}
	sol, err := svc.Solution(ctx, e.ID)
	if e.SolverStatus == job.StatusNotSolved {
		require.Nil(t, e.Objective, "objective of a run without a solution")
		require.Error(t, err, "a solution for a run that found none: %s", sol)
	} else {
		require.Equal(t, job.StatusTimeLimit, e.SolverStatus)
		require.NoError(t, err)
		var s Solution
		require.NoError(t, json.Unmarshal(sol, &s))
		checkSolution(t, in, s, e.Objective)
	}
	t.Logf("1 ms limit on %d items: %s, %s", len(in.Items), e.State, e.SolverStatus)
}
