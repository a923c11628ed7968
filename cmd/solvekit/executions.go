package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/solvekit/solvekit/job/record"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// submitFlags are submit's options.
type submitFlags struct {
	config, solver, name, queue, id, instanceID, idemKey string
	meta                                                 []string
	timeout                                              time.Duration
	waitFlags
}

// waitFlags are --wait, --follow and --wait-timeout, of the commands that
// start an execution.
type waitFlags struct {
	wait, follow bool
	within       time.Duration
}

// addTo adds the flags to c; waitUsage is --wait's help.
func (f *waitFlags) addTo(c *cobra.Command, waitUsage string) {
	fl := c.Flags()
	fl.BoolVarP(&f.wait, "wait", "w", false, waitUsage)
	fl.BoolVarP(&f.follow, "follow", "f", false, "wait, streaming the log and progress")
	fl.DurationVar(&f.within, "wait-timeout", 0, "give up waiting after this long (0: never)")
}

func (a *app) submitCommand() *cobra.Command {
	var f submitFlags
	c := &cobra.Command{
		Use:   "submit JOB-TYPE [INSTANCE-FILE|-]",
		Short: "Submit an execution",
		Long: `Submit an execution of JOB-TYPE on an instance read from INSTANCE-FILE, or
from stdin when the file is "-" or left out (JSON), or on a stored instance
(--instance-id). A .json file is sent inline; other files (.mps, .lp) are
uploaded as an instance first, which the server converts.

--wait waits until the execution ends; --follow also streams its log and
progress (a live status line on a terminal). With either, the exit code is
3 when the execution ends in a state other than succeeded.`,
		Example: `  solvekit submit echo - <<< '{"message":"hi"}' --wait
  solvekit submit mip model.mps --config '{"solver":"glpk","time_limit":60}' --follow
  solvekit submit knapsack data.json --meta team=ops --output json`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.submit(cmd.Context(), args, f)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "execution config: JSON text, or @FILE")
	fl.StringVar(&f.solver, "solver", "", "solver name (overrides the config's solver)")
	fl.StringVar(&f.name, "name", "", "execution name")
	fl.StringVar(&f.queue, "queue", "", "queue (overrides the job type's)")
	fl.StringVar(&f.id, "id", "", "the execution's id instead of a generated one")
	fl.StringVar(&f.instanceID, "instance-id", "", "run on this stored instance instead of a file")
	fl.StringVar(&f.idemKey, "idempotency-key", "", "submit at most once with this key, however often the command is retried")
	fl.StringArrayVar(&f.meta, "meta", nil, "metadata KEY=VALUE (repeatable)")
	fl.DurationVar(&f.timeout, "timeout", 0, "time limit of each attempt (default: the job type's)")
	f.waitFlags.addTo(c, "wait until the execution ends")
	return c
}

func (a *app) submit(ctx context.Context, args []string, f submitFlags) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	req := api.ExecutionCreate{ID: f.id, JobType: args[0], InstanceID: f.instanceID, Solver: f.solver,
		Name: f.name, Queue: f.queue, Timeout: f.timeout.Seconds()}
	if req.Metadata, err = keyValues(f.meta); err != nil {
		return err
	}
	if req.Config, err = jsonArg(f.config); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	file := "-"
	if len(args) == 2 {
		file = args[1]
	}
	switch {
	case f.instanceID != "" && len(args) == 2:
		return &exitError{code: exitUsage, err: errors.New("give an instance file or --instance-id, not both")}
	case f.instanceID != "":
	case file != "-" && !strings.EqualFold(filepath.Ext(file), ".json"):
		// The server reads model files (.mps, .lp) into an instance.
		data, err := os.Open(file)
		if err != nil {
			return err
		}
		defer data.Close()
		in, err := c.UploadInstance(ctx, filepath.Base(file), data, "", req.JobType)
		if err != nil {
			return fmt.Errorf("upload %s: %w", file, err)
		}
		req.InstanceID = in.ID
	default:
		if req.Instance, err = a.readInstance(file); err != nil {
			return err
		}
	}
	var e *api.Execution
	if f.idemKey != "" {
		e, _, err = c.CreateExecutionOnce(ctx, f.idemKey, req, 0)
	} else {
		e, err = c.CreateExecution(ctx, req, 0)
	}
	if err != nil {
		return err
	}
	return a.await(ctx, c, e, f.waitFlags)
}

