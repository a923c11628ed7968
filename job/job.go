package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
)

// Func is the body of an untyped job. It receives the job Context (instance,
// config, logger, progress and incumbent reporting) and returns the solution:
// any JSON-encodable value, or a Result (or *Result) to report a solver
// status, objective, bound and statistics beside it.
//
// ctx carries the time limit and cancellation: a job that honours ctx.Done()
// and returns its best solution is stored as stopped or timed_out with that
// solution. Return Fail(...) for expected failures (never retried); any
// other error is retried per MaxRetries; a panic is recovered and fails the
// execution with its stack.
type Func func(ctx context.Context, jc *Context) (any, error)

// Result is the full answer of a job. Returning a plain value is the same as
// returning Result{Solution: v}.
type Result struct {
	// Solution is the JSON-encodable solution; it is checked against the job
	// type's solution schema.
	Solution any
	// Status is the solver's verdict. Empty means optimal for a succeeded
	// execution, time_limit for a timed-out one, feasible for a stopped one
	// with a solution and not_solved without.
	Status SolverStatus
	// Objective is the objective value of Solution, if any.
	Objective *float64
	// BestBound is the best proven bound, if known.
	BestBound *float64
	// Gap is the relative optimality gap, if known.
	Gap *float64
	// Stats holds free-form statistics (nodes, iterations, ...).
	Stats map[string]any
	// Checks are the instance and solution checks run around the solve
	// (see solver.App); stored with the execution.
	Checks []CheckResult
	// KPIs are key performance indicators computed from the solution.
	KPIs map[string]float64
	// SolverLog is the structured solver log (cornflow's log_json shape:
	// status, status_code, sol_code, time, nodes, best_bound,
	// best_solution, gap, progress).
	SolverLog map[string]any
}

// CheckResult is the outcome of one instance or solution check: an error
// (the data is unusable) or, with IsWarning, a warning (as cornflow's
// is_warning).
type CheckResult struct {
	// Name identifies the check, e.g. "capacity_positive".
	Name string `json:"name"`
	// Stage is "instance" or "solution".
	Stage string `json:"stage"`
	// Message explains the finding.
	Message string `json:"message"`
	// IsWarning marks a finding that does not make the data unusable.
	IsWarning bool `json:"is_warning"`
	// Pointer optionally locates the offending value (RFC 6901).
	Pointer string `json:"pointer,omitempty"`
}

// InstanceChecker is implemented by Definition.Extra values (such as
// solver.App) that can check an instance on demand, e.g. for the REST
// route POST /instances/{id}/checks.
type InstanceChecker interface {
	CheckInstance(ctx context.Context, instance json.RawMessage) ([]CheckResult, error)
}

// Float returns a pointer to f, for Result's optional numbers.
func Float(f float64) *float64 { return &f }

// Definition describes a job type. Build one with Sync, Async, SyncOf or
// AsyncOf and register it with a registry.Registry (or solvekit.Service).
type Definition struct {
	// Name identifies the job type; it must be unique in a registry.
	Name string
	// Kind says whether the job runs in the submitting call or on a worker.
	Kind Kind
	// Func is the job body.
	Func Func
	// Description is shown in listings and the OpenAPI document.
	Description string
	// InstanceSchema, ConfigSchema and SolutionSchema are JSON Schemas
	// (draft-07 or 2020-12). Empty means "any JSON value".
	InstanceSchema, ConfigSchema, SolutionSchema []byte
	// Queue is the asynq queue async executions go to. Default "default".
	Queue string
	// Timeout is the time limit of one attempt. Zero means no limit.
	Timeout time.Duration
	// MaxRetries is how often an unexpected error is retried. Default 3;
	// set NoRetries for none.
	MaxRetries int
	// Solvers names the solvers a solver.App offers (informational).
	Solvers []string
	// DefaultSolver is the solver used when the config names none.
	DefaultSolver string
	// Extra holds plugin-specific data (e.g. the solver.App behind a job).
	Extra any

	err error // deferred option error, reported at registration
}

// NoRetries is the MaxRetries value that disables retries.
const NoRetries = -1

// Err reports an error recorded by an option (e.g. an unreadable schema
// file). Registries refuse definitions with a non-nil Err.
func (d *Definition) Err() error { return d.err }

