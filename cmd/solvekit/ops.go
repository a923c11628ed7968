package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// clientCommand is c made a client command: args checks its arguments
// (a mismatch is a usage error, exit code 2) and run runs with the REST
// client.
func (a *app) clientCommand(c *cobra.Command, args cobra.PositionalArgs,
	run func(ctx context.Context, c *client.Client, args []string) error) *cobra.Command {
	c.Args = usageArgs(args)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := a.client()
		if err != nil {
			return err
		}
		return run(cmd.Context(), cl, args)
	}
	return c
}

// showCommand is a client command that shows with show what op answers
// for its arguments (which args checks).
func showCommand[T any](a *app, use, short string, args cobra.PositionalArgs,
	op func(c *client.Client, ctx context.Context, args []string) (T, error), show func(T) error) *cobra.Command {
	return a.clientCommand(&cobra.Command{Use: use, Short: short}, args, func(ctx context.Context, c *client.Client, args []string) error {
		v, err := op(c, ctx, args)
		if err != nil {
			return err
		}
		return show(v)
	})
}

// listCommand is a command without arguments that shows what list
// answers, in a table that table writes.
func listCommand[L any](a *app, use, short string, list func(*client.Client, context.Context) (L, error),
	table func(io.Writer, L)) *cobra.Command {
	return showCommand(a, use, short, cobra.NoArgs,
		func(c *client.Client, ctx context.Context, _ []string) (L, error) { return list(c, ctx) },
		func(l L) error { return a.show(l, func(w io.Writer) { table(w, l) }) })
}

// firstPage is a listing's first page of up to limit items, for
// listCommand.
func firstPage[L any](list func(*client.Client, context.Context, client.Page) (L, error), limit int) func(*client.Client, context.Context) (L, error) {
	return func(c *client.Client, ctx context.Context) (L, error) { return list(c, ctx, client.Page{Limit: limit}) }
}

// idCommand is a command of one argument, an id or a name, that shows
// with show what op answers for it.
func idCommand[T any](a *app, use, short string, op func(c *client.Client, ctx context.Context, id string) (T, error),
	show func(T) error) *cobra.Command {
	return showCommand(a, use, short, cobra.ExactArgs(1),
		func(c *client.Client, ctx context.Context, args []string) (T, error) { return op(c, ctx, args[0]) }, show)
}

// showRow shows v, in its table as a row of its own.
func showRow[T any](a *app, v *T, table func(io.Writer, []*T)) error {
	return a.show(v, func(w io.Writer) { table(w, []*T{v}) })
}

func (a *app) jobTypesCommand() *cobra.Command {
	c := a.clientCommand(&cobra.Command{Use: "job-types [NAME]", Short: "List job types, or show one with its schemas"}, cobra.MaximumNArgs(1), func(ctx context.Context, c *client.Client, args []string) error {
		if len(args) == 1 {
			d, err := c.GetJobType(ctx, args[0])
			if err != nil {
				return err
			}
			return a.show(d, func(w io.Writer) {
				jobTypeTable(w, []*api.JobType{&d.JobType})
				for _, s := range []struct {
					name string
					v    []byte
				}{{"instance schema", d.InstanceSchema}, {"config schema", d.ConfigSchema}, {"solution schema", d.SolutionSchema}} {
					if len(s.v) > 0 && string(s.v) != "null" {
						fmt.Fprintf(w, "\n%s: %s\n", s.name, s.v)
					}
				}
			})
		}
		l, err := c.ListJobTypes(ctx, client.Page{Limit: 1000})
		if err != nil {
			return err
		}
		return a.show(l, func(w io.Writer) { jobTypeTable(w, l.JobTypes) })
	})
	for _, paused := range []bool{true, false} {
		verb := map[bool]string{true: "pause", false: "resume"}[paused]
		c.AddCommand(idCommand(a, verb+" NAME", strings.ToUpper(verb[:1])+verb[1:]+" a job type's new submissions (admin)",
			func(c *client.Client, ctx context.Context, name string) (*api.JobTypeDetail, error) {
				return c.SetJobTypePaused(ctx, name, paused)
			},
			func(d *api.JobTypeDetail) error {
				return a.show(d, func(w io.Writer) { jobTypeTable(w, []*api.JobType{&d.JobType}) })
			}))
	}
	return c
}

