package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

func Example() {
	reg := registry.New()
	reg.MustRegister(job.Async("knapsack",
		func(ctx context.Context, jc *job.Context) (any, error) { return nil, nil },
		job.WithInstanceSchema([]byte(`{
		  "type": "object",
		  "required": ["capacity", "items"],
		  "properties": {
		    "capacity": {"type": "integer", "minimum": 0},
		    "items": {
		      "type": "array",
		      "items": {
		        "type": "object",
		        "required": ["weight"],
		        "properties": {"weight": {"type": "number", "minimum": 0}}
		      }
		    }
		  }
		}`)),
		job.WithConfigSchema([]byte(`{
		  "type": "object",
		  "properties": {"timeLimit": {"type": "number", "default": 60}}
		}`)),
	))

	knapsack, err := reg.Lookup("knapsack")
	if err != nil {
		panic(err)
	}

	err = knapsack.ValidateInstance(json.RawMessage(`{"capacity": -5, "items": [{"weight": 2}, {"weight": -1}, {}]}`))
	var jerr *job.Error
	if errors.As(err, &jerr) {
		fmt.Println(jerr.Code, jerr.Message)
		for _, v := range jerr.Violations {
			fmt.Printf("  %s (%s): %s\n", v.Pointer, v.Keyword, v.Message)
		}
	}

	config, err := knapsack.PrepareConfig(nil)
	fmt.Println(string(config), err)
	// Output:
	// invalid instance is invalid
	//   /capacity (minimum): must be >= 0 but found -5
	//   /items/1/weight (minimum): must be >= 0 but found -1
	//   /items/2 (required): missing properties: 'weight'
	// {"timeLimit":60} <nil>
}
