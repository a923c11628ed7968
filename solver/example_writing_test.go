package solver_test

// This file is the main listing of docs/writing-a-solver.md: the regions
// between "// doc:begin NAME" and "// doc:end NAME" appear there verbatim
// (TestWritingGuideMatchesCode checks it), so edit both together.

// doc:begin imports
import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
	"github.com/solvekit/solvekit/solver/external"
)

// doc:end imports

// doc:begin types

// Task is one piece of work to place on a machine.
type Task struct {
	Name     string `json:"name"`
	Duration int    `json:"duration"`
}

// Workload is the instance: tasks to spread over identical machines.
type Workload struct {
	Machines int    `json:"machines"`
	Tasks    []Task `json:"tasks"`
}

// Schedule is the solution: the tasks on each machine and the makespan,
// the load of the busiest machine, which the solvers minimise.
type Schedule struct {
	Machines [][]string `json:"machines"`
	Makespan int        `json:"makespan"`
}

var workloadSchema = []byte(`{
  "type": "object",
  "required": ["machines", "tasks"],
  "properties": {
    "machines": {"type": "integer", "minimum": 1},
    "tasks": {"type": "array", "minItems": 1, "items": {
      "type": "object",
      "required": ["name", "duration"],
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "duration": {"type": "integer", "minimum": 0}
      }
    }}
  }
}`)

var scheduleSchema = []byte(`{
  "type": "object",
  "required": ["machines", "makespan"],
  "properties": {
    "machines": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    "makespan": {"type": "integer", "minimum": 0}
  }
}`)

var balanceConfigSchema = []byte(`{
  "type": "object",
  "properties": {
    "solver": {"enum": ["lpt", "search", "search.swap", "mip"]},
    "time_limit": {"type": "number", "exclusiveMinimum": 0}
  },
  "additionalProperties": false
}`)

// doc:end types

// doc:begin solvers

// plan is a schedule being built: the machine of each task and the load
// of each machine.
type plan struct {
	w    Workload
	on   []int
	load []int
}

func (p *plan) put(task, machine int) {
	if old := p.on[task]; old >= 0 {
		p.load[old] -= p.w.Tasks[task].Duration
	}
	p.on[task] = machine
	p.load[machine] += p.w.Tasks[task].Duration
}

func (p *plan) busiest() int {
	b := 0
	for m, l := range p.load {
		if l > p.load[b] {
			b = m
		}
	}
	return b
}

func (p *plan) makespan() int { return p.load[p.busiest()] }

func (p *plan) schedule() Schedule {
	s := Schedule{Machines: make([][]string, p.w.Machines), Makespan: p.makespan()}
	for m := range s.Machines {
		s.Machines[m] = []string{}
	}
	for t, m := range p.on {
		s.Machines[m] = append(s.Machines[m], p.w.Tasks[t].Name)
	}
	return s
}

// lpt places the longest tasks first, each on the least loaded machine.
func lpt(w Workload) *plan {
	p := &plan{w: w, on: make([]int, len(w.Tasks)), load: make([]int, w.Machines)}
	order := make([]int, len(w.Tasks))
	for i := range order {
		p.on[i], order[i] = -1, i
	}
	sort.SliceStable(order, func(a, b int) bool { return w.Tasks[order[a]].Duration > w.Tasks[order[b]].Duration })
	for _, t := range order {
		least := 0
		for m, l := range p.load {
			if l < p.load[least] {
				least = m
			}
		}
		p.put(t, least)
	}
	return p
}

// improve makes one move that unloads the busiest machine without making
// another as busy: it moves a task away or, with swaps, trades it for a
// shorter one. It reports whether it found such a move.
func (p *plan) improve(swaps bool) bool {
	busy := p.busiest()
	for t, m := range p.on {
		if m != busy {
			continue
		}
		d := p.w.Tasks[t].Duration
		for other := range p.load {
			if other == busy {
				continue
			}
			if d > 0 && p.load[other]+d < p.load[busy] {
				p.put(t, other)
				return true
			}
			for u, mu := range p.on {
				if swaps && mu == other && p.w.Tasks[u].Duration < d &&
					p.load[other]-p.w.Tasks[u].Duration+d < p.load[busy] {
					p.put(t, other)
					p.put(u, busy)
					return true
				}
			}
		}
	}
	return false
}

// lowerBound is a makespan no schedule beats: the longest task, or the
// total work shared evenly.
func lowerBound(w Workload) int {
	total, longest := 0, 0
	for _, t := range w.Tasks {
		total += t.Duration
		longest = max(longest, t.Duration)
	}
	return max(longest, (total+w.Machines-1)/w.Machines)
}

// result reports a schedule: optimal when it meets the lower bound.
func result(p *plan, bound int) *job.Result {
	status := job.StatusFeasible
	if p.makespan() == bound {
		status = job.StatusOptimal
	}
	return &job.Result{
		Solution:  p.schedule(),
		Status:    status,
		Objective: job.Float(float64(p.makespan())),
		BestBound: job.Float(float64(bound)),
	}
}