// Retries returns the effective retry count (MaxRetries with its default).
func (d *Definition) Retries() int {
	switch {
	case d.MaxRetries == NoRetries:
		return 0
	case d.MaxRetries <= 0:
		return 3
	}
	return d.MaxRetries
}

// QueueName returns the effective queue (Queue with its default).
func (d *Definition) QueueName() string {
	if d.Queue == "" {
		return "default"
	}
	return d.Queue
}

// Option configures a Definition.
type Option func(*Definition)

// WithDescription sets the human description.
func WithDescription(s string) Option { return func(d *Definition) { d.Description = s } }

// WithInstanceSchema sets the instance JSON Schema.
func WithInstanceSchema(schema []byte) Option {
	return func(d *Definition) { d.InstanceSchema = schema }
}

// WithConfigSchema sets the config JSON Schema; its "default" values fill
// missing config fields before the job runs.
func WithConfigSchema(schema []byte) Option { return func(d *Definition) { d.ConfigSchema = schema } }

// WithSolutionSchema sets the solution JSON Schema; a solution that breaks
// it fails the execution with the violations listed.
func WithSolutionSchema(schema []byte) Option {
	return func(d *Definition) { d.SolutionSchema = schema }
}

// WithSchemasFS reads the instance, config and solution schemas from fsys
// (e.g. an embed.FS). An empty path leaves that schema unset. A read error
// is reported when the definition is registered.
func WithSchemasFS(fsys fs.FS, instance, config, solution string) Option {
	return func(d *Definition) {
		read := func(p string) []byte {
			if p == "" || d.err != nil {
				return nil
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				d.err = fmt.Errorf("job %q: read schema %s: %w", d.Name, p, err)
			}
			return b
		}
		if b := read(instance); b != nil {
			d.InstanceSchema = b
		}
		if b := read(config); b != nil {
			d.ConfigSchema = b
		}
		if b := read(solution); b != nil {
			d.SolutionSchema = b
		}
	}
}

// WithQueue sets the queue async executions are sent to. Queues carry
// weights in solvekit.Config.Queues; that is how priorities are expressed.
func WithQueue(name string) Option { return func(d *Definition) { d.Queue = name } }

// WithTimeout sets the time limit of one attempt.
func WithTimeout(t time.Duration) Option { return func(d *Definition) { d.Timeout = t } }

// WithMaxRetries sets how often an unexpected error is retried (NoRetries
// for none).
func WithMaxRetries(n int) Option { return func(d *Definition) { d.MaxRetries = n } }

// WithSolvers records the solver names a job offers and its default.
func WithSolvers(defaultSolver string, names ...string) Option {
	return func(d *Definition) { d.DefaultSolver, d.Solvers = defaultSolver, names }
}

// WithError records an error found while building a definition (for
// plugins such as solver.App that check their own setup); the registry
// refuses the definition with it.
func WithError(err error) Option {
	return func(d *Definition) {
		if d.err == nil {
			d.err = err
		}
	}
}

// Sync defines a job that runs inside Submit (and inside the REST request
// that submits it) and answers with its result. It is recorded like an
// async execution.
func Sync(name string, fn Func, opts ...Option) *Definition {
	return define(name, KindSync, fn, opts)
}

// Async defines a job that is queued and run by a worker.
func Async(name string, fn Func, opts ...Option) *Definition {
	return define(name, KindAsync, fn, opts)
}

func define(name string, kind Kind, fn Func, opts []Option) *Definition {
	d := &Definition{Name: name, Kind: kind, Func: fn}
	for _, o := range opts {
		o(d)
	}
	if fn == nil && d.err == nil {
		d.err = fmt.Errorf("job %q: nil func", name)
	}
	return d
}

// TypedFunc is the body of a typed job: the instance arrives decoded into In
// (after schema validation, then validator/v10 struct tags), and the Out it
// returns is encoded and checked against the solution schema. Out may be a
// Result whose Solution is the typed value.
type TypedFunc[In, Out any] func(ctx context.Context, jc *Context, in In) (Out, error)

// SyncOf defines a typed sync job.
func SyncOf[In, Out any](name string, fn TypedFunc[In, Out], opts ...Option) *Definition {
	return define(name, KindSync, typed(fn), opts)
}

