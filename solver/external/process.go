package external

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// DefaultGracePeriod is how long a solver may take to stop after SIGINT
// before its process group is killed.
const DefaultGracePeriod = 5 * time.Second

// Option configures CBC, GLPK, MIP and MIPApp.
type Option func(*options)

type options struct {
	cbcBinary, glpkBinary string
	cbcArgs, glpkArgs     []string
	grace                 time.Duration
	settle                time.Duration
	keep                  bool
	workDir               string
	lineBuffer            bool
}

func newOptions(opts []Option) *options {
	o := &options{cbcBinary: "cbc", glpkBinary: "glpsol", grace: DefaultGracePeriod, settle: time.Second, lineBuffer: true}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// WithCBCBinary sets the CBC executable: a path, or a name looked up in
// PATH (default "cbc").
func WithCBCBinary(path string) Option { return func(o *options) { o.cbcBinary = path } }

// WithGLPKBinary sets the GLPK executable: a path, or a name looked up in
// PATH (default "glpsol").
func WithGLPKBinary(path string) Option { return func(o *options) { o.glpkBinary = path } }

// WithCBCArgs adds CBC command-line parameters, placed before "solve",
// e.g. WithCBCArgs("threads", "4", "ratioGap", "0.01").
func WithCBCArgs(args ...string) Option {
	return func(o *options) { o.cbcArgs = append(o.cbcArgs, args...) }
}

// WithGLPKArgs adds glpsol options, e.g. WithGLPKArgs("--mipgap", "0.01").
func WithGLPKArgs(args ...string) Option {
	return func(o *options) { o.glpkArgs = append(o.glpkArgs, args...) }
}

// WithGracePeriod sets how long a solver has to stop after SIGINT before
// its whole process group gets SIGKILL (default DefaultGracePeriod).
func WithGracePeriod(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.grace = d
		}
	}
}

// WithKeepWorkspace keeps the per-execution workspace directory (model,
// solution and names files) instead of removing it after the solve; its
// path is logged. For debugging.
func WithKeepWorkspace(keep bool) Option { return func(o *options) { o.keep = keep } }

// WithWorkDir sets the directory the per-execution workspaces are created
// in (default os.TempDir()).
func WithWorkDir(dir string) Option { return func(o *options) { o.workDir = dir } }

// WithLineBuffering controls whether the solver runs under "stdbuf -oL
// -eL" when stdbuf (GNU coreutils) is installed (default true). CBC
// block-buffers its output when it is not a terminal; without stdbuf its
// log reaches the execution log in 4 KiB bursts instead of line by line.
func WithLineBuffering(on bool) Option { return func(o *options) { o.lineBuffer = on } }

// engine describes one solver program.
type engine struct {
	name    string // "cbc"
	pkg     string // Debian package providing the binary
	binary  func(o *options) string
	args    func(r *runSpec) []string
	parse   func(t *tracker, line string)
	readSol func(r *runSpec) (*fileSolution, error)
	// told is the time limit the solver is given for a wanted limit, as
	// its options can express it; 0 means it cannot be told one that ends
	// in time, and is stopped at the deadline instead.
	told func(limit time.Duration) time.Duration
	// fallback, if set, adjusts r after a run that failed without a
	// solution and reports whether to run again (GLPK: fixed MPS after
	// free MPS).
	fallback func(r *runSpec, t *tracker) bool
}

// runSpec is one solve's files and parameters.
type runSpec struct {
	dir       string
	modelPath string
	solPath   string
	namesPath string
	model     prepared
	limit     time.Duration // limit wanted for the solver; 0 = none
	fixedMPS  bool          // GLPK: read the MPS model as fixed MPS
	extra     []string
}

// fileSolution is what a solver's solution file says.
type fileSolution struct {
	status    job.SolverStatus
	text      string // the solver's own words
	feasible  bool   // the file holds a usable solution
	stopped   bool   // the solver was interrupted (time, signal, limit)
	objective *float64
	variables map[string]float64
}

// errMissingBinary builds the error for a solver binary that is not there.
func errMissingBinary(e *engine, bin string, err error) error {
	return fmt.Errorf("external: %s binary %q not found (install the Debian package %s, or set its path with the %s option): %w",
		e.name, bin, e.pkg, map[string]string{"cbc": "WithCBCBinary", "glpk": "WithGLPKBinary"}[e.name], err)
}

