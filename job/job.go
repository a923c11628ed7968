package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/solvekit/solvekit/internal/typedinput"
)

// Func is the body of an untyped job. It receives the job Context (instance,
// config, logger, progress and incumbent reporting) and returns the solution:
// any JSON-encodable value, or a Result (or *Result) to report a solver
// status, objective, bound and statistics beside it.
//
// ctx carries cancellation and the attempt's hard time limit (the
// execution's timeout): a job that honours ctx.Done() and returns its best
// solution is stored as stopped or timed_out with that solution. A job that
// stops at a time limit of its own (such as the config's time_limit, which
// solver.App applies) and returns before ctx ends is not interrupted: with
// Status time_limit it is stored as succeeded, as cornflow records it.
// Return Fail(...) for expected failures (never retried); any
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
	// with a solution and not_solved without. time_limit on a job that
	// returned before its context ended (its own limit stopped the search)
	// is stored with a succeeded execution.
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
	// Timeout is the hard time limit of one attempt: the job's context ends
	// then, and an attempt cut off by it is timed_out. Zero means no limit.
	Timeout time.Duration
	// MaxRetries is how often an unexpected error is retried. Default 3;
	// set NoRetries for none.
	MaxRetries int
	// Solvers names the solvers a solver.App offers (informational).
	Solvers []string
	// DefaultSolver is the solver used when the config names none.
	DefaultSolver string
	// Tags label the job type (WithTags): listed by GET /tags and
	// GET /tags/{tag}, they do not route its executions.
	Tags []string
	// RequiredTags are the worker tags every execution of the job type
	// requires (WithRequiredTags), besides those its submit asks for: it
	// runs only on a worker whose solvekit.Config.WorkerTags hold them all.
	RequiredTags []string
	// Extra holds plugin-specific data (e.g. the solver.App behind a job).
	Extra any
	// InstanceFiles read instance files of the job type's own formats,
	// by file extension (".tsp"), into instance JSON when files are
	// imported (solvekit.Service.ImportInstanceSet; WithInstanceFile).
	InstanceFiles map[string]func(data []byte) (json.RawMessage, error)

	err error // deferred option error, reported at registration
	// checkInput decodes an instance into a typed job's input and checks
	// its tags (SyncOf, AsyncOf); nil for untyped jobs.
	checkInput func(instance json.RawMessage) *Error
	// newInput returns a pointer to a new zero input value of a typed
	// job (nil for untyped jobs), for a registry that decodes an
	// instance it has already parsed (internal/typedinput).
	newInput func() any
}

// ValidateInput checks an instance the way a typed job (SyncOf, AsyncOf)
// reads it: it must decode into the job's input type and pass that type's
// validator/v10 struct tags. It returns nil for untyped definitions, and
// otherwise an *Error with code CodeInvalid whose violations point into
// the instance (RFC 6901). Registries call it after the instance schema,
// so that Submit refuses such an instance with nothing stored, instead
// of a worker failing on it.
func (d *Definition) ValidateInput(instance json.RawMessage) error {
	if d.checkInput == nil {
		return nil
	}
	if err := d.checkInput(instance); err != nil {
		return err
	}
	return nil
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

// WithTimeout sets the hard time limit of one attempt (Definition.Timeout).
func WithTimeout(t time.Duration) Option { return func(d *Definition) { d.Timeout = t } }

// WithMaxRetries sets how often an unexpected error is retried (NoRetries
// for none).
func WithMaxRetries(n int) Option { return func(d *Definition) { d.MaxRetries = n } }

// WithSolvers records the solver names a job offers and its default.
func WithSolvers(defaultSolver string, names ...string) Option {
	return func(d *Definition) { d.DefaultSolver, d.Solvers = defaultSolver, names }
}

// WithInstanceFile makes files with extension ext (".tsp", lower case)
// importable as instances of the job type: read turns a file's bytes into
// the instance JSON (checked against the instance schema afterwards). An
// error from read refuses the file.
func WithInstanceFile(ext string, read func(data []byte) (json.RawMessage, error)) Option {
	return func(d *Definition) {
		if d.InstanceFiles == nil {
			d.InstanceFiles = map[string]func([]byte) (json.RawMessage, error){}
		}
		d.InstanceFiles[strings.ToLower(ext)] = read
	}
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

// SyncOf defines a typed sync job. Submit refuses an instance that does not
// decode into In or breaks its `validate:` tags (see
// Definition.ValidateInput), with nothing stored.
func SyncOf[In, Out any](name string, fn TypedFunc[In, Out], opts ...Option) *Definition {
	return typedDefinition(define(name, KindSync, typed(fn), opts), fn)
}

// AsyncOf defines a typed async job. Submit refuses an instance that does
// not decode into In or breaks its `validate:` tags (see
// Definition.ValidateInput), with nothing stored or queued.
func AsyncOf[In, Out any](name string, fn TypedFunc[In, Out], opts ...Option) *Definition {
	return typedDefinition(define(name, KindAsync, typed(fn), opts), fn)
}

func typedDefinition[In, Out any](d *Definition, _ TypedFunc[In, Out]) *Definition {
	d.checkInput = func(instance json.RawMessage) *Error {
		var in In
		return decodeChecked(instance, &in, "instance")
	}
	d.newInput = func() any { return new(In) }
	return d
}

func typed[In, Out any](fn TypedFunc[In, Out]) Func {
	if fn == nil {
		return nil
	}
	return func(ctx context.Context, jc *Context) (any, error) {
		var in In
		// A *Failure: the same input fails the same way on every attempt.
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		return fn(ctx, jc, in)
	}
}

// validate builds the struct-tag validator on first use, not at package
// init, so that programs that import job only for its types (such as
// transport/client) do not build it at start.
var validate = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	// Report JSON names in validator namespaces so pointers match the data.
	v.RegisterTagNameFunc(jsonFieldName)
	return v
})