// solveLPT is the "lpt" solver: instant, not always optimal.
func solveLPT(ctx context.Context, in *solver.Input) (*job.Result, error) {
	var w Workload
	if err := in.DecodeInstance(&w); err != nil {
		return nil, err
	}
	return result(lpt(w), lowerBound(w)), nil
}

// solveSearch is the "search" solver: from the LPT schedule it moves
// tasks off the busiest machine while that helps; "search.swap" also
// swaps tasks. It publishes each better schedule as an incumbent and
// honours ctx: when stopped or out of time it returns ctx's error, and
// the App answers with the last incumbent.
func solveSearch(ctx context.Context, in *solver.Input) (*job.Result, error) {
	var w Workload
	if err := in.DecodeInstance(&w); err != nil {
		return nil, err
	}
	swaps := in.SubSolver == "swap"
	bound := lowerBound(w)
	p := lpt(w)
	best := p.makespan()
	if err := in.Incumbent(p.schedule(), float64(best)); err != nil {
		in.Logger().Warn("incumbent refused", "err", err)
	}
	moves := 0
	for p.makespan() > bound {
		if err := ctx.Err(); err != nil {
			in.Logger().Info("search stopped", "moves", moves)
			return nil, err
		}
		if !p.improve(swaps) {
			break // a local optimum
		}
		moves++
		in.Log.Progress(solver.ProgressRow{Node: int64(moves),
			BestInteger: job.Float(float64(p.makespan())), CutsBestBound: job.Float(float64(bound))})
		if ms := p.makespan(); ms < best {
			best = ms
			if err := in.Incumbent(p.schedule(), float64(ms)); err != nil {
				in.Logger().Warn("incumbent refused", "err", err)
			}
		}
	}
	in.Logger().Info("search done", "moves", moves, "swaps", swaps, "makespan", p.makespan())
	return result(p, bound), nil
}

// doc:end solvers

// doc:begin app

// balanceApp bundles the schemas, the solvers, the checks and the KPIs.
func balanceApp() *solver.App {
	return &solver.App{
		Name:           "balance",
		Description:    "Spreads tasks over identical machines, minimising the makespan.",
		InstanceSchema: workloadSchema,
		ConfigSchema:   balanceConfigSchema,
		SolutionSchema: scheduleSchema,
		Solvers: map[string]solver.Solver{
			"lpt":    solver.SolverFunc(solveLPT),
			"search": solver.SolverFunc(solveSearch), // also serves "search.swap"
			"mip":    solver.SolverFunc(solveMIP),    // CBC; see "External solvers"
		},
		DefaultSolver: "search.swap",
		InstanceChecks: []solver.Check{
			solver.InstanceCheck("unique_names", func(w Workload) []string {
				seen := map[string]bool{}
				for _, t := range w.Tasks {
					if seen[t.Name] {
						return []string{"task " + t.Name + " appears twice"}
					}
					seen[t.Name] = true
				}
				return nil
			}),
			solver.InstanceCheck("zero_duration", func(w Workload) (msgs []string) {
				for _, t := range w.Tasks {
					if t.Duration == 0 {
						msgs = append(msgs, "task "+t.Name+" takes no time")
					}
				}
				return msgs
			}).AsWarning(),
		},
		SolutionChecks: []solver.Check{
			solver.SolutionCheck("every_task_once", func(w Workload, s Schedule) []string {
				count := map[string]int{}
				for _, tasks := range s.Machines {
					for _, name := range tasks {
						count[name]++
					}
				}
				for _, t := range w.Tasks {
					if count[t.Name] != 1 {
						return []string{fmt.Sprintf("task %s is scheduled %d times", t.Name, count[t.Name])}
					}
				}
				return nil
			}),
		},
		KPIs: []solver.KPI{
			solver.KPIOf("makespan", func(_ Workload, s Schedule) float64 { return float64(s.Makespan) }),
			solver.KPIOf("utilisation", func(w Workload, s Schedule) float64 {
				total := 0
				for _, t := range w.Tasks {
					total += t.Duration
				}
				return float64(total) / float64(w.Machines*max(s.Makespan, 1))
			}),
		},
	}
}

// doc:end app

// doc:begin service

