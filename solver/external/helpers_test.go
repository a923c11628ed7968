package external_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver/external"
)

// needBinary skips a test when a solver binary is missing, loudly: set
// SOLVEKIT_REQUIRE_SOLVERS=1 (CI does) to fail instead.
func needBinary(t *testing.T, bin, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		msg := fmt.Sprintf("!!! %s not found in PATH: external solver test NOT RUN (install it: apt-get install -y %s)", bin, pkg)
		if os.Getenv("SOLVEKIT_REQUIRE_SOLVERS") != "" {
			t.Fatal(msg)
		}
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
}

func needCBC(t *testing.T)  { needBinary(t, "cbc", "coinor-cbc") }
func needGLPK(t *testing.T) { needBinary(t, "glpsol", "glpk-utils") }

// needEngine skips t without the binary of engine: CBC for a name that
// ends in "cbc" ("cbc", "mip.cbc"), GLPK otherwise.
func needEngine(t *testing.T, engine string) {
	if strings.HasSuffix(engine, "cbc") {
		needCBC(t)
	} else {
		needGLPK(t)
	}
}

// record is one stored log record.
type record struct {
	at    time.Time
	level slog.Level
	msg   string
	attrs map[string]string
}

// recorder is a slog.Handler keeping records in memory, standing in for
// the runtime's execution log.
type recorder struct {
	mu      *sync.Mutex
	records *[]record
	attrs   []slog.Attr
	onLine  func(r record)
}

func newRecorder() *recorder {
	return &recorder{mu: &sync.Mutex{}, records: &[]record{}}
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	rec := record{at: time.Now(), level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.records = append(*h.records, rec)
	on := h.onLine
	h.mu.Unlock()
	if on != nil {
		on(rec)
	}
	return nil
}

func (h *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *recorder) WithGroup(string) slog.Handler { return h }

func (h *recorder) all() []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record(nil), *h.records...)
}

// first returns the first record whose message contains s.
func (h *recorder) first(s string) (record, bool) {
	for _, r := range h.all() {
		if strings.Contains(r.msg, s) {
			return r, true
		}
	}
	return record{}, false
}

// reporter is a job.Reporter recording incumbents.
type reporter struct {
	mu         sync.Mutex
	incumbents []incumbent
	progress   int
	onInc      func(incumbent)
}

type incumbent struct {
	at        time.Time
	solution  json.RawMessage
	objective float64
}

func (r *reporter) Progress(float64, string) {
	r.mu.Lock()
	r.progress++
	r.mu.Unlock()
}

func (r *reporter) Incumbent(sol json.RawMessage, obj *float64) error {
	inc := incumbent{at: time.Now(), solution: sol, objective: *obj}
	r.mu.Lock()
	r.incumbents = append(r.incumbents, inc)
	on := r.onInc
	r.mu.Unlock()
	if on != nil {
		on(inc)
	}
	return nil
}

func (r *reporter) all() []incumbent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]incumbent(nil), r.incumbents...)
}

// harness is a job Context wired to a recorder and a reporter.
type harness struct {
	jc  *job.Context
	log *recorder
	rep *reporter
}

func newHarness(t *testing.T, instance any, config string) *harness {
	t.Helper()
	raw, err := json.Marshal(instance)
	require.NoError(t, err)
	h := &harness{log: newRecorder(), rep: &reporter{}}
	h.jc = &job.Context{
		ExecutionID: "test",
		Attempt:     1,
		JobType:     "mip",
		Instance:    raw,
		Config:      json.RawMessage(config),
		Logger:      slog.New(h.log),
		Reporter:    h.rep,
	}
	return h
}

// run runs the MIP app's job function as the runtime would.
func (h *harness) run(t *testing.T, ctx context.Context, opts ...external.Option) (*job.Result, error) {
	t.Helper()
	def := external.MIPApp("mip", opts...).Definition()
	require.NoError(t, def.Err())
	out, err := def.Func(ctx, h.jc)
	if err != nil {
		return nil, err
	}
	res, ok := out.(*job.Result)
	require.True(t, ok, "App returns *job.Result, got %T", out)
	return res, nil
}

// solution decodes a result's solution.
func solution(t *testing.T, res *job.Result) external.Solution {
	t.Helper()
	b, err := json.Marshal(res.Solution)
	require.NoError(t, err)
	var s external.Solution
	require.NoError(t, json.Unmarshal(b, &s))
	return s
}

// mkp is a random multidimensional 0/1 knapsack: maximise profit subject
// to m capacity rows, hard enough to keep CBC busy for minutes.
type mkp struct {
	n, m     int
	profit   []int
	weight   [][]int
	capacity []int
}

func newMKP(n, m int, seed uint64) *mkp {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	k := &mkp{n: n, m: m, profit: make([]int, n), weight: make([][]int, m), capacity: make([]int, m)}
	for i := range m {
		k.weight[i] = make([]int, n)
		sum := 0
		for j := range n {
			k.weight[i][j] = 1 + r.IntN(1000)
			sum += k.weight[i][j]
		}
		k.capacity[i] = sum / 2
	}
	for j := range n {
		s := 0
		for i := range m {
			s += k.weight[i][j]
		}
		k.profit[j] = s/m + 1 + r.IntN(500)
	}
	return k
}

// MPS writes the knapsack as free MPS with an OBJSENSE MAX section.
func (k *mkp) MPS() string {
	var b strings.Builder
	b.WriteString("NAME MKP\nOBJSENSE\n    MAX\nROWS\n N profit\n")
	for i := range k.m {
		fmt.Fprintf(&b, " L cap%d\n", i)
	}
	b.WriteString("COLUMNS\n    M1 'MARKER' 'INTORG'\n")
	for j := range k.n {
		fmt.Fprintf(&b, "    x%d profit %d\n", j, k.profit[j])
		for i := range k.m {
			fmt.Fprintf(&b, "    x%d cap%d %d\n", j, i, k.weight[i][j])
		}
	}
	b.WriteString("    M2 'MARKER' 'INTEND'\nRHS\n")
	for i := range k.m {
		fmt.Fprintf(&b, "    rhs cap%d %d\n", i, k.capacity[i])
	}
	b.WriteString("BOUNDS\n")
	for j := range k.n {
		fmt.Fprintf(&b, " BV bnd x%d\n", j)
	}
	b.WriteString("ENDATA\n")
	return b.String()
}

// verify checks a solution is a feasible 0/1 packing and returns its profit.
func (k *mkp) verify(t *testing.T, vars map[string]float64) float64 {
	t.Helper()
	x := make([]int, k.n)
	for name, v := range vars {
		var j int
		_, err := fmt.Sscanf(name, "x%d", &j)
		require.NoError(t, err, name)
		require.InDelta(t, 1, v, 1e-6, "binary variable %s", name)
		x[j] = 1
	}
	for i := range k.m {
		load := 0
		for j := range k.n {
			load += k.weight[i][j] * x[j]
		}
		require.LessOrEqual(t, load, k.capacity[i], "capacity %d", i)
	}
	profit := 0
	for j := range k.n {
		profit += k.profit[j] * x[j]
	}
	return float64(profit)
}
