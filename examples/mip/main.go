// Command mip solves two small models, one in MPS and one in LP format,
// with CBC and with GLPK run as external processes (external.MIPApp), on
// the embedded in-memory Redis with a worker in the same process. It
// prints each solver's objective, the solution and a few lines of the
// solver's own output from the execution log.
//
// It needs the solver binaries: "cbc" (Debian/Ubuntu package coinor-cbc)
// and "glpsol" (package glpk-utils). A missing one is reported and its
// runs are skipped; the program still exits 0.
//
//	go run ./examples/mip
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/examples/internal/scaffold"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver/external"
)

// productionMPS: make x chairs and y tables (whole units) for a profit of
// 5x + 4y, with 6x + 4y <= 24 hours of machining and x + 2y <= 6 hours of
// assembly. The LP relaxation peaks at x = 3, y = 1.5 (21), which is not
// integral. By rows of y: y = 0 allows x <= 4 (profit 20); y = 1 allows
// x <= 3 (19); y = 2 allows x <= 2 (18); y = 3 forces x = 0 (12); y >= 4
// breaks assembly. The optimum is 20 at x = 4, y = 0. (The PL bounds
// matter: MPS readers give integer columns without bounds the range
// [0, 1].)
const productionMPS = `NAME          PRODUCTION
OBJSENSE
    MAX
ROWS
 N  profit
 L  machining
 L  assembly
COLUMNS
    MARKER    'MARKER'  'INTORG'
    x         profit    5   machining  6
    x         assembly  1
    y         profit    4   machining  4
    y         assembly  2
    MARKER    'MARKER'  'INTEND'
RHS
    rhs       machining 24  assembly   6
BOUNDS
 PL bnd       x
 PL bnd       y
ENDATA
`

// dietLP: buy b portions of bread and m of milk (whole portions, at most
// 10 each) at cost 3b + 4m, covering 8 units of energy (2b + m) and 6 of
// protein (b + 2m). The LP optimum is b = 10/3, m = 4/3 (15.33). By rows
// of m: m = 0 needs b >= 6 (18); m = 1 needs b >= 4 (16); m = 2 needs
// b >= 3 (17); m = 3 needs b >= 3 (21); more milk costs more. The
// optimum is 16 at b = 4, m = 1.
const dietLP = `\ diet problem
Minimize
 cost: 3 b + 4 m
Subject To
 energy:  2 b + m >= 8
 protein: b + 2 m >= 6
Bounds
 0 <= b <= 10
 0 <= m <= 10
General
 b m
End
`

func main() { scaffold.Main("mip", 50*time.Second, run) }

func run(ctx context.Context) error {
	// One job type, "mip", whose config picks "cbc" or "glpk"; a worker
	// in this process runs it.
	svc, stop, err := scaffold.Start(ctx, true, external.MIPApp("mip").Definition())
	if err != nil {
		return err
	}
	defer stop()

	engines := []struct{ name, binary, pkg string }{
		{"cbc", "cbc", "coinor-cbc"},
		{"glpk", "glpsol", "glpk-utils"},
	}
	models := []struct {
		title string
		model external.Model
		want  float64
	}{
		{"production.mps (max)", external.Model{Format: external.FormatMPS, Model: productionMPS}, 20},
		{"diet.lp (min)", external.Model{Format: external.FormatLP, Model: dietLP}, 16},
	}
	for _, m := range models {
		fmt.Printf("== %s, optimum worked out by hand: %g\n", m.title, m.want)
		instance, err := json.Marshal(m.model)
		if err != nil {
			return err
		}
		for _, eng := range engines {
			if _, err := exec.LookPath(eng.binary); err != nil {
				fmt.Printf("%-5s skipped: %q is not installed; install the Debian package %s (apt-get install %s)\n", eng.name, eng.binary, eng.pkg, eng.pkg)
				continue
			}
			e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "mip", Instance: instance,
				Config: json.RawMessage(`{"solver": "` + eng.name + `", "time_limit": 20}`)})
			if err != nil {
				return err
			}
			if e, err = svc.Wait(ctx, e.ID); err != nil {
				return err
			}
			if err := report(ctx, svc, e, m.want); err != nil {
				return err
			}
		}
		fmt.Println()
	}
	return nil
}

// report prints one execution: state, status, objective, variables and
// the first lines of the solver's output.
func report(ctx context.Context, svc *solvekit.Service, e *job.Execution, want float64) error {
	if e.State != job.StateSucceeded {
		msg := ""
		if e.Error != nil {
			msg = e.Error.Message
		}
		return fmt.Errorf("%s: execution %s %s: %s", e.Solver, e.State, e.SolverStatus, msg)
	}
	sol, err := scaffold.Solution[external.Solution](ctx, svc, e.ID)
	if err != nil {
		return err
	}
	if e.Objective == nil || math.Abs(*e.Objective-want) > 1e-6 {
		return fmt.Errorf("%s found objective %v, not the hand optimum %g", e.Solver, e.Objective, want)
	}
	fmt.Printf("%-5s %s %s objective=%g (the hand optimum)%s  [%s %v]\n", e.Solver, e.State, e.SolverStatus, *e.Objective,
		scaffold.Pairs(sol.Variables), e.SolverLog["solver"], e.SolverLog["version"])
	logs, err := svc.Logs(ctx, e.ID, "", 1000)
	if err != nil {
		return err
	}
	shown := 0
	for _, l := range logs {
		if l.Attrs["stream"] != "stdout" || !interesting(l.Message) {
			continue
		}
		fmt.Printf("      | %s\n", l.Message)
		if shown++; shown == 3 {
			break
		}
	}
	return nil
}

// interesting picks solver output lines worth showing.
func interesting(line string) bool {
	for _, s := range []string{"Result -", "Objective value", "Enumerated nodes", "INTEGER OPTIMAL", "mip =", "Time used", "OPTIMAL"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}
