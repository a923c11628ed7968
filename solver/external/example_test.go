package external_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/solver/external"
)

// Register CBC and GLPK as the "mip" job type and solve a small LP model
// with GLPK through the cornflow-style solver name "mip.glpk". It needs the
// cbc and glpsol binaries (Debian: coinor-cbc, glpk-utils), so it is
// compiled but not run by go test; the package's tests run the same path.
func Example() {
	ctx := context.Background()
	svc, err := solvekit.New(context.Background(), solvekit.Config{})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	if err := svc.Register(external.MIPApp("mip").Definition()); err != nil {
		panic(err)
	}
	go func() {
		if err := svc.Work(ctx); err != nil {
			panic(err) // the queue server could not start
		}
	}()

	model := external.Model{Format: "lp", Model: `Maximize
 obj: 3 x + 2 y
Subject To
 c1: x + y <= 4
 c2: x + 3 y <= 6
Bounds
 x <= 3
General
 x y
End
`}
	in, _ := json.Marshal(model)
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "mip", Instance: in,
		Config: json.RawMessage(`{"solver":"mip.glpk","time_limit":10}`), Timeout: time.Minute})
	if err != nil {
		panic(err)
	}
	e, err = svc.Wait(ctx, e.ID)
	if err != nil {
		panic(err)
	}
	sol, _ := svc.Solution(ctx, e.ID)
	fmt.Println(e.State, e.SolverStatus, string(sol))
	// prints: succeeded optimal {"status":"optimal","objective":11,"variables":{"x":3,"y":1}}
}