// await shows execution e, first waiting for it to end when f asks
// (following its events with --follow); an unsuccessful end is exit
// code 3.
func (a *app) await(ctx context.Context, c *client.Client, e *api.Execution, f waitFlags) error {
	if !f.wait && !f.follow {
		return a.showExecution(e)
	}
	ctx, cancel := bounded(ctx, f.within)
	defer cancel()
	var err error
	if !e.State.Terminal() {
		if f.follow {
			err = a.follow(ctx, c, e.ID, false, e.Attempt)
		}
		if err == nil {
			var w *api.Execution
			if w, err = c.WaitExecution(ctx, e.ID); w != nil {
				e = w
			}
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded) && f.within > 0:
			err = fmt.Errorf("execution %s is still %s after %s", e.ID, e.State, f.within)
		case errors.Is(err, context.Canceled):
			err = fmt.Errorf("interrupted: execution %s goes on (solvekit stop %s stops it)", e.ID, e.ID)
		}
		return err
	}
	if err := a.showExecution(e); err != nil {
		return err
	}
	if e.State != record.StateSucceeded {
		return &exitError{code: exitUnsuccessful, err: fmt.Errorf("execution %s ended %s%s", e.ID, e.State, errorSuffix(e))}
	}
	return nil
}

// bounded is ctx ending after d, when d > 0.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func errorSuffix(e *api.Execution) string {
	if e.Error == nil || e.Error.Message == "" {
		return ""
	}
	return ": " + e.Error.Message
}

// readInstance reads JSON from file ("-": stdin).
func (a *app) readInstance(file string) (json.RawMessage, error) {
	var b []byte
	var err error
	if file == "-" {
		if f, ok := a.stdin.(*os.File); ok && isTerminal(f) {
			return nil, &exitError{code: exitUsage, err: errors.New("no instance: give a file, pipe JSON into stdin or use --instance-id")}
		}
		b, err = io.ReadAll(a.stdin)
		file = "stdin"
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, fmt.Errorf("the instance in %s is not valid JSON", file)
	}
	return b, nil
}

// jsonArg is a flag's JSON: the text itself, or a file's with @FILE.
func jsonArg(v string) (json.RawMessage, error) {
	if v == "" {
		return nil, nil
	}
	b := []byte(v)
	if name, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if b, err = os.ReadFile(name); err != nil {
			return nil, err
		}
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	return b, nil
}

// keyValues parses KEY=VALUE flags.
func keyValues(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("%q: want KEY=VALUE", kv)}
		}
		m[k] = v
	}
	return m, nil
}

// showExecution prints one execution: its JSON, or its fields one a line.
func (a *app) showExecution(e *api.Execution) error {
	return a.show(e, func(w io.Writer) {
		row := func(k, v string) {
			if v != "" && v != "-" {
				fmt.Fprintf(w, "%s:\t%s\n", k, v)
			}
		}
		row("id", e.ID)
		row("job type", e.JobType)
		row("name", e.Name)
		row("state", string(e.State))
		row("solver status", string(e.SolverStatus))
		row("solver", e.Solver)
		row("attempt", fmt.Sprint(e.Attempt))
		row("queue", e.Queue)
		row("owner", e.Owner)
		row("instance", e.InstanceID)
		row("objective", num(e.Objective))
		row("best bound", num(e.BestBound))
		row("gap", num(e.Gap))
		if e.Progress > 0 && !e.State.Terminal() {
			row("progress", fmt.Sprintf("%.0f%% %s", 100*e.Progress, e.ProgressMsg))
		}
		row("created", e.CreatedAt.Local().Format(time.DateTime))
		if e.StartedAt != nil {
			row("started", e.StartedAt.Local().Format(time.DateTime))
		}
		if e.FinishedAt != nil {
			row("finished", e.FinishedAt.Local().Format(time.DateTime))
		}
		row("worker", e.Worker)
		for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
			row("metadata "+k, e.Metadata[k])
		}
		if e.Error != nil {
			row("error", fmt.Sprintf("%s: %s", e.Error.Kind, e.Error.Message))
		}
		if e.CancelReq && !e.State.Terminal() {
			row("stop requested", "yes")
		}
		row("job key", e.JobKey)
		if len(e.Solution) > 0 {
			row("solution", string(e.Solution))
		}
	})
}

