package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/prom"
	"github.com/solvekit/solvekit/tracing"
	"github.com/solvekit/solvekit/transport/client"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// serviceFlags configure the Service of serve and work.
type serviceFlags struct {
	redisURL, prefix, logLevel string
	otlpEndpoint               string
	concurrency                int
	queues                     []string
	shutdown                   time.Duration
}

func (f *serviceFlags) add(fl *pflag.FlagSet, env map[string]string) {
	fl.StringVar(&f.redisURL, "redis-url", "", "Redis URL: redis://, rediss:// or unix:// (default: an embedded in-memory Redis)")
	fl.StringVar(&f.prefix, "prefix", "", `prefix of solvekit's Redis keys (default "{solvekit}")`)
	fl.IntVar(&f.concurrency, "concurrency", 0, "attempts one worker runs at once (default: the number of CPUs)")
	fl.StringSliceVar(&f.queues, "queues", nil, "queue weights NAME=WEIGHT,... (default default=1 and the job types' queues)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.DurationVar(&f.shutdown, "shutdown-timeout", 10*time.Second, "how long a stop waits for requests and running attempts")
	fl.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", `export traces to this OTLP/HTTP collector URL ("http://collector:4318"; default: OTEL_EXPORTER_OTLP_ENDPOINT, else no traces)`)
	env["otlp-endpoint"] = "SOLVEKIT_OTLP_ENDPOINT"
	env["redis-url"], env["prefix"], env["concurrency"] = "SOLVEKIT_REDIS_URL", "SOLVEKIT_PREFIX", "SOLVEKIT_CONCURRENCY"
	env["queues"], env["log-level"], env["shutdown-timeout"] = "SOLVEKIT_QUEUES", "SOLVEKIT_LOG_LEVEL", "SOLVEKIT_SHUTDOWN_TIMEOUT"
}

// fromEnv sets every flag of fl the command line left alone from its
// environment variable in env, when that is set.
func (a *app) fromEnv(fl *pflag.FlagSet, env map[string]string) error {
	var err error
	fl.VisitAll(func(f *pflag.Flag) {
		name, ok := env[f.Name]
		if !ok || f.Changed || err != nil {
			return
		}
		if v := a.getenv(name); v != "" {
			if serr := fl.Set(f.Name, v); serr != nil {
				err = &exitError{code: exitUsage, err: fmt.Errorf("%s=%q: %w", name, v, serr)}
			}
		}
	})
	return err
}

// envNote is the help text's list of environment variables of a command.
func envNote(env map[string]string, extra ...string) string {
	var b strings.Builder
	b.WriteString("\n\nEach flag can be set from the environment instead:")
	for _, f := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "\n  %-26s --%s", env[f], f)
	}
	for _, e := range extra {
		b.WriteString("\n  " + e)
	}
	return b.String()
}

// newService starts a Service with the built-in job types registered,
// traced by traces when it is not nil.
func (f *serviceFlags) newService(ctx context.Context, logger *slog.Logger, traces *traceExport) (*solvekit.Service, error) {
	cfg := solvekit.Config{RedisURL: f.redisURL, Prefix: f.prefix, Concurrency: f.concurrency,
		ShutdownTimeout: f.shutdown, Logger: logger}
	traces.configure(&cfg)
	if len(f.queues) > 0 {
		cfg.Queues = map[string]int{}
		for _, q := range f.queues {
			name, w, ok := strings.Cut(q, "=")
			n, err := strconv.Atoi(w)
			if !ok || name == "" || err != nil || n < 1 {
				return nil, &exitError{code: exitUsage, err: fmt.Errorf("--queues %q: want NAME=WEIGHT with a weight of 1 or more", q)}
			}
			cfg.Queues[name] = n
		}
	}
	svc, err := solvekit.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := svc.Register(builtinJobTypes()...); err != nil {
		svc.Close()
		return nil, err
	}
	return svc, nil
}

func (f *serviceFlags) logger(a *app) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--log-level %q: %w", f.logLevel, err)}
	}
	return slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: lvl})), nil
}

// serveFlags are serve's options besides the Service's.
type serveFlags struct {
	serviceFlags
	addr, metricsPath, adminUser, jwtSecretFile string
	work, signup, sharing                       bool
	cors                                        []string
}