func Example_writingASolver() {
	// A Service on the embedded in-memory Redis; give it a RedisURL in
	// production.
	svc, err := solvekit.New(context.Background(), solvekit.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	if err := svc.Register(balanceApp().Definition()); err != nil {
		panic(err)
	}
	ctx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	go func() { // a worker in this process; more can run anywhere
		if err := svc.Work(ctx); err != nil {
			panic(err) // the queue server could not start
		}
	}()

	instance := json.RawMessage(`{"machines": 2, "tasks": [
		{"name": "a", "duration": 3}, {"name": "b", "duration": 3},
		{"name": "c", "duration": 2}, {"name": "d", "duration": 2},
		{"name": "e", "duration": 2}, {"name": "f", "duration": 0}]}`)
	var e *job.Execution
	for _, name := range []string{"lpt", "search", "search.swap"} {
		e, err = svc.Submit(ctx, solvekit.SubmitRequest{
			JobType:  "balance",
			Instance: instance,
			Config:   json.RawMessage(`{"solver": "` + name + `", "time_limit": 10}`),
		})
		if err != nil {
			panic(err)
		}
		if e, err = svc.Wait(ctx, e.ID); err != nil {
			panic(err)
		}
		solution, _ := svc.Solution(ctx, e.ID)
		fmt.Printf("%-11s %s %-8s makespan=%g bound=%g %s\n",
			e.Solver, e.State, e.SolverStatus, *e.Objective, *e.BestBound, solution)
	}
	// Checks, KPIs and the structured log are stored with the execution.
	for _, c := range e.Checks {
		fmt.Printf("check %s/%s is_warning=%t: %s\n", c.Stage, c.Name, c.IsWarning, c.Message)
	}
	fmt.Println("kpis:", e.KPIs)
	fmt.Println("log_json:", e.SolverLog["status_code"], e.SolverLog["best_solution"], e.SolverLog["best_bound"])
	logs, _ := svc.Logs(ctx, e.ID, "", 10)
	for _, l := range logs {
		fmt.Println("log:", l.Message, l.Attrs["moves"], l.Attrs["makespan"])
	}
	// Output:
	// lpt         succeeded feasible makespan=7 bound=6 {"machines":[["a","c","e"],["b","d","f"]],"makespan":7}
	// search      succeeded feasible makespan=7 bound=6 {"machines":[["a","c","e"],["b","d","f"]],"makespan":7}
	// search.swap succeeded optimal  makespan=6 bound=6 {"machines":[["c","d","e"],["a","b","f"]],"makespan":6}
	// check instance/zero_duration is_warning=true: task f takes no time
	// kpis: map[makespan:6 utilisation:1]
	// log_json: 1 6 6
	// log: search done 1 6
}

// doc:end service

// doc:begin external

// lpModel writes the workload as a MIP in CPLEX LP format: x_t_m = 1 puts
// task t on machine m, and C, the makespan, bounds every machine's load.
func lpModel(w Workload) string {
	var b strings.Builder
	b.WriteString("Minimize\n obj: C\nSubject To\n")
	for t := range w.Tasks {
		fmt.Fprintf(&b, " once_%d:", t)
		for m := range w.Machines {
			if m > 0 {
				b.WriteString(" +")
			}
			fmt.Fprintf(&b, " x_%d_%d", t, m)
		}
		b.WriteString(" = 1\n")
	}
	for m := range w.Machines {
		fmt.Fprintf(&b, " load_%d:", m)
		for t, task := range w.Tasks {
			if task.Duration > 0 {
				fmt.Fprintf(&b, " + %d x_%d_%d", task.Duration, t, m)
			}
		}
		b.WriteString(" - C <= 0\n")
	}
	b.WriteString("Binary\n")
	for t := range w.Tasks {
		for m := range w.Machines {
			fmt.Fprintf(&b, " x_%d_%d\n", t, m)
		}
	}
	b.WriteString("End\n")
	return b.String()
}

// cbc runs the CBC binary in a fresh workspace, with the time limit,
// streaming its output to the job log.
var cbc = external.CBC(external.WithGracePeriod(2 * time.Second))

// solveMIP is a "mip" solver for the balance App: it builds the model,
// lets CBC solve it, and turns CBC's variables back into a Schedule.
func solveMIP(ctx context.Context, in *solver.Input) (*job.Result, error) {
	var w Workload
	if err := in.DecodeInstance(&w); err != nil {
		return nil, err
	}
	model, err := json.Marshal(external.Model{Format: external.FormatLP, Model: lpModel(w)})
	if err != nil {
		return nil, err
	}
	// CBC's own incumbents are external.Solutions, not Schedules: give it a
	// job.Context that logs to this execution's log but stores nothing.
	sub := *in
	sub.Instance = model
	sub.Job = &job.Context{Logger: in.Logger()}
	res, err := cbc.Solve(ctx, &sub)
	if err != nil || res.Solution == nil {
		return res, err // a failure, or infeasible, or stopped before any solution
	}
	var mip external.Solution
	raw, _ := json.Marshal(res.Solution)
	if err := json.Unmarshal(raw, &mip); err != nil {
		return nil, err
	}
	if mip.Variables == nil {
		return nil, job.Fail("CBC was stopped before it wrote its solution", nil)
	}
	p := &plan{w: w, on: make([]int, len(w.Tasks)), load: make([]int, w.Machines)}
	for t := range p.on {
		p.on[t] = -1
	}
	for name, v := range mip.Variables {
		f := strings.Split(name, "_") // x_<task>_<machine>
		if len(f) != 3 || f[0] != "x" || v < 0.5 {
			continue
		}
		t, _ := strconv.Atoi(f[1])
		m, _ := strconv.Atoi(f[2])
		p.put(t, m)
	}
	res.Solution = p.schedule()
	return res, nil
}

// doc:end external