// engineSolver is the solver.Solver that runs engine e with opts.
func engineSolver(e *engine, opts []Option) solver.Solver {
	o := newOptions(opts)
	return solver.SolverFunc(func(ctx context.Context, in *solver.Input) (*job.Result, error) {
		return solveWith(ctx, in, e, o)
	})
}

// solveWith runs engine e on the instance in in.
func solveWith(ctx context.Context, in *solver.Input, e *engine, o *options) (*job.Result, error) {
	m, err := decodeModel(in.Instance)
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath(e.binary(o))
	if err != nil {
		return nil, errMissingBinary(e, e.binary(o), err)
	}
	if in.Log == nil {
		in.Log = solver.NewLog(e.name)
	}
	in.Log.Update(func(l *solver.Log) { l.Solver = e.name })
	logger := in.Logger().With("solver", e.name)

	dir, err := os.MkdirTemp(o.workDir, "solvekit-"+e.name+"-")
	if err != nil {
		return nil, fmt.Errorf("external: workspace: %w", err)
	}
	if o.keep {
		logger.Info("workspace kept", "dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	r := &runSpec{
		dir:       dir,
		modelPath: filepath.Join(dir, "model."+m.Format),
		solPath:   filepath.Join(dir, "solution.txt"),
		namesPath: filepath.Join(dir, "names.glp"),
		model:     prepare(m),
	}
	if err := os.WriteFile(r.modelPath, []byte(r.model.text), 0o600); err != nil {
		return nil, fmt.Errorf("external: write model: %w", err)
	}

	if in.TimeLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, in.TimeLimit)
		defer cancel()
	}
	if e.name == "cbc" {
		r.extra = o.cbcArgs
	} else {
		r.extra = o.glpkArgs
	}

	t := newTracker(in, r.model.sense, logger)
	if ctx.Err() != nil { // stopped before it started
		return t.decide(ctx, nil, false), nil
	}
	setLimit(ctx, r)
	res, err := execute(ctx, bin, e, r, o, t, logger)
	if err != nil && ctx.Err() == nil && e.fallback != nil && e.fallback(r, t) {
		logger.Info(fmt.Sprintf("%s could not read the model as free MPS; reading it as fixed MPS", e.name))
		first := err
		t = newTracker(in, r.model.sense, logger)
		setLimit(ctx, r)
		if res, err = execute(ctx, bin, e, r, o, t, logger); err != nil && t.readError {
			return nil, job.Fail(fmt.Sprintf("%s could read the model neither as free nor as fixed MPS (see the output)", e.name),
				map[string]any{"output": failureOutput(err), "free_mps_output": failureOutput(first)})
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// setLimit gives the solver the time left minus a little headroom, so that
// it stops on its own (and writes its solution) before the deadline.
func setLimit(ctx context.Context, r *runSpec) {
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		r.limit = max(left-min(time.Second, left/10), time.Millisecond)
	}
}

// failureOutput is the solver output a failed run reported, if any.
func failureOutput(err error) any {
	var f *job.Failure
	if errors.As(err, &f) {
		if d, ok := f.Details.(map[string]any); ok {
			return d["output"]
		}
	}
	return nil
}

// execute runs the process and turns its files and log into a Result.
func execute(ctx context.Context, bin string, e *engine, r *runSpec, o *options, t *tracker, logger *slog.Logger) (*job.Result, error) {
	args := e.args(r)
	path := bin
	if o.lineBuffer {
		if sb, err := exec.LookPath("stdbuf"); err == nil {
			args = append([]string{"-oL", "-eL", bin}, args...)
			path = sb
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = r.dir
	ownGroup(cmd)
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	logger.Debug("starting solver", "cmd", strings.Join(append([]string{path}, args...), " "))
	startErr := cmd.Start()
	outW.Close()
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		if errors.Is(startErr, exec.ErrNotFound) || errors.Is(startErr, os.ErrNotExist) {
			return nil, errMissingBinary(e, bin, startErr)
		}
		return nil, fmt.Errorf("external: start %s: %w", e.name, startErr)
	}

	// Both streams feed one consumer, which logs and parses line by line.
	lines := make(chan streamLine, 256)
	var readers sync.WaitGroup
	readers.Add(2)
	go readLines(outR, "stdout", lines, &readers)
	go readLines(errR, "stderr", lines, &readers)
	go func() { readers.Wait(); close(lines) }()
	consumed := make(chan struct{})
	tail := newTail(40)
	go func() {
		defer close(consumed)
		for l := range lines {
			tail.add(l.text)
			if strings.TrimSpace(l.text) == "" {
				continue
			}
			logger.Info(l.text, "stream", l.stream)
			e.parse(t, l.text)
		}
	}()

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	signalled, killed := false, false
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-ctx.Done():
		exited := false
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && r.limit > 0 && e.told(r.limit) > 0 {
			// The solver was told the limit: give it a moment to stop on
			// its own and write its solution. (One that could not be
			// told, glpsol under a second, is stopped at once.)
			select {
			case waitErr = <-waited:
				exited = true
			case <-time.After(o.settle):
			}
		}
		if !exited {
			signalled = true
			logger.Info("stopping solver", "signal", "SIGINT", "reason", context.Cause(ctx).Error())
			_ = interrupt(cmd)
			select {
			case waitErr = <-waited:
			case <-time.After(o.grace):
				logger.Warn("solver did not stop in time, killing its process group", "grace", o.grace.String())
				_ = killGroup(cmd)
				killed = true
				waitErr = <-waited
			}
		}
	}
	// Anything the solver left in its process group goes too; then the
	// pipes close and the readers finish.
	_ = killGroup(cmd)
	select {
	case <-consumed:
	case <-time.After(5 * time.Second):
		outR.Close()
		errR.Close()
		<-consumed
	}
	outR.Close()
	errR.Close()

	var sol *fileSolution
	if !killed { // a killed solver may have been writing its file
		var solErr error
		if sol, solErr = e.readSol(r); solErr != nil {
			logger.Warn("solution file unreadable", "err", solErr)
			sol = nil
		}
	}
	if sol == nil && !signalled && ctx.Err() == nil {
		msg := fmt.Sprintf("%s wrote no solution; is the model valid? (see the output)", e.name)
		if waitErr != nil {
			msg = fmt.Sprintf("%s failed (%v) and wrote no solution; is the model valid? (see the output)", e.name, waitErr)
		}
		if st := t.hintStatus(); st == job.StatusInfeasible || st == job.StatusUnbounded {
			return t.result(st, nil), nil
		}
		return nil, job.Fail(msg, map[string]any{"output": tail.lines()})
	}
	return t.decide(ctx, sol, signalled), nil
}

type streamLine struct{ stream, text string }

// maxLine bounds one logged line; the rest of a longer line is dropped.
const maxLine = 64 * 1024

func readLines(r io.Reader, stream string, out chan<- streamLine, wg *sync.WaitGroup) {
	defer wg.Done()
	br := bufio.NewReaderSize(r, 64*1024)
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(chunk) > 0 && len(buf) < maxLine {
			buf = append(buf, chunk[:min(len(chunk), maxLine-len(buf))]...)
		}
		if err != nil {
			if len(buf) > 0 {
				out <- streamLine{stream, strings.TrimRight(string(buf), "\r")}
			}
			return
		}
		if isPrefix {
			continue
		}
		out <- streamLine{stream, strings.TrimRight(string(buf), "\r")}
		buf = buf[:0]
	}
}

