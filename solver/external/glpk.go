package external

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver"
)

// GLPK returns a solver that runs GLPK's glpsol (Debian package glpk-utils)
// on a Model instance.
//
// It runs "glpsol --lp|--freemps|--mps model [--max|--min] [--tmlim N]
// [args] -w solution.txt --wglp names.glp": the solution is read from
// GLPK's machine-readable solution file (-w) and the variable names from
// the problem written in GLPK format, which is robust to long names (the
// printable -o report wraps them). An MPS model is read as free MPS first;
// if glpsol cannot read it so, it is read again as fixed MPS (fields in
// fixed columns, names that may contain spaces; glpsol drops the spaces
// from the names, as CBC does).
//
// glpsol takes its time limit in whole seconds: it is told the time left
// (less a little headroom) rounded down, stops on its own and writes its
// best solution. With less than a second left it cannot be told, so it is
// stopped at the deadline instead. glpsol has no graceful stop on a
// signal: a stopped glpsol (a stop, or a deadline under a second) keeps
// only the best objective read from its log ("variables" absent).
func GLPK(opts ...Option) solver.Solver {
	return engineSolver(glpkEngine, opts)
}

var glpkEngine = &engine{
	name:     "glpk",
	pkg:      "glpk-utils",
	binary:   func(o *options) string { return o.glpkBinary },
	args:     glpkArgs,
	parse:    parseGLPKLine,
	readSol:  readGLPKSolution,
	told:     glpkLimit,
	fallback: glpkFixedMPS,
}

// glpkLimit is the time limit glpsol is told for a wanted limit: whole
// seconds, rounded down (--tmlim); 0 under a second.
func glpkLimit(limit time.Duration) time.Duration { return limit.Truncate(time.Second) }

// glpkFixedMPS switches an MPS model glpsol could not read as free MPS to
// fixed MPS, and reports whether it did.
func glpkFixedMPS(r *runSpec, t *tracker) bool {
	if r.model.format != FormatMPS || r.fixedMPS || !t.readError {
		return false
	}
	r.fixedMPS = true
	return true
}

func glpkArgs(r *runSpec) []string {
	in := "--freemps"
	switch {
	case r.model.format == FormatLP:
		in = "--lp"
	case r.fixedMPS:
		in = "--mps"
	}
	args := []string{in, r.modelPath}
	if r.model.flag {
		args = append(args, "--"+r.model.sense)
	}
	if r.limit > 0 {
		// Under a second glpsol is stopped at the deadline; --tmlim 1
		// only bounds a glpsol whose worker died.
		secs := max(1, int(glpkLimit(r.limit)/time.Second))
		args = append(args, "--tmlim", strconv.Itoa(secs))
	}
	args = append(args, r.extra...)
	return append(args, "-w", r.solPath, "--wglp", r.namesPath)
}

var (
	glpkVersion = regexp.MustCompile(`GLPK LP/MIP Solver,? v?(\S+)`)
	glpkMatrix  = regexp.MustCompile(`^(\d+) rows?, (\d+) columns?, (\d+) non-zeros?`)
	// "+  1234: mip =   1.1e+01 <=   1.2e+01   8.3% (12; 34)", ">>>>>" marks a
	// new incumbent; "not found yet" and "tree is empty" stand for values.
	glpkMIP       = regexp.MustCompile(`^[+ ]\s*(\d+): (mip =|>>>>>)\s+(not found yet|\S+)\s+[<>]=\s+(tree is empty|\S+)\s*(?:(\S+)%)?\s*\((\d+); (\d+)\)`)
	glpkHeuristic = regexp.MustCompile(`^Solution found by heuristic: (\S+)`)
	glpkLP        = regexp.MustCompile(`^[* ]\s*\d+: obj = \s*(\S+)`)
	glpkTime      = regexp.MustCompile(`^Time used:\s+(\S+) secs`)
	glpkStatus    = regexp.MustCompile(`^[A-Z][A-Z ;]*(SOLUTION|LIMIT|TERMINATED)[A-Z ;]*$`)
	// glpsol could not read the model file ("MPS file processing error").
	glpkReadError = regexp.MustCompile(`^(MPS|CPLEX LP) file processing error`)
)