func (a *app) serveCommand() *cobra.Command {
	var f serveFlags
	env := map[string]string{"addr": "SOLVEKIT_ADDR", "work": "SOLVEKIT_WORK", "metrics-path": "SOLVEKIT_METRICS_PATH",
		"admin-user": "SOLVEKIT_ADMIN_USER", "jwt-secret-file": "SOLVEKIT_JWT_SECRET_FILE", "cors-origins": "SOLVEKIT_CORS_ORIGINS",
		"allow-signup": "SOLVEKIT_ALLOW_SIGNUP", "sharing": "SOLVEKIT_SHARING"}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the REST API (and, with --work, run a worker)",
		Long: `Serve the REST API for the built-in job types ("mip" and "echo"), with
Prometheus metrics on --metrics-path, until SIGINT or SIGTERM; then stop
taking requests, let running ones and (with --work) running attempts finish
within --shutdown-timeout, and exit.

Without a Redis URL it runs on an embedded in-memory Redis, with a worker
(nobody else can reach it), creates the admin account with a random password
and prints a token for it; nothing survives a restart. On a real Redis,
SOLVEKIT_JWT_SECRET (32 bytes or more, the same in every API process) signs
the login tokens, and the first admin comes from SOLVEKIT_ADMIN_PASSWORD or
from SOLVEKIT_BOOTSTRAP_TOKEN (see httpapi.Options.BootstrapToken).`,
		Example: `  solvekit serve                                  # embedded Redis, with a worker, on :8080
  SOLVEKIT_REDIS_URL=redis://redis:6379/0 SOLVEKIT_JWT_SECRET=... solvekit serve --addr :9000`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.fromEnv(cmd.Flags(), env); err != nil {
				return err
			}
			return a.serve(cmd.Context(), f)
		},
	}
	fl := c.Flags()
	f.add(fl, env)
	fl.StringVar(&f.addr, "addr", ":8080", "address to listen on")
	fl.BoolVar(&f.work, "work", false, "also run a worker in this process (always on the embedded Redis)")
	fl.StringVar(&f.metricsPath, "metrics-path", "/metrics", `path of the Prometheus metrics ("" for none)`)
	fl.StringVar(&f.adminUser, "admin-user", "admin", "username of the admin account created at start")
	fl.StringVar(&f.jwtSecretFile, "jwt-secret-file", "", "read the login token signing secret from this file instead of SOLVEKIT_JWT_SECRET")
	fl.StringSliceVar(&f.cors, "cors-origins", nil, `origins allowed to call the API from a browser ("*" for any)`)
	fl.BoolVar(&f.signup, "allow-signup", false, "open POST /signup (new accounts are planners)")
	fl.BoolVar(&f.sharing, "sharing", false, "let planners see each other's instances and executions")
	c.Long += envNote(env,
		"SOLVEKIT_JWT_SECRET        the login token signing secret",
		"SOLVEKIT_ADMIN_PASSWORD    creates the --admin-user account at start if it does not exist",
		"SOLVEKIT_BOOTSTRAP_TOKEN   a one-time token that creates the first admin (POST /users)",
		otelNote)
	return c
}