func (a *app) getCommand() *cobra.Command {
	return idCommand(a, "get ID", "Show an execution", (*client.Client).GetExecution, a.showExecution)
}

func (a *app) listCommand() *cobra.Command {
	var (
		status, jobType, instanceID, owner, token string
		after, before                             string
		meta                                      []string
		limit                                     int
		all                                       bool
	)
	c := a.clientCommand(&cobra.Command{Use: "list", Short: "List executions, newest first"}, cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) error {
		var err error
		f := client.ExecutionFilter{Status: record.State(status), JobType: jobType, InstanceID: instanceID, Owner: owner}
		if f.Metadata, err = keyValues(meta); err != nil {
			return err
		}
		if f.CreatedAfter, err = parseTime(after); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		if f.CreatedBefore, err = parseTime(before); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		var l *api.ExecutionList
		if all {
			l = &api.ExecutionList{Executions: []*api.Execution{}}
			err = c.EachExecution(ctx, f, limit, func(e *api.Execution) error {
				l.Executions = append(l.Executions, e)
				return nil
			})
			l.TotalEntries = int64(len(l.Executions))
		} else {
			l, err = c.ListExecutions(ctx, f, client.Page{Limit: limit, Token: token})
		}
		if err != nil {
			return err
		}
		if err := a.show(l, func(w io.Writer) { executionTable(w, l.Executions) }); err != nil {
			return err
		}
		if !a.json() && l.NextPageToken != "" {
			fmt.Fprintf(a.errOut, "%d of %s shown; next page: --page-token %s\n", len(l.Executions), total(l.TotalEntries), l.NextPageToken)
		}
		return nil
	})
	c.Example = `  solvekit list --status running
  solvekit list --job-type mip --since 24h --all --output json`
	fl := c.Flags()
	fl.StringVar(&status, "status", "", "only executions in this state (queued, running, succeeded, failed, stopped, timed_out, invalid)")
	fl.StringVar(&jobType, "job-type", "", "only executions of this job type")
	fl.StringVar(&instanceID, "instance-id", "", "only executions on this instance")
	fl.StringVar(&owner, "owner", "", "only executions of this owner")
	fl.StringArrayVar(&meta, "meta", nil, "only executions with metadata KEY=VALUE (repeatable)")
	fl.StringVar(&after, "since", "", "only executions created after this time (RFC 3339, or a duration ago such as 24h)")
	fl.StringVar(&before, "until", "", "only executions created before this time (RFC 3339, or a duration ago)")
	fl.IntVar(&limit, "limit", 0, "page size (default: the server's)")
	fl.StringVar(&token, "page-token", "", "continue a listing after the page that printed this token")
	fl.BoolVar(&all, "all", false, "read every page")
	return c
}

func total(n int64) string {
	if n < 0 {
		return "many"
	}
	return fmt.Sprint(n)
}

// executionTable writes executions one a row.
func executionTable(w io.Writer, es []*api.Execution) {
	fmt.Fprintln(w, "ID\tJOB TYPE\tSTATE\tSOLVER STATUS\tOBJECTIVE\tCREATED\tNAME")
	for _, e := range es {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.JobType, e.State, dash(string(e.SolverStatus)),
			num(e.Objective), e.CreatedAt.Local().Format(time.DateTime), dash(e.Name))
	}
}

// parseTime reads an RFC 3339 time or a duration before now ("" is zero).
func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Parse(time.RFC3339, v)
}

func (a *app) logsCommand() *cobra.Command {
	var follow bool
	c := a.clientCommand(&cobra.Command{
		Use:   "logs ID",
		Short: "Print an execution's log",
		Long: `Print an execution's log records; with -f, keep printing them as they are
written until the execution ends. --output json prints one JSON record a line.`,
	}, cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) error {
		if follow {
			return a.follow(ctx, c, args[0], true, 0)
		}
		after := ""
		for {
			p, err := c.ExecutionLog(ctx, args[0], after, client.Page{Limit: 1000})
			if err != nil {
				return err
			}
			for _, r := range p.Records {
				a.printLog(r)
			}
			if p.Next == "" || len(p.Records) == 0 {
				return nil
			}
			after = p.Next
		}
	})
	c.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log until the execution ends")
	return c
}

