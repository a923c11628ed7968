package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solver/external"
)

// builtinJobTypes are the job types serve and work register: "mip" (MPS
// and LP models solved by CBC or GLPK, run as external processes; see
// package solver/external) and "echo".
func builtinJobTypes() []*job.Definition {
	return []*job.Definition{external.MIPApp("mip").Definition(), echoJob()}
}

// echoConfig is the config of echo.
type echoConfig struct {
	// Seconds spreads the run over this long, in echoSteps steps.
	Seconds float64 `json:"seconds"`
	// Fail makes the run fail at its end (an expected failure).
	Fail bool `json:"fail"`
}

// echoSteps is how many steps (progress reports, log lines and
// incumbents) an echo run with seconds > 0 takes.
const echoSteps = 10

// echoJob is an async job that answers with its instance, whatever JSON
// it is. Its config makes it a stand-in for a real solver, to try a
// deployment and its clients with: "seconds" spreads the run over that
// long with a progress report, a log line and an incumbent per step, and
// honours a stop; "fail" ends it failed.
func echoJob() *job.Definition {
	return job.Async("echo", func(ctx context.Context, jc *job.Context) (any, error) {
		var cfg echoConfig
		if err := jc.DecodeConfig(&cfg); err != nil {
			return nil, err
		}
		jc.Logger.Info("echo", "bytes", len(jc.Instance), "seconds", cfg.Seconds)
		if cfg.Seconds > 0 {
			step := time.Duration(cfg.Seconds * float64(time.Second) / echoSteps)
			for i := 1; i <= echoSteps; i++ {
				select {
				case <-ctx.Done():
					jc.Logger.Info("stopped", "step", i)
					return nil, ctx.Err()
				case <-time.After(step):
				}
				jc.Progress(float64(i)/echoSteps, fmt.Sprintf("step %d of %d", i, echoSteps))
				if err := jc.Incumbent(jc.Instance, float64(i)); err != nil {
					jc.Logger.Warn("incumbent refused", "err", err)
				}
				jc.Logger.Info("step", "step", i)
			}
		}
		if cfg.Fail {
			return nil, job.Fail("echo was asked to fail", map[string]bool{"fail": true})
		}
		return json.RawMessage(jc.Instance), nil
	},
		job.WithDescription("Answers with its instance (any JSON); config seconds makes it take that long, fail makes it fail."),
		job.WithConfigSchema([]byte(`{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "seconds": {"type": "number", "minimum": 0, "maximum": 3600, "default": 0},
    "fail": {"type": "boolean", "default": false}
  }
}`)))
}