func (a *app) serve(ctx context.Context, f serveFlags) (err error) {
	logger, err := f.logger(a)
	if err != nil {
		return err
	}
	secret := []byte(a.getenv("SOLVEKIT_JWT_SECRET"))
	if f.jwtSecretFile != "" {
		b, err := os.ReadFile(f.jwtSecretFile)
		if err != nil {
			return err
		}
		secret = []byte(strings.TrimSpace(string(b)))
	}
	traces, err := a.startTracing(ctx, f.otlpEndpoint, logger)
	if err != nil {
		return err
	}
	defer traces.shutdown(f.shutdown, logger) // after the Service closed: the last spans are sent
	svc, err := f.newService(context.WithoutCancel(ctx), logger, traces)
	if err != nil {
		return err
	}
	defer svc.Close()
	opts := httpapi.Options{JWTSecret: secret, AllowSignup: f.signup, Sharing: f.sharing, CORSOrigins: f.cors,
		BootstrapToken: a.getenv("SOLVEKIT_BOOTSTRAP_TOKEN"), Logger: logger}
	password, generated := a.getenv("SOLVEKIT_ADMIN_PASSWORD"), false
	if password == "" && svc.Embedded() {
		// Nothing outlives an embedded Redis: a fresh admin each run.
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		password, generated = hex.EncodeToString(b), true
	}
	if password != "" {
		opts.BootstrapAdmin = &httpapi.BootstrapAdmin{Username: f.adminUser, Password: password}
	}
	var tracer *tracing.Tracer
	if traces != nil {
		tracer = traces.tracer
	}
	h, err := newHandler(svc, opts, f.metricsPath, tracer)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	base := "http://" + reachable(ln.Addr().(*net.TCPAddr), f.addr)
	fmt.Fprintf(a.out, "solvekit %s serving %s (%s)\n", solvekit.Version, base, redisNote(svc))
	if f.work || svc.Embedded() {
		workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
		worked := make(chan error, 1)
		go func() { worked <- svc.Work(workCtx) }()
		defer func() {
			stopWork()
			if werr := <-worked; werr != nil && err == nil {
				err = fmt.Errorf("worker: %w", werr)
			}
		}()
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv.BaseContext = func(net.Listener) context.Context { return baseCtx }
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if generated {
		if err := a.printAdmin(ctx, base, f.adminUser, password); err != nil {
			return err
		}
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("solvekit: shutting down", "timeout", f.shutdown)
	return shutdown(srv, cancelBase, f.shutdown)
}

// shutdown stops srv: it takes no new requests, and the running ones get
// grace to finish. Event streams and long polls, which would hold it to
// the end, are ended (their contexts cancelled) after a quarter of it.
func shutdown(srv *http.Server, cancelStreams context.CancelFunc, grace time.Duration) error {
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	streams := time.AfterFunc(grace/4, cancelStreams)
	defer streams.Stop()
	if err := srv.Shutdown(sctx); err != nil {
		cancelStreams()
		_ = srv.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return nil
}

// newHandler is the REST API for svc with metrics on metricsPath ("" for
// none); every API request is counted by the metrics' middleware, and
// traced by tracer when it is not nil.
func newHandler(svc *solvekit.Service, opts httpapi.Options, metricsPath string, tracer *tracing.Tracer) (http.Handler, error) {
	h, err := httpapi.New(svc, opts)
	if err != nil {
		return nil, err
	}
	m, err := prom.New(svc, prom.Options{})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if metricsPath != "" {
		mux.Handle("GET "+metricsPath, m.Handler())
	}
	api := m.Middleware(h)
	if tracer != nil {
		// Outside the metrics' middleware, which hands the request on as
		// it is: the route pattern the API's mux sets is seen by both.
		api = tracer.HTTP(api)
	}
	mux.Handle("/", api)
	return mux, nil
}

// printAdmin logs in as the generated admin and prints the lines that
// point the client commands at this server.
func (a *app) printAdmin(ctx context.Context, base, user, password string) error {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := client.New(base).Login(lctx, user, password)
	if err != nil {
		return fmt.Errorf("log in as the generated admin: %w", err)
	}
	fmt.Fprintf(a.out, "admin account %q, password %s (generated; the embedded Redis keeps nothing after a restart)\n", user, password)
	fmt.Fprintf(a.out, "to use the client commands against it, run:\n\n  export SOLVEKIT_SERVER=%s SOLVEKIT_TOKEN=%s\n\n", base, tok.Token)
	return nil
}

func redisNote(svc *solvekit.Service) string {
	if svc.Embedded() {
		return "embedded in-memory Redis, with a worker"
	}
	return "Redis from --redis-url"
}

// reachable turns a listener address into one a client on this machine
// reaches ("localhost:8080" for ":8080").
func reachable(a *net.TCPAddr, requested string) string {
	host, _, _ := net.SplitHostPort(requested)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

func (a *app) workCommand() *cobra.Command {
	var f serviceFlags
	env := map[string]string{}
	c := &cobra.Command{
		Use:   "work",
		Short: "Run a worker for the built-in job types",
		Long: `Run a worker for the built-in job types ("mip" and "echo") on a shared Redis,
taking executions that API processes (solvekit serve) accept, until SIGINT or
SIGTERM; then take no new work, give running attempts --shutdown-timeout to
finish, requeue the rest and exit. It needs a Redis URL: a worker on an
embedded Redis would have nothing to do.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.fromEnv(cmd.Flags(), env); err != nil {
				return err
			}
			if f.redisURL == "" {
				return &exitError{code: exitUsage, err: errors.New("work needs --redis-url or SOLVEKIT_REDIS_URL (the Redis the API processes use)")}
			}
			logger, err := f.logger(a)
			if err != nil {
				return err
			}
			traces, err := a.startTracing(cmd.Context(), f.otlpEndpoint, logger)
			if err != nil {
				return err
			}
			defer traces.shutdown(f.shutdown, logger) // after the Service closed: the last spans are sent
			svc, err := f.newService(context.WithoutCancel(cmd.Context()), logger, traces)
			if err != nil {
				return err
			}
			defer svc.Close()
			logger.Info("solvekit: worker running", "worker", svc.WorkerID(), "version", solvekit.Version)
			fmt.Fprintf(a.out, "solvekit %s worker %s running\n", solvekit.Version, svc.WorkerID())
			return svc.Work(cmd.Context())
		},
	}
	f.add(c.Flags(), env)
	c.Long += envNote(env, otelNote)
	return c
}
