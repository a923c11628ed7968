// Command solvekit runs and operates a solvekit service.
//
// It serves the REST API (serve, optionally with a worker), runs workers
// (work) for the built-in job types (the CBC/GLPK "mip" app and "echo"),
// and calls a running API as a client: submit, get, list, logs, stop,
// relaunch, solution, job-types, queues, workers, users, api-keys,
// cleanup, and experiment and instance-set (docs/experiments.md). Install
// it with
//
//	go install github.com/solvekit/solvekit/cmd/solvekit@latest
//
// The client commands find the server and the token in flags (--server,
// --token), then in the environment (SOLVEKIT_SERVER, SOLVEKIT_TOKEN), then
// in the config file (~/.config/solvekit/config.json, written by
// `solvekit login`). docs/operations.md has the command reference.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes besides 0 (success) and 1 (an error).
const (
	// exitUsage is a command line that does not parse.
	exitUsage = 2
	// exitUnsuccessful is an execution waited for (--wait, --follow) that
	// ended in a state other than succeeded.
	exitUnsuccessful = 3
)

// exitError is an error with its own exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageArgs is v with its errors (a wrong number of arguments) made
// usage errors, exit code 2.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		return nil
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, out: stdout, errOut: stderr, getenv: os.Getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "solvekit:", describe(err))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if strings.HasPrefix(err.Error(), "unknown command ") {
		return exitUsage
	}
	return 1
}

// rootCommand is the command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "solvekit",
		Short: "Run and operate a solvekit service",
		Long: `solvekit serves the solvekit REST API, runs workers for the built-in job
types (the CBC/GLPK "mip" app and "echo") and calls a running API.

Client commands read the server URL and token from --server and --token,
then SOLVEKIT_SERVER and SOLVEKIT_TOKEN, then the config file
(~/.config/solvekit/config.json; "solvekit login" writes it).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.flags.server, "server", "", "API base URL (env SOLVEKIT_SERVER; default http://localhost:8080)")
	pf.StringVar(&a.flags.token, "token", "", "bearer token: a login token or an API key (env SOLVEKIT_TOKEN)")
	pf.StringVar(&a.flags.config, "config-file", "", "client config file (env SOLVEKIT_CONFIG; default ~/.config/solvekit/config.json)")
	pf.StringVarP(&a.flags.output, "output", "o", "table", "output format: table or json")
	root.AddGroup(&cobra.Group{ID: "server", Title: "Running solvekit:"},
		&cobra.Group{ID: "exec", Title: "Executions:"},
		&cobra.Group{ID: "ops", Title: "Operations:"})
	for _, c := range []*cobra.Command{a.serveCommand(), a.workCommand()} {
		c.GroupID = "server"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.submitCommand(), a.getCommand(), a.listCommand(), a.logsCommand(),
		a.stopCommand(), a.relaunchCommand(), a.solutionCommand(), a.deleteCommand(), a.cleanupCommand(),
		a.experimentCommand(), a.instanceSetCommand()} {
		c.GroupID = "exec"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.jobTypesCommand(), a.queuesCommand(), a.workersCommand(),
		a.usersCommand(), a.apiKeysCommand(), a.loginCommand(), a.statusCommand()} {
		c.GroupID = "ops"
		root.AddCommand(c)
	}
	return root
}
