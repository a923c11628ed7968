package solver_test

import (
	"encoding/json"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

func TestLogJSONShape(t *testing.T) {
	l := solver.NewLog("cbc")
	l.Progress(solver.ProgressRow{Node: 0, NodesLeft: 1, CutsBestBound: job.Float(90)})
	l.Progress(solver.ProgressRow{Node: 10, BestInteger: job.Float(100), CutsBestBound: job.Float(95), Time: 1.5})
	m := l.Map()
	require.Equal(t, "cbc", m["solver"])
	require.EqualValues(t, 10, m["nodes"])
	require.EqualValues(t, 100, m["best_solution"])
	require.EqualValues(t, 95, m["best_bound"])
	require.InDelta(t, 0.05, m["gap"], 1e-12)
	rows := m["progress"].([]any)
	require.Len(t, rows, 2)
	require.Equal(t, map[string]any{"Node": 10.0, "BestInteger": 100.0, "CutsBestBound": 95.0, "Gap": 0.05, "Time": 1.5}, rows[1])
	require.Contains(t, rows[0].(map[string]any), "Time", "Time is filled in")
	for _, k := range []string{"status_code", "sol_code", "time", "best_bound", "best_solution", "gap", "progress"} {
		require.Contains(t, m, k)
	}

	// An empty log still has cornflow's keys.
	b, err := json.Marshal(solver.NewLog("x"))
	require.NoError(t, err)
	require.JSONEq(t, `{"solver":"x","status_code":0,"sol_code":0,"time":0,"nodes":0,"best_bound":null,"best_solution":null,"gap":null,"progress":[]}`, string(b))
}

func TestLogThinsLongTables(t *testing.T) {
	l := solver.NewLog("h")
	n := 5 * solver.MaxProgressRows
	for i := range n {
		l.Progress(solver.ProgressRow{Node: int64(i), Time: float64(i + 1)})
	}
	rows := l.ProgressTable
	require.LessOrEqual(t, len(rows), solver.MaxProgressRows)
	require.Greater(t, len(rows), solver.MaxProgressRows/4)
	require.EqualValues(t, 0, rows[0].Node, "keeps the start")
	require.Greater(t, rows[len(rows)-1].Node, int64(n-n/8), "and the recent past")
	for i := 1; i < len(rows); i++ {
		require.Greater(t, rows[i].Node, rows[i-1].Node)
	}
	require.EqualValues(t, n-1, l.Nodes)
}

func TestLogConcurrentUse(t *testing.T) {
	l := solver.NewLog("c")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				l.Progress(solver.ProgressRow{Node: int64(i), BestInteger: job.Float(float64(g))})
				l.Update(func(l *solver.Log) { l.Status = "running" })
				if i%50 == 0 {
					_ = l.Map()
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, l.ProgressTable, 800)
}

func TestLogDropsNonFinite(t *testing.T) {
	l := solver.NewLog("n")
	l.Progress(solver.ProgressRow{Node: 1, BestInteger: job.Float(math.Inf(1))})
	m := l.Map()
	require.Nil(t, m["best_solution"])
	require.NotContains(t, m["progress"].([]any)[0], "BestInteger")
}

func TestStatusCodes(t *testing.T) {
	require.Equal(t, 1, solver.StatusCode(job.StatusOptimal))
	require.Equal(t, 2, solver.StatusCode(job.StatusFeasible))
	require.Equal(t, -1, solver.StatusCode(job.StatusInfeasible))
	require.Equal(t, -2, solver.StatusCode(job.StatusUnbounded))
	require.Equal(t, 5, solver.StatusCode(job.StatusTimeLimit))
	require.Equal(t, 0, solver.StatusCode(job.StatusNotSolved))
	require.Equal(t, -3, solver.StatusCode("weird"))
}

func TestRelGap(t *testing.T) {
	require.Nil(t, solver.RelGap(nil, job.Float(1)))
	require.Nil(t, solver.RelGap(job.Float(math.NaN()), job.Float(1)))
	require.InDelta(t, 0.1, *solver.RelGap(job.Float(-10), job.Float(-11)), 1e-12)
	require.InDelta(t, 0, *solver.RelGap(job.Float(0), job.Float(0)), 1e-12)
}
