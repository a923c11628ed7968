package external

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// CBC returns a solver that runs COIN-OR CBC (the "cbc" binary, Debian
// package coinor-cbc) on a Model instance.
//
// It runs "cbc model [max|min] [timeMode elapsed seconds N] [args] solve
// solu solution.txt" in a fresh workspace, streams CBC's output into the
// job log, publishes every "Integer solution of X found" as an incumbent,
// fills the structured log from the Cbc0010I node reports, and reads the
// solution file. On stop CBC gets SIGINT, on which it ends the search and
// still writes its best solution; after the grace period its process group
// is killed and the best objective from the log is kept. An optimal run's
// best bound is its objective (the search proved it; CBC and glpsol print
// no final bound), not the last node report's, which the progress table
// keeps; so is GLPK's.
func CBC(opts ...Option) solver.Solver {
	return engineSolver(cbcEngine, opts)
}

var cbcEngine = &engine{
	name:    "cbc",
	pkg:     "coinor-cbc",
	binary:  func(o *options) string { return o.cbcBinary },
	args:    cbcArgs,
	parse:   parseCBCLine,
	readSol: func(r *runSpec) (*fileSolution, error) { return readCBCSolution(r.solPath) },
	told:    func(limit time.Duration) time.Duration { return limit }, // seconds with decimals
}

func cbcArgs(r *runSpec) []string {
	args := []string{r.modelPath}
	if r.model.flag {
		args = append(args, r.model.sense) // "max" / "min" are CBC commands
	}
	if r.limit > 0 {
		args = append(args, "timeMode", "elapsed", "seconds", strconv.FormatFloat(r.limit.Seconds(), 'f', 3, 64))
	}
	args = append(args, r.extra...)
	return append(args, "solve", "solu", r.solPath)
}

var (
	cbcVersion  = regexp.MustCompile(`^Version:\s*(\S+)`)
	cbcMatrix   = regexp.MustCompile(`^Problem .*has (\d+) rows, (\d+) columns and (\d+) elements`)
	cbcRelax    = regexp.MustCompile(`^Continuous objective value is (\S+)`)
	cbcInteger  = regexp.MustCompile(`Integer solution of (\S+) found.*? and (\d+) nodes \(([\d.]+) seconds\)`)
	cbcNodes    = regexp.MustCompile(`^Cbc0010I After (\d+) nodes, (\d+) on tree, (\S+) best solution, best possible (\S+) \(([\d.]+) seconds\)`)
	cbcSearch   = regexp.MustCompile(`^Cbc000[15]I .*?(?:best possible (\S+?)\))?,? took \d+ iterations and (\d+) nodes`)
	cbcResult   = regexp.MustCompile(`^Result - (.+?)\s*$`)
	cbcBound    = regexp.MustCompile(`^(?:Lower|Upper) bound:\s+(\S+)`)
	cbcEnumNode = regexp.MustCompile(`^Enumerated nodes:\s+(\d+)`)
	cbcWall     = regexp.MustCompile(`^Time \(Wallclock seconds\):\s+(\S+)`)
)

