// Command echo shows a ckan-service-provider style sync job: it runs
// inside Submit (and inside the REST request that submits it), is
// recorded like any execution, and answers with its result. It runs on
// the embedded in-memory Redis and needs no worker. It shows:
//
//  1. a valid request answered at once with the result;
//  2. the config schema's defaults filling what the request left out;
//  3. invalid input refused with every violation, nothing stored;
//  4. an expected failure (job.Fail) recorded as failed, with details.
//
// Run it with:
//
//	go run ./examples/echo
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/examples/internal/scaffold"
	"github.com/solvekit/solvekit/job"
)

// Request is the instance: what to echo.
type Request struct {
	Message string `json:"message" validate:"required"`
	Repeat  int    `json:"repeat" validate:"gte=1,lte=10"`
}

// Options is the config.
type Options struct {
	Upper     bool   `json:"upper"`
	Separator string `json:"separator"`
}

// Echo is the solution.
type Echo struct {
	Echo   string `json:"echo"`
	Length int    `json:"length"`
}

var (
	requestSchema = []byte(`{
  "type": "object",
  "required": ["message", "repeat"],
  "additionalProperties": false,
  "properties": {
    "message": {"type": "string", "minLength": 1, "maxLength": 200},
    "repeat": {"type": "integer", "minimum": 1, "maximum": 10}
  }
}`)
	optionsSchema = []byte(`{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "upper": {"type": "boolean", "default": false},
    "separator": {"type": "string", "maxLength": 3, "default": " "}
  }
}`)
	echoSchema = []byte(`{
  "type": "object",
  "required": ["echo", "length"],
  "properties": {"echo": {"type": "string"}, "length": {"type": "integer", "minimum": 0}}
}`)
)

// echoJob is a typed sync job: the instance arrives decoded (after the
// schema check) and the returned Echo is checked against its schema.
func echoJob() *job.Definition {
	return job.SyncOf("echo", func(ctx context.Context, jc *job.Context, req Request) (Echo, error) {
		var opt Options
		if err := jc.DecodeConfig(&opt); err != nil {
			return Echo{}, err
		}
		if strings.Contains(strings.ToLower(req.Message), "forbidden") {
			return Echo{}, job.Fail("this message cannot be echoed", map[string]string{"word": "forbidden"})
		}
		msg := req.Message
		if opt.Upper {
			msg = strings.ToUpper(msg)
		}
		parts := make([]string, req.Repeat)
		for i := range parts {
			parts[i] = msg
		}
		out := strings.Join(parts, opt.Separator)
		jc.Log().Info("echoed", "repeat", req.Repeat, "upper", opt.Upper, "length", len(out))
		return Echo{Echo: out, Length: len(out)}, nil
	},
		job.WithDescription("Repeats a message, ckan-service-provider style"),
		job.WithInstanceSchema(requestSchema),
		job.WithConfigSchema(optionsSchema),
		job.WithSolutionSchema(echoSchema),
		job.WithTimeout(5*time.Second))
}

func main() { scaffold.Main("echo", 30*time.Second, run) }

func run(ctx context.Context) error {
	// A sync job needs no worker: Submit runs it.
	svc, stop, err := scaffold.Start(ctx, false, echoJob())
	if err != nil {
		return err
	}
	defer stop()

	fmt.Println("== 1. Submit answers with the result")
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo",
		Instance: json.RawMessage(`{"message": "hello", "repeat": 3}`),
		Config:   json.RawMessage(`{"upper": true, "separator": ", "}`)})
	if err != nil {
		return err
	}
	if err := report(ctx, svc, e); err != nil {
		return err
	}

	fmt.Println("\n== 2. defaults from the config schema fill the config")
	e, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"message": "hi", "repeat": 2}`)})
	if err != nil {
		return err
	}
	if err := report(ctx, svc, e); err != nil {
		return err
	}

	fmt.Println("\n== 3. invalid input is refused with every violation")
	_, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo",
		Instance: json.RawMessage(`{"message": "", "repeat": 99, "colour": "red"}`),
		Config:   json.RawMessage(`{"upper": "yes"}`)})
	var je *job.Error
	if !errors.As(err, &je) {
		return fmt.Errorf("expected a validation error, got %v", err)
	}
	fmt.Printf("refused (%s): %s\n", je.Code, je.Message)
	for _, v := range je.Violations {
		fmt.Printf("  %-20s %-20s %s\n", v.Pointer, v.Keyword, v.Message)
	}
	_, total, err := svc.List(ctx, solvekit.ListOptions{})
	if err != nil {
		return err
	}
	fmt.Printf("executions stored: %d (the refused request stored nothing)\n", total)

	fmt.Println("\n== 4. an expected failure is recorded, not retried")
	e, err = svc.Submit(ctx, solvekit.SubmitRequest{JobType: "echo", Instance: json.RawMessage(`{"message": "forbidden words", "repeat": 1}`)})
	if err != nil {
		return err
	}
	return report(ctx, svc, e)
}

func report(ctx context.Context, svc *solvekit.Service, e *job.Execution) error {
	fmt.Printf("execution %s: kind=%s state=%s config=%s\n", e.ID, e.Kind, e.State, e.Config)
	if e.Error != nil {
		details, _ := json.Marshal(e.Error.Details)
		fmt.Printf("  error %s: %s %s\n", e.Error.Kind, e.Error.Message, details)
		return nil
	}
	sol, err := svc.Solution(ctx, e.ID)
	if err != nil {
		return err
	}
	fmt.Printf("  result %s\n", sol)
	return scaffold.Logs(ctx, svc, e.ID, 5, "  ")
}