// parseGLPKLine reads one line of glpsol's output (values in the model's
// sense).
func parseGLPKLine(t *tracker, line string) {
	num := func(s string) *float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
		return job.Float(v)
	}
	if m := glpkMIP.FindStringSubmatch(line); m != nil {
		row := solver.ProgressRow{Node: atoi(m[7]), NodesLeft: atoi(m[6]), BestInteger: num(m[3]), CutsBestBound: num(m[4])}
		if m[5] != "" {
			if g := num(m[5]); g != nil {
				row.Gap = job.Float(*g / 100)
			}
		}
		t.row(row)
		if m[2] == ">>>>>" && row.BestInteger != nil {
			t.incumbent(*row.BestInteger)
		}
		return
	}
	if m := glpkHeuristic.FindStringSubmatch(line); m != nil {
		if v := num(m[1]); v != nil && t.better(*v, t.best) {
			t.row(solver.ProgressRow{Node: t.nodes, BestInteger: v})
			t.incumbent(*v)
		}
		return
	}
	if m := glpkLP.FindStringSubmatch(line); m != nil {
		t.lastLP = num(m[1])
		return
	}
	if glpkReadError.MatchString(line) {
		t.readError = true
		return
	}
	t.in.Log.Update(func(l *solver.Log) {
		switch {
		case glpkStatus.MatchString(line):
			l.Status = line
			switch {
			case strings.Contains(line, "TIME LIMIT"):
				t.timeLimit = true
			case strings.Contains(line, "NO PRIMAL FEASIBLE"), strings.Contains(line, "NO INTEGER FEASIBLE"):
				t.infeasible = true
			case strings.Contains(line, "UNBOUNDED"), strings.Contains(line, "NO DUAL FEASIBLE"):
				t.unbounded = true
			case line == "OPTIMAL LP SOLUTION FOUND" && l.FirstRelaxed == nil && t.lastLP != nil:
				l.FirstRelaxed = job.Float(*t.lastLP)
			}
		case l.Version == "" && glpkVersion.MatchString(line):
			l.Version = glpkVersion.FindStringSubmatch(line)[1]
		case l.Matrix == nil && glpkMatrix.MatchString(line):
			m := glpkMatrix.FindStringSubmatch(line)
			l.Matrix = &solver.Matrix{Constraints: atoi(m[1]), Variables: atoi(m[2]), Nonzeros: atoi(m[3])}
		case glpkTime.MatchString(line):
			l.Time = atof(glpkTime.FindStringSubmatch(line)[1])
		}
	})
}

// readGLPKSolution parses the -w solution file (GLPK >= 4.57 format) with
// the column names from the --wglp problem file. A missing solution file
// yields nil.
func readGLPKSolution(r *runSpec) (*fileSolution, error) {
	data, err := os.ReadFile(r.solPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names, err := readGLPKNames(r.namesPath)
	if err != nil {
		return nil, err
	}
	return parseGLPKSolution(string(data), names)
}

// readGLPKNames reads "n j <col> <name>" lines of a GLPK-format problem.
func readGLPKNames(path string) (map[int]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("glpk names: %w", err)
	}
	defer f.Close()
	names := map[int]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "n j ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		j, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		names[j] = f[3]
	}
	return names, sc.Err()
}

// parseGLPKSolution parses a GLPK solution file:
//
//	s mip <rows> <cols> <o|f|n|u> <obj>          then  j <col> <value>
//	s bas <rows> <cols> <pst> <dst> <obj>        then  j <col> <stat> <prim> <dual>
//	s ipt <rows> <cols> <pst> <dst> <obj>        then  j <col> <prim> <dual>
func parseGLPKSolution(text string, names map[int]string) (*fileSolution, error) {
	var sol *fileSolution
	kind := ""
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "s":
			if len(f) < 6 {
				return nil, fmt.Errorf("glpk solution: bad status line %q", line)
			}
			kind = f[1]
			sol = glpkStatusLine(kind, f[4:])
		case "j":
			if sol == nil || !sol.feasible || len(f) < 3 {
				continue
			}
			idx := 2 // mip: j col val; ipt: j col prim dual
			if kind == "bas" {
				idx = 3 // j col stat prim dual
			}
			if len(f) <= idx {
				continue
			}
			col, err := strconv.Atoi(f[1])
			if err != nil {
				continue
			}
			v, err := strconv.ParseFloat(f[idx], 64)
			if err != nil || v == 0 {
				continue
			}
			name, ok := names[col]
			if !ok {
				name = "C" + f[1]
			}
			sol.variables[name] = v
		}
	}
	if sol == nil {
		return nil, errors.New("glpk solution: no status line")
	}
	return sol, nil
}

// glpkStatusLine maps the fields after "s <kind> <rows> <cols>".
func glpkStatusLine(kind string, f []string) *fileSolution {
	sol := &fileSolution{variables: map[string]float64{}}
	obj := job.Float(atof(f[len(f)-1]))
	switch kind {
	case "mip":
		switch f[0] {
		case "o":
			sol.status, sol.feasible, sol.text = job.StatusOptimal, true, "INTEGER OPTIMAL"
		case "f":
			sol.status, sol.feasible, sol.text = job.StatusFeasible, true, "INTEGER FEASIBLE"
		case "n":
			sol.status, sol.text = job.StatusInfeasible, "INTEGER EMPTY"
		default:
			sol.status, sol.text = job.StatusNotSolved, "INTEGER UNDEFINED"
		}
	default: // bas, ipt: primal and dual status
		pst, dst := f[0], ""
		if len(f) > 2 {
			dst = f[1]
		}
		switch {
		case pst == "o" || (pst == "f" && dst == "f"):
			sol.status, sol.feasible, sol.text = job.StatusOptimal, true, "OPTIMAL"
		case pst == "f" && dst == "n":
			sol.status, sol.text = job.StatusUnbounded, "UNBOUNDED"
		case pst == "f":
			sol.status, sol.feasible, sol.text = job.StatusFeasible, true, "FEASIBLE"
		case pst == "n" || pst == "i":
			sol.status, sol.text = job.StatusInfeasible, "INFEASIBLE"
		default:
			sol.status, sol.text = job.StatusNotSolved, "UNDEFINED"
		}
	}
	if sol.feasible {
		sol.objective = obj
	}
	return sol
}