// printLog prints one log record: a JSON line, or time, level, message
// and attributes.
func (a *app) printLog(r record.LogRecord) {
	if a.json() {
		b, _ := json.Marshal(r)
		fmt.Fprintf(a.out, "%s\n", b)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-5s %s", r.Time.Local().Format("15:04:05.000"), r.Level, r.Message)
	for _, k := range slices.Sorted(maps.Keys(r.Attrs)) {
		fmt.Fprintf(&b, " %s=%v", k, r.Attrs[k])
	}
	fmt.Fprintln(a.out, b.String())
}

func (a *app) stopCommand() *cobra.Command {
	var wait bool
	c := a.clientCommand(&cobra.Command{
		Use:   "stop ID",
		Short: "Stop an execution",
		Long: `Ask an execution to stop: a queued one stops at once, a running one when its
job sees the cancellation. --wait waits until it has ended.`,
	}, cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) error {
		st, err := c.StopExecution(ctx, args[0])
		if err != nil {
			return err
		}
		if !wait {
			return a.show(st, func(w io.Writer) {
				fmt.Fprintf(w, "id:\t%s\nstate:\t%s\nstop requested:\t%v\n", st.ID, st.State, st.CancelRequested)
			})
		}
		e, err := c.WaitExecution(ctx, args[0])
		if err != nil {
			return err
		}
		return a.showExecution(e)
	})
	c.Flags().BoolVarP(&wait, "wait", "w", false, "wait until the execution has ended")
	return c
}

func (a *app) relaunchCommand() *cobra.Command {
	var (
		config string
		wf     waitFlags
	)
	c := a.clientCommand(&cobra.Command{
		Use:   "relaunch ID",
		Short: "Run a finished execution again",
		Long: `Start a new attempt of a finished execution on the same instance, with its
config or a new one (--config). --wait and --follow work as for submit.`,
	}, cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) error {
		var err error
		req := client.RelaunchRequest{}
		if req.Config, err = jsonArg(config); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		e, err := c.RelaunchExecution(ctx, args[0], req)
		if err != nil {
			return err
		}
		return a.await(ctx, c, e, wf)
	})
	c.Flags().StringVarP(&config, "config", "c", "", "new config: JSON text, or @FILE")
	wf.addTo(c, "wait until the new attempt ends")
	return c
}

func (a *app) solutionCommand() *cobra.Command {
	var part string
	c := idCommand(a, "solution ID", "Print an execution's solution (or its instance, or incumbent) as JSON",
		func(c *client.Client, ctx context.Context, id string) (json.RawMessage, error) {
			return c.ExecutionData(ctx, id, part)
		},
		a.printJSON)
	c.Flags().StringVar(&part, "part", "", `what to print: "" (the solution), "instance" or "incumbent"`)
	return c
}

// printJSON prints raw indented (as it is when it is not valid JSON).
func (a *app) printJSON(raw json.RawMessage) error {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := a.out.Write(buf.Bytes())
	return err
}

func (a *app) deleteCommand() *cobra.Command {
	return a.deleteByID("Delete an execution and everything stored with it", (*client.Client).DeleteExecution)
}

// deleteByID is a "delete ID" command that calls del.
func (a *app) deleteByID(short string, del func(c *client.Client, ctx context.Context, id string) error) *cobra.Command {
	return idCommand(a, "delete ID", short,
		func(c *client.Client, ctx context.Context, id string) (string, error) { return id, del(c, ctx, id) },
		func(id string) error {
			return a.show(map[string]string{"deleted": id}, func(w io.Writer) { fmt.Fprintln(w, "deleted", id) })
		})
}

func (a *app) cleanupCommand() *cobra.Command {
	var before string
	c := &cobra.Command{
		Use:     "cleanup --finished-before TIME",
		Short:   "Delete executions that finished before a time (admin)",
		Example: "  solvekit cleanup --finished-before 720h   # older than 30 days",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := parseTime(before)
			if before == "" {
				err = errors.New("required: nothing is deleted without it")
			}
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--finished-before: %w", err)}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.DeleteFinishedBefore(cmd.Context(), t)
			if err != nil {
				return err
			}
			return a.show(r, func(w io.Writer) { fmt.Fprintf(w, "deleted %d executions\n", r.DeletedEntries) })
		},
	}
	c.Flags().StringVar(&before, "finished-before", "", "RFC 3339 time, or a duration ago such as 720h")
	return c
}