// tail keeps the last lines of output for error reports.
type tailBuf struct {
	mu  sync.Mutex
	n   int
	buf []string
}

func newTail(n int) *tailBuf { return &tailBuf{n: n} }

func (t *tailBuf) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) == t.n {
		t.buf = t.buf[1:]
	}
	t.buf = append(t.buf, s)
}

func (t *tailBuf) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}

// tracker follows a solver's log: incumbents, progress rows, status hints.
// It is used by the single consumer goroutine and, after it finished, by
// the caller.
type tracker struct {
	in     *solver.Input
	logger *slog.Logger
	sense  string
	start  time.Time

	best         *float64
	nodes        int64 // nodes of the latest progress row
	lastProgress time.Time
	incWarned    bool

	timeLimit, infeasible, unbounded bool
	readError                        bool     // the solver could not read the model
	lastLP                           *float64 // GLPK: last simplex objective
}

func newTracker(in *solver.Input, sense string, logger *slog.Logger) *tracker {
	return &tracker{in: in, logger: logger, sense: sense, start: time.Now()}
}

// better reports whether a improves on b for the objective sense.
func (t *tracker) better(a float64, b *float64) bool {
	if b == nil {
		return true
	}
	if t.sense == Maximize {
		return a > *b+1e-9*math.Max(1, math.Abs(*b))
	}
	return a < *b-1e-9*math.Max(1, math.Abs(*b))
}