func jobTypeTable(w io.Writer, ts []*api.JobType) {
	fmt.Fprintln(w, "NAME\tKIND\tQUEUE\tSOLVERS\tTIMEOUT\tPAUSED\tDESCRIPTION")
	for _, t := range ts {
		timeout := "-"
		if t.TimeoutSeconds > 0 {
			timeout = (time.Duration(t.TimeoutSeconds * float64(time.Second))).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", t.Name, t.Kind, t.Queue, dash(strings.Join(t.Solvers, ",")),
			timeout, t.IsPaused, dash(t.Description))
	}
}

func (a *app) queuesCommand() *cobra.Command {
	c := listCommand(a, "queues", "List the queues with their task counts", (*client.Client).ListQueues,
		func(w io.Writer, l *api.QueueList) { queueTable(w, l.Queues) })
	for _, verb := range []string{"pause", "resume"} {
		op := (*client.Client).PauseQueue
		if verb == "resume" {
			op = (*client.Client).ResumeQueue
		}
		c.AddCommand(idCommand(a, verb+" NAME", strings.ToUpper(verb[:1])+verb[1:]+" a queue's processing (admin)", op,
			func(q *api.Queue) error { return showRow(a, q, queueTable) }))
	}
	return c
}

func queueTable(w io.Writer, qs []*api.Queue) {
	fmt.Fprintln(w, "QUEUE\tSIZE\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tARCHIVED\tLATENCY\tPAUSED")
	for _, q := range qs {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.1fs\t%v\n", q.Name, q.Size, q.Pending, q.Active, q.Scheduled,
			q.Retry, q.Archived, q.LatencySeconds, q.Paused)
	}
}

func (a *app) workersCommand() *cobra.Command {
	return listCommand(a, "workers", "List the running worker processes", (*client.Client).ListWorkers,
		func(w io.Writer, l *api.WorkerList) {
			fmt.Fprintln(w, "ID\tHOST\tPID\tBUSY\tQUEUES\tSTATUS\tSTARTED")
			for _, wk := range l.Workers {
				qs := make([]string, 0, len(wk.Queues))
				for q, wt := range wk.Queues {
					qs = append(qs, fmt.Sprintf("%s:%d", q, wt))
				}
				sort.Strings(qs)
				fmt.Fprintf(w, "%s\t%s\t%d\t%d/%d\t%s\t%s\t%s\n", wk.ID, wk.Host, wk.PID, wk.ActiveWorkers, wk.Concurrency,
					strings.Join(qs, ","), wk.Status, wk.StartedAt.Local().Format(time.DateTime))
			}
		})
}

func (a *app) usersCommand() *cobra.Command {
	c := listCommand(a, "users", "List built-in user accounts (admin)", firstPage((*client.Client).ListUsers, 1000),
		func(w io.Writer, l *api.UserList) { userTable(w, l.Users) })
	var req api.UserCreate
	var role string
	create := a.clientCommand(&cobra.Command{Use: "create USERNAME", Short: "Create a user; the password is read from stdin"}, cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) error {
		req.Username, req.Role = args[0], api.Role(role)
		pw, err := a.readSecret()
		if err != nil {
			return err
		}
		req.Password = pw
		u, err := c.CreateUser(ctx, req)
		if err != nil {
			return err
		}
		return showRow(a, u, userTable)
	})
	create.Flags().StringVar(&role, "role", string(api.RolePlanner), "viewer, planner, admin or service")
	create.Flags().StringVar(&req.Email, "email", "", "e-mail address")
	c.AddCommand(create, a.deleteByID("Delete a user", (*client.Client).DeleteUser))
	return c
}