// Validate checks v's validator/v10 struct tags (if v is a struct or a
// pointer to one) and returns the violations as an *Error with code
// CodeInvalid, pointers built from the JSON field names. A violation's
// message quotes the value (its first 64 bytes), except for a field whose
// JSON or Go name contains "password", "secret" or "token": a secret is
// never echoed into an error, its logs or an HTTP answer.
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
	err := validate().Struct(rv.Interface())
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
	msg := "failed " + fe.Tag()
	if fe.Param() != "" {
		msg += "=" + fe.Param()
	}
	if secretField(fe.Field()) || secretField(fe.StructField()) {
		return msg
	}
	v := fmt.Sprint(fe.Value())
	if len(v) > 64 {
		v = strings.ToValidUTF8(v[:64], "") + "…"
	}
	return msg + " (value " + v + ")"
}

// secretField reports whether a field of this name holds a secret, whose
// value a violation must not quote.
func secretField(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token")
}

func jsonFieldName(f reflect.StructField) string {
	name, _, _ := cutComma(f.Tag.Get("json"))
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
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

// decodeStrict decodes JSON data into v and checks v's struct tags. Its
// error is a *Failure wrapping the *Error of decodeChecked: returned from a
// job, the same data would fail the same way on every attempt, so the
// execution fails at once, without retries (its record keeps the
// violations).
func decodeStrict(data json.RawMessage, v any, what string) error {
	e := decodeChecked(data, v, what)
	if e == nil {
		return nil
	}
	return &Failure{Message: e.Error(), Err: e}
}

// decodeChecked decodes JSON data into v and checks v's struct tags; a
// value of the wrong type and a tag violation come back as an *Error with
// code CodeInvalid and pointers into data.
func decodeChecked(data json.RawMessage, v any, what string) *Error {
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	if err := json.Unmarshal(data, v); err != nil {
		e := &Error{Code: CodeInvalid, Message: fmt.Sprintf("%s does not decode", what)}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			ptr, ok := pointerAt(data, te.Offset)
			if !ok && te.Field != "" {
				ptr = "/" + strings.ReplaceAll(te.Field, ".", "/")
			}
			e.Violations = []Violation{{Pointer: ptr, Keyword: "type",
				Message: fmt.Sprintf("got %s, want %s", te.Value, jsonKind(te.Type))}}
		} else {
			e.Message += ": " + strings.TrimPrefix(err.Error(), "json: ")
		}
		return e
	}
	return checkDecoded(v, what)
}

// checkDecoded checks the struct tags of v, a value decoded from what.
func checkDecoded(v any, what string) *Error {
	if err := Validate(v); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Message = what + " " + e.Message
			return e
		}
		return &Error{Code: CodeInvalid, Message: what + ": " + err.Error()}
	}
	return nil
}

func init() {
	typedinput.New = func(def any) (any, func() error, bool) {
		d, _ := def.(*Definition)
		if d == nil || d.newInput == nil {
			return nil, nil, false
		}
		in := d.newInput()
		return in, func() error {
			if e := checkDecoded(in, "instance"); e != nil {
				return e
			}
			return nil
		}, true
	}
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.String()
}

// pointerAt returns the JSON pointer of the value of data that ends at (or
// spans) byte offset off, as encoding/json reports a type error's offset:
// the end of the offending value, or just past its opening bracket.
func pointerAt(data []byte, off int64) (string, bool) {
	type frame struct {
		array   bool
		idx     int
		key     string
		wantKey bool
	}
	var stack []*frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			b.WriteByte('/')
			if f.array {
				b.WriteString(strconv.Itoa(f.idx))
			} else {
				b.WriteString(escapePointer(f.key))
			}
		}
		return b.String()
	}
	// done marks the value at the top of the stack complete.
	done := func() {
		if n := len(stack); n > 0 {
			if top := stack[n-1]; top.array {
				top.idx++
			} else {
				top.wantKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].wantKey {
			if k, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = k, false
				continue
			}
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			done()
			continue
		}
		if dec.InputOffset() >= off {
			return path(), true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{array: true})
		default:
			done()
		}
	}
}