// AsyncOf defines a typed async job.
func AsyncOf[In, Out any](name string, fn TypedFunc[In, Out], opts ...Option) *Definition {
	return define(name, KindAsync, typed(fn), opts)
}

func typed[In, Out any](fn TypedFunc[In, Out]) Func {
	if fn == nil {
		return nil
	}
	return func(ctx context.Context, jc *Context) (any, error) {
		var in In
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		return fn(ctx, jc, in)
	}
}

var validate = validator.New(validator.WithRequiredStructEnabled())

// Validate checks v's validator/v10 struct tags (if v is a struct or a
// pointer to one) and returns the violations as an *Error with code
// CodeInvalid, pointers built from the JSON field names.
func Validate(v any) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	err := validate.Struct(rv.Interface())
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return &Error{Code: CodeInvalid, Message: err.Error()}
	}
	out := &Error{Code: CodeInvalid, Message: "validation failed"}
	for _, fe := range verrs {
		out.Violations = append(out.Violations, Violation{
			Pointer: structPointer(rv.Type(), fe.StructNamespace()),
			Keyword: fe.Tag(),
			Message: fieldMessage(fe),
		})
	}
	return out
}

func fieldMessage(fe validator.FieldError) string {
	if fe.Param() != "" {
		return fmt.Sprintf("failed %s=%s (value %v)", fe.Tag(), fe.Param(), fe.Value())
	}
	return fmt.Sprintf("failed %s (value %v)", fe.Tag(), fe.Value())
}

func init() {
	// Report JSON names in validator namespaces so pointers match the data.
	validate.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := cutComma(f.Tag.Get("json"))
		if name == "-" {
			return ""
		}
		if name == "" {
			return f.Name
		}
		return name
	})
}

// structPointer turns validator's StructNamespace ("Knapsack.Items[2].Weight")
// into a JSON pointer with JSON names ("/items/2/weight").
func structPointer(t reflect.Type, ns string) string {
	// drop the root type name (absent for anonymous struct types)
	if root := t.Name(); root != "" && strings.HasPrefix(ns, root+".") {
		ns = ns[len(root)+1:]
	} else if root != "" && ns == root {
		return ""
	}
	ns = strings.TrimPrefix(ns, ".")
	var out []byte
	cur := t
	for ns != "" {
		seg := ns
		if i := indexByte(ns, '.'); i >= 0 {
			seg, ns = ns[:i], ns[i+1:]
		} else {
			ns = ""
		}
		name, idx := seg, ""
		if i := indexByte(seg, '['); i >= 0 {
			name, idx = seg[:i], seg[i+1:len(seg)-1]
		}
		jsonName := name
		if cur != nil {
			for cur.Kind() == reflect.Pointer {
				cur = cur.Elem()
			}
			if cur.Kind() == reflect.Struct {
				if f, ok := cur.FieldByName(name); ok {
					if n, _, _ := cutComma(f.Tag.Get("json")); n != "" && n != "-" {
						jsonName = n
					}
					cur = f.Type
				} else {
					cur = nil
				}
			} else {
				cur = nil
			}
		}
		out = append(out, '/')
		out = append(out, escapePointer(jsonName)...)
		if idx != "" {
			out = append(out, '/')
			out = append(out, escapePointer(idx)...)
			if cur != nil {
				for cur.Kind() == reflect.Pointer {
					cur = cur.Elem()
				}
				if k := cur.Kind(); k == reflect.Slice || k == reflect.Array || k == reflect.Map {
					cur = cur.Elem()
				}
			}
		}
	}
	return string(out)
}

func escapePointer(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			b = append(b, '~', '0')
		case '/':
			b = append(b, '~', '1')
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}

func cutComma(s string) (string, string, bool) { return strings.Cut(s, ",") }

func indexByte(s string, c byte) int { return strings.IndexByte(s, c) }

// decodeStrict decodes JSON data into v and checks v's struct tags.
func decodeStrict(data json.RawMessage, v any, what string) error {
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &Error{Code: CodeInvalid, Message: fmt.Sprintf("%s does not decode: %v", what, err)}
	}
	if err := Validate(v); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Message = what + " " + e.Message
		}
		return err
	}
	return nil
}