func userTable(w io.Writer, us []*api.User) {
	fmt.Fprintln(w, "ID\tUSERNAME\tROLE\tDISABLED\tEMAIL\tCREATED")
	for _, u := range us {
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\n", u.ID, u.Username, u.Role, u.Disabled, dash(u.Email), u.CreatedAt.Local().Format(time.DateTime))
	}
}

// readSecret reads a password from the first line of stdin.
func (a *app) readSecret() (string, error) {
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", &exitError{code: exitUsage, err: errors.New("no password on stdin")}
	}
	return pw, nil
}

func (a *app) apiKeysCommand() *cobra.Command {
	c := listCommand(a, "api-keys", "List API keys (yours; an admin's lists everyone's)", firstPage((*client.Client).ListAPIKeys, 1000),
		func(w io.Writer, l *api.APIKeyList) { apiKeyTable(w, l.APIKeys) })
	var req api.APIKeyCreate
	create := a.clientCommand(&cobra.Command{Use: "create", Short: "Create an API key; its secret is printed once"}, cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) error {
		k, err := c.CreateAPIKey(ctx, req)
		if err != nil {
			return err
		}
		return a.show(k, func(w io.Writer) {
			apiKeyTable(w, []*api.APIKey{k.APIKey})
			fmt.Fprintf(w, "\nkey (shown once): %s\n", k.Key)
		})
	})
	create.Flags().StringVar(&req.Name, "name", "", "a name to recognise the key by")
	create.Flags().StringVar(&req.UserID, "user", "", "create the key for this user id (admin)")
	c.AddCommand(create, a.deleteByID("Revoke an API key", (*client.Client).DeleteAPIKey))
	return c
}

func apiKeyTable(w io.Writer, ks []*api.APIKey) {
	fmt.Fprintln(w, "ID\tNAME\tUSER\tPREFIX\tCREATED\tLAST USED")
	for _, k := range ks {
		used := "-"
		if k.LastUsedAt != nil {
			used = k.LastUsedAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, dash(k.Name), k.UserID, k.Prefix, k.CreatedAt.Local().Format(time.DateTime), used)
	}
}

func (a *app) loginCommand() *cobra.Command {
	return a.clientCommand(&cobra.Command{
		Use:   "login USERNAME",
		Short: "Log in and save the server and token in the config file",
		Long: `Log in to the server (--server, SOLVEKIT_SERVER or the config file's) with
a password read from stdin, and save the server URL and the token in the
config file, readable only by you, for the client commands to use.`,
		Example: `  echo "$PASSWORD" | solvekit login admin --server https://solver.example.com`,
	}, cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) error {
		pw, err := a.readSecret()
		if err != nil {
			return err
		}
		tok, err := c.Login(ctx, args[0], pw)
		if err != nil {
			return err
		}
		server, _, err := a.target()
		if err != nil {
			return err
		}
		p, err := a.writeConfig(fileConfig{Server: server, Token: tok.Token})
		if err != nil {
			return err
		}
		out := map[string]any{"config_file": p, "server": server, "expires_at": tok.ExpiresAt}
		return a.show(out, func(w io.Writer) {
			fmt.Fprintf(w, "logged in to %s as %s; token saved in %s (expires %s)\n", server, args[0], p,
				tok.ExpiresAt.Local().Format(time.DateTime))
		})
	})
}

func (a *app) statusCommand() *cobra.Command {
	return a.clientCommand(&cobra.Command{Use: "status", Short: "Show the service's version, job types and execution counts"}, cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) error {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		return a.show(st, func(w io.Writer) {
			fmt.Fprintf(w, "name:\t%s\nversion:\t%s\njob types:\t%s\n", st.Name, st.Version, strings.Join(st.JobTypes, ", "))
			for _, s := range slices.Sorted(maps.Keys(st.Counts)) {
				fmt.Fprintf(w, "%s:\t%d\n", s, st.Counts[s])
			}
		})
	})
}