// incumbent publishes a solution objective read from the log if it
// improves on the best one.
func (t *tracker) incumbent(obj float64) {
	if math.IsNaN(obj) || math.IsInf(obj, 0) || math.Abs(obj) >= 1e49 || !t.better(obj, t.best) {
		return
	}
	t.best = job.Float(obj)
	sol := Solution{Status: job.StatusFeasible, Objective: job.Float(obj)}
	if err := t.in.Incumbent(sol, obj); err != nil && !t.incWarned {
		t.incWarned = true
		t.logger.Warn("incumbent not stored", "err", err)
	}
}

// row records a progress row and publishes progress at most once a second.
func (t *tracker) row(r solver.ProgressRow) {
	t.nodes = max(t.nodes, r.Node)
	t.in.Log.Progress(r)
	if time.Since(t.lastProgress) < time.Second {
		return
	}
	t.lastProgress = time.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "%d nodes", r.Node)
	if r.BestInteger != nil {
		fmt.Fprintf(&b, ", best %g", *r.BestInteger)
	}
	if r.CutsBestBound != nil {
		fmt.Fprintf(&b, ", bound %g", *r.CutsBestBound)
	}
	t.in.Progress(t.in.TimeUsed(t.start), b.String())
}

// hintStatus is the status the log suggests, if any.
func (t *tracker) hintStatus() job.SolverStatus {
	switch {
	case t.infeasible:
		return job.StatusInfeasible
	case t.unbounded:
		return job.StatusUnbounded
	case t.timeLimit:
		return job.StatusTimeLimit
	}
	return ""
}

// result builds a Result with a solution of the given status.
func (t *tracker) result(st job.SolverStatus, sol *Solution) *job.Result {
	res := &job.Result{Status: st}
	if sol != nil {
		sol.Status = st
		res.Solution = sol
		res.Objective = sol.Objective
	}
	t.in.Log.Update(func(l *solver.Log) {
		switch {
		case st == job.StatusOptimal && res.Objective != nil && !strings.Contains(strings.ToLower(l.Status), "gap"):
			// A proven optimum closed the gap: its bound is the objective.
			// The last bound the log showed (a node report's) predates the
			// proof; the progress rows keep it. An optimum "within gap
			// tolerance" keeps the logged bound.
			res.BestBound = job.Float(*res.Objective)
			l.BestBound = job.Float(*res.Objective)
		case l.BestBound != nil:
			res.BestBound = job.Float(*l.BestBound)
		}
	})
	return res
}

// decide combines the solution file, the log and how the run ended.
func (t *tracker) decide(ctx context.Context, sol *fileSolution, signalled bool) *job.Result {
	onTime := t.timeLimit || errors.Is(ctx.Err(), context.DeadlineExceeded)
	stoppedStatus := job.StatusFeasible
	if onTime {
		stoppedStatus = job.StatusTimeLimit
	}
	if sol != nil {
		t.in.Log.Update(func(l *solver.Log) {
			if l.Status == "" {
				l.Status = sol.text
			}
		})
	}
	switch {
	case sol != nil && sol.feasible:
		st := sol.status
		if sol.stopped || signalled || st == job.StatusFeasible || st == job.StatusTimeLimit {
			if st != job.StatusOptimal {
				st = stoppedStatus
			}
		}
		return t.result(st, &Solution{Objective: sol.objective, Variables: sol.variables})
	case t.best != nil:
		// Killed (or stopped) before writing a solution: the best objective
		// the solver reported is all there is.
		return t.result(stoppedStatus, &Solution{Objective: job.Float(*t.best)})
	case sol != nil && (sol.status == job.StatusInfeasible || sol.status == job.StatusUnbounded):
		return t.result(sol.status, nil)
	}
	if st := t.hintStatus(); st == job.StatusInfeasible || st == job.StatusUnbounded {
		return t.result(st, nil)
	}
	if onTime {
		return t.result(job.StatusTimeLimit, nil)
	}
	return t.result(job.StatusNotSolved, nil)
}
