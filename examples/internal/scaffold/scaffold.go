// Package scaffold is what the example programs share and what is not the
// point of any of them: a main that gives up after a while, a Service on
// the embedded in-memory Redis with a worker in the same process, and
// the printing of numbers, log attributes and log lines.
package scaffold

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// Main runs run with a context that ends after timeout; on an error it
// prints it after the program's name and exits 1.
func Main(name string, timeout time.Duration, run func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := run(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Start returns a Service on the embedded in-memory Redis (the zero
// Config, logging only errors) with defs registered and, if work, a
// worker in this process. stop ends the worker (printing its error, if
// it failed) and closes the Service.
func Start(ctx context.Context, work bool, defs ...*job.Definition) (svc *solvekit.Service, stop func(), err error) {
	svc, err = solvekit.New(ctx, solvekit.Config{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := svc.Register(defs...); err != nil {
		svc.Close()
		return nil, nil, err
	}
	if !work {
		return svc, func() { svc.Close() }, nil
	}
	workCtx, stopWork := context.WithCancel(ctx)
	workDone := make(chan error, 1)
	go func() { workDone <- svc.Work(workCtx) }()
	return svc, func() {
		stopWork()
		if err := <-workDone; err != nil { // e.g. its queue server could not start
			fmt.Fprintln(os.Stderr, "worker:", err)
		}
		svc.Close()
	}, nil
}

// Solution reads execution id's solution into a T.
func Solution[T any](ctx context.Context, svc *solvekit.Service, id string) (T, error) {
	var v T
	raw, err := svc.Solution(ctx, id)
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	return v, err
}

// Val formats *p with verb (as fmt does), or "-" when p is nil.
func Val(p *float64, verb string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(verb, *p)
}

// Pairs formats m as " key=value" pairs in key order (values as %v
// prints them: a whole JSON number prints as an integer).
func Pairs[V any](m map[string]V) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, " %s=%v", k, m[k])
	}
	return b.String()
}

// Logs prints the first n lines of an execution's log, each as
// "<indent>log LEVEL message key=value...".
func Logs(ctx context.Context, svc *solvekit.Service, id string, n int, indent string) error {
	logs, err := svc.Logs(ctx, id, "", n)
	if err != nil {
		return err
	}
	for _, l := range logs {
		fmt.Printf("%slog %-5s %s%s\n", indent, l.Level, l.Message, Pairs(l.Attrs))
	}
	return nil
}
