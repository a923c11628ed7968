package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/solvekit/solvekit/internal/typedinput"
	"github.com/solvekit/solvekit/job"
)

// namePattern is what a job type name may look like: safe in URLs, Redis
// keys and queue task names without escaping.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Registry holds the registered job types by name. It is safe for
// concurrent use: registration normally happens at start-up, but lookups
// come from every request and worker.
type Registry struct {
	mu    sync.RWMutex
	types map[string]*Type
}

// New returns an empty Registry.
func New() *Registry {
	return &Registry{types: map[string]*Type{}}
}

// Register checks d, compiles its three schemas once and adds it under
// d.Name. It refuses a nil or erroneous definition (d.Err), a missing or
// malformed name, a nil Func, an unknown Kind, a name already registered
// (a *job.Error with job.CodeConflict), a schema that does not compile, and
// a config schema whose own defaults break it (an empty config must be
// valid once its defaults are filled, unless the schema requires fields).
func (r *Registry) Register(d *job.Definition) error {
	if d == nil {
		return errors.New("registry: nil job definition")
	}
	if err := d.Err(); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if d.Name == "" {
		return errors.New("registry: job definition has an empty name")
	}
	if !namePattern.MatchString(d.Name) {
		return fmt.Errorf("registry: job name %q is not allowed: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", d.Name)
	}
	if d.Func == nil {
		return fmt.Errorf("registry: job %q has a nil Func", d.Name)
	}
	if d.Kind != job.KindSync && d.Kind != job.KindAsync {
		return fmt.Errorf("registry: job %q has unknown kind %q (want %q or %q)", d.Name, d.Kind, job.KindSync, job.KindAsync)
	}
	t := &Type{Def: d}
	var err error
	if t.Instance, err = CompileSchema("instance", d.InstanceSchema); err != nil {
		return fmt.Errorf("registry: job %q: %w", d.Name, err)
	}
	if t.Config, err = CompileSchema("config", d.ConfigSchema); err != nil {
		return fmt.Errorf("registry: job %q: %w", d.Name, err)
	}
	if t.Solution, err = CompileSchema("solution", d.SolutionSchema); err != nil {
		return fmt.Errorf("registry: job %q: %w", d.Name, err)
	}
	if err := checkConfigDefaults(t.Config); err != nil {
		return fmt.Errorf("registry: job %q: %w", d.Name, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.types[d.Name]; dup {
		return &job.Error{Code: job.CodeConflict, Message: fmt.Sprintf("registry: job type %q is already registered", d.Name)}
	}
	r.types[d.Name] = t
	return nil
}

// checkConfigDefaults makes sure that an empty config, filled with the
// schema's defaults, validates — so a schema default that breaks its own
// schema is caught at start-up, not at the first submission. Missing
// required fields are fine: the submitter must give those.
func checkConfigDefaults(s *Schema) error {
	if s == nil {
		return nil
	}
	filled, err := s.ApplyDefaults(json.RawMessage("{}"))
	if err != nil {
		return fmt.Errorf("config schema defaults: %w", err)
	}
	err = s.Validate(filled)
	var je *job.Error
	if err == nil || !errors.As(err, &je) {
		return err
	}
	if len(je.Violations) == 0 {
		return fmt.Errorf("config schema defaults do not validate: %s", je.Message)
	}
	var bad []string
	for _, v := range je.Violations {
		if v.Keyword == "required" {
			continue
		}
		if v.Pointer == "" && v.Keyword == "type" {
			return fmt.Errorf("config schema must accept a JSON object (a config is an object; an empty config is {}): %s", v.Message)
		}
		p := v.Pointer
		if p == "" {
			p = "/"
		}
		bad = append(bad, fmt.Sprintf("%s: %s", p, v.Message))
	}
	if len(bad) == 0 {
		return nil // only required fields are missing: the submitter gives them
	}
	return fmt.Errorf("config schema defaults do not validate against the config schema: %s", strings.Join(bad, "; "))
}

// MustRegister registers every definition and panics on the first error;
// it suits start-up code where a bad definition is a programming error.
func (r *Registry) MustRegister(defs ...*job.Definition) {
	for _, d := range defs {
		if err := r.Register(d); err != nil {
			panic(err)
		}
	}
}

// Lookup returns the job type registered under name, or a *job.Error with
// job.CodeNotFound.
func (r *Registry) Lookup(name string) (*Type, error) {
	r.mu.RLock()
	t, ok := r.types[name]
	r.mu.RUnlock()
	if !ok {
		return nil, notFound(name)
	}
	return t, nil
}

func notFound(name string) error {
	return &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("job type %q is not registered", name)}
}

// List returns every registered job type, sorted by name.
func (r *Registry) List() []*Type {
	r.mu.RLock()
	out := make([]*Type, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Def.Name < out[j].Def.Name })
	return out
}

// Type is a registered job type: its definition and its compiled schemas.
// It is safe for concurrent use: nothing of it changes once registered.
type Type struct {
	// Def is the definition as registered; do not modify it.
	Def *job.Definition
	// Instance, Config and Solution are the compiled schemas, nil when the
	// definition gave none (any JSON value is then accepted).
	Instance, Config, Solution *Schema
}

// Name returns the job type's registered name.
func (t *Type) Name() string { return t.Def.Name }

// ValidateInstance checks instance data against the instance schema and,
// for a typed job (job.SyncOf, job.AsyncOf), that it decodes into the
// job's input type and passes its `validate:` tags
// (job.Definition.ValidateInput); the error is a *job.Error ("instance is
// invalid" with violations, or a job.CodeBadRequest one for malformed JSON).
func (t *Type) ValidateInstance(doc json.RawMessage) error {
	tree, err := t.Instance.validateTree("instance", doc)
	if err != nil {
		return err
	}
	// A typed job's input is decoded from the tree the schema check
	// parsed, when decodeTyped can do it exactly as encoding/json would;
	// else (and for every error) encoding/json decodes the bytes again.
	if tree != nil && typedinput.New != nil {
		if in, check, ok := typedinput.New(t.Def); ok && decodeTyped(tree, in) {
			return check()
		}
	}
	return t.Def.ValidateInput(doc)
}

// PrepareConfig turns a submitted config into the one the job sees: an
// empty doc becomes {}, the schema's defaults are filled in, and the result
// is validated ("config is invalid"). It returns the filled config.
func (t *Type) PrepareConfig(doc json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		doc = json.RawMessage("{}")
	}
	if t.Config == nil {
		if err := checkDoc("config", doc); err != nil {
			return nil, err
		}
		return doc, nil
	}
	v, err := t.Config.fillDefaults("config", doc)
	if err != nil {
		return nil, err
	}
	if err := t.Config.validateValue("config", v); err != nil {
		return nil, err
	}
	return encodeJSON(v)
}

// ValidateSolution checks a solution against the solution schema; the
// error is a *job.Error ("solution is invalid" with violations, or a
// job.CodeBadRequest one for malformed JSON).
func (t *Type) ValidateSolution(doc json.RawMessage) error {
	return t.Solution.validateAs("solution", doc)
}