// parseCBCLine reads one line of CBC's output. CBC minimises internally:
// on a maximisation its node and solution reports carry the negated
// objective, while the summary lines use the model's sense.
func parseCBCLine(t *tracker, line string) {
	internal := func(s string) (float64, bool) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v >= 1e49 || v <= -1e49 {
			return 0, false
		}
		if t.sense == Maximize {
			v = -v
		}
		return v, true
	}
	switch {
	case strings.HasPrefix(line, "Cbc0010I"):
		m := cbcNodes.FindStringSubmatch(line)
		if m == nil {
			return
		}
		row := solver.ProgressRow{Node: atoi(m[1]), NodesLeft: atoi(m[2]), Time: atof(m[5])}
		if v, ok := internal(m[3]); ok {
			row.BestInteger = job.Float(v)
		}
		if v, ok := internal(m[4]); ok {
			row.CutsBestBound = job.Float(v)
		}
		t.row(row)
	case strings.Contains(line, "Integer solution of"):
		m := cbcInteger.FindStringSubmatch(line)
		if m == nil {
			return
		}
		v, ok := internal(m[1])
		if !ok {
			return
		}
		if t.better(v, t.best) {
			t.row(solver.ProgressRow{Node: atoi(m[2]), BestInteger: job.Float(v), Time: atof(m[3])})
		}
		t.incumbent(v)
	case strings.HasPrefix(line, "Cbc0001I") || strings.HasPrefix(line, "Cbc0005I"):
		if m := cbcSearch.FindStringSubmatch(line); m != nil {
			t.in.Log.Update(func(l *solver.Log) {
				l.Nodes = max(l.Nodes, atoi(m[2]))
				if v, ok := internal(m[1]); ok {
					l.BestBound = job.Float(v)
				}
			})
		}
	default:
		t.in.Log.Update(func(l *solver.Log) {
			if m := cbcVersion.FindStringSubmatch(line); m != nil {
				l.Version = m[1]
			} else if m := cbcMatrix.FindStringSubmatch(line); m != nil {
				l.Matrix = &solver.Matrix{Constraints: atoi(m[1]), Variables: atoi(m[2]), Nonzeros: atoi(m[3])}
			} else if m := cbcRelax.FindStringSubmatch(line); m != nil && l.FirstRelaxed == nil {
				if v, err := strconv.ParseFloat(m[1], 64); err == nil {
					l.FirstRelaxed = job.Float(v)
				}
			} else if m := cbcResult.FindStringSubmatch(line); m != nil {
				l.Status = m[1]
				low := strings.ToLower(m[1])
				switch {
				case strings.Contains(low, "time limit"):
					t.timeLimit = true
				case strings.Contains(low, "infeasible"):
					t.infeasible = true
				case strings.Contains(low, "unbounded"):
					t.unbounded = true
				}
			} else if m := cbcBound.FindStringSubmatch(line); m != nil {
				if v, err := strconv.ParseFloat(m[1], 64); err == nil && v < 1e49 && v > -1e49 {
					l.BestBound = job.Float(v)
				}
			} else if m := cbcEnumNode.FindStringSubmatch(line); m != nil {
				l.Nodes = max(l.Nodes, atoi(m[1]))
			} else if m := cbcWall.FindStringSubmatch(line); m != nil {
				l.Time = atof(m[1])
			}
		})
	}
}

// readCBCSolution parses CBC's "solu" file: a header "<status> - objective
// value <v>" and one line per (non-zero) column "<index> <name> <value>
// <reduced cost>", possibly flagged "**" when infeasible. A missing file
// yields nil.
func readCBCSolution(path string) (*fileSolution, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	if !sc.Scan() {
		return nil, sc.Err() // empty file: the solver died while writing
	}
	sol := parseCBCHeader(sc.Text())
	if sol.feasible {
		sol.variables = map[string]float64{}
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 0 && fields[0] == "**" {
				fields = fields[1:]
			}
			if len(fields) < 3 {
				continue
			}
			v, err := strconv.ParseFloat(fields[2], 64)
			if err != nil || v == 0 {
				continue
			}
			sol.variables[fields[1]] = v
		}
	}
	return sol, sc.Err()
}

// parseCBCHeader reads the first line of a CBC solution file.
func parseCBCHeader(h string) *fileSolution {
	text, obj, _ := strings.Cut(h, " - objective value ")
	text = strings.TrimSpace(text)
	sol := &fileSolution{text: text}
	if v, err := strconv.ParseFloat(strings.TrimSpace(obj), 64); err == nil {
		sol.objective = job.Float(v)
	}
	noInteger := strings.Contains(text, "no integer solution")
	switch {
	case strings.HasPrefix(text, "Optimal"):
		sol.status, sol.feasible = job.StatusOptimal, true
	case strings.HasPrefix(text, "Infeasible"), strings.HasPrefix(text, "Integer infeasible"):
		sol.status = job.StatusInfeasible
	case strings.HasPrefix(text, "Unbounded"):
		sol.status = job.StatusUnbounded
	case strings.HasPrefix(text, "Stopped on time"):
		sol.status, sol.feasible, sol.stopped = job.StatusTimeLimit, !noInteger, true
	case strings.HasPrefix(text, "Stopped"): // on iterations, difficulties, ctrl-c
		sol.status, sol.feasible, sol.stopped = job.StatusFeasible, !noInteger, true
	default: // "Status unknown"
		sol.status = job.StatusNotSolved
	}
	if !sol.feasible {
		sol.objective = nil
	}
	return sol
}

func atoi(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func atof(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}
