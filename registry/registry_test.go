package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
)

func noop(context.Context, *job.Context) (any, error) { return nil, nil }

func TestRegisterRefuses(t *testing.T) {
	tests := []struct {
		name string
		def  *job.Definition
		want string
	}{
		{"nil definition", nil, "nil job definition"},
		{"option error", job.Async("bad", noop, job.WithSchemasFS(emptyFS{}, "missing.json", "", "")), "read schema missing.json"},
		{"nil func via constructor", job.Sync("nofunc", nil), "nil func"},
		{"empty name", &job.Definition{Kind: job.KindSync, Func: noop}, "empty name"},
		{"name with slash", &job.Definition{Name: "a/b", Kind: job.KindSync, Func: noop}, `job name "a/b" is not allowed`},
		{"name with space", &job.Definition{Name: "a b", Kind: job.KindSync, Func: noop}, "is not allowed"},
		{"name starting with dot", &job.Definition{Name: ".hidden", Kind: job.KindSync, Func: noop}, "is not allowed"},
		{"name too long", &job.Definition{Name: strings.Repeat("x", 129), Kind: job.KindSync, Func: noop}, "is not allowed"},
		{"nil func", &job.Definition{Name: "x", Kind: job.KindSync}, `job "x" has a nil Func`},
		{"unknown kind", &job.Definition{Name: "x", Kind: "batch", Func: noop}, `job "x" has unknown kind "batch"`},
		{"empty kind", &job.Definition{Name: "x", Func: noop}, `unknown kind ""`},
		{"bad instance schema JSON", job.Async("knap", noop, job.WithInstanceSchema([]byte(`{"type":`))),
			`job "knap": instance schema is not valid JSON`},
		{"bad config schema", job.Async("knap", noop, job.WithConfigSchema([]byte(`{"type":"obj"}`))),
			`job "knap": config schema is not a valid JSON Schema: at /type`},
		{"bad solution schema", job.Async("knap", noop, job.WithSolutionSchema([]byte(`{"minimum":"zero"}`))),
			`job "knap": solution schema is not a valid JSON Schema: at /minimum: expected number, but got string`},
		{"remote ref in solution schema", job.Async("knap", noop, job.WithSolutionSchema([]byte(`{"$ref":"http://example.com/s.json"}`))),
			`job "knap": solution schema does not compile: $ref "http://example.com/s.json" points outside this schema`},
		{"config default breaks schema", job.Async("knap", noop, job.WithConfigSchema([]byte(
			`{"type":"object","properties":{"timeLimit":{"type":"number","minimum":1,"default":0}}}`))),
			`job "knap": config schema defaults do not validate against the config schema: /timeLimit: must be >= 1`},
		{"config schema not an object", job.Async("knap", noop, job.WithConfigSchema([]byte(`{"type":"string"}`))),
			`job "knap": config schema must accept a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			err := r.Register(tt.def)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.Empty(t, r.List())
		})
	}
}

type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) { return nil, errors.New("file does not exist") }

func TestRegisterAccepts(t *testing.T) {
	tests := []struct {
		name string
		def  *job.Definition
	}{
		{"no schemas", job.Sync("echo", noop)},
		{"dotted name", job.Async("ops.knapsack_v2-beta", noop)},
		{"max length name", job.Async(strings.Repeat("x", 128), noop)},
		{"config with required field and defaults", job.Async("req", noop, job.WithConfigSchema([]byte(
			`{"type":"object","required":["solver"],"properties":{"solver":{"type":"string"},"gap":{"type":"number","default":0}}}`)))},
		{"config nested required in default", job.Async("nested", noop, job.WithConfigSchema([]byte(
			`{"type":"object","properties":{"opts":{"type":"object","default":{},"required":["x"]}}}`)))},
		{"all three schemas", job.Async("all", noop,
			job.WithInstanceSchema([]byte(knapsack07)),
			job.WithConfigSchema([]byte(`{"type":"object"}`)),
			job.WithSolutionSchema([]byte(knapsack2020)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			require.NoError(t, r.Register(tt.def))
			typ, err := r.Lookup(tt.def.Name)
			require.NoError(t, err)
			require.Same(t, tt.def, typ.Def)
			require.Equal(t, tt.def.Name, typ.Name())
			require.Equal(t, len(tt.def.InstanceSchema) == 0, typ.Instance == nil)
			require.Equal(t, len(tt.def.ConfigSchema) == 0, typ.Config == nil)
			require.Equal(t, len(tt.def.SolutionSchema) == 0, typ.Solution == nil)
			if typ.Instance != nil {
				require.Equal(t, string(tt.def.InstanceSchema), string(typ.Instance.Raw()))
			}
		})
	}
}

func TestRegisterDuplicate(t *testing.T) {
	r := New()
	first := job.Async("knapsack", noop)
	require.NoError(t, r.Register(first))
	err := r.Register(job.Sync("knapsack", noop))
	require.ErrorContains(t, err, `job type "knapsack" is already registered`)
	require.ErrorIs(t, err, job.ErrConflict)
	typ, err := r.Lookup("knapsack")
	require.NoError(t, err)
	require.Same(t, first, typ.Def, "the first registration stays")
}

func TestMustRegister(t *testing.T) {
	r := New()
	require.NotPanics(t, func() { r.MustRegister(job.Sync("a", noop), job.Async("b", noop)) })
	require.PanicsWithError(t, `registry: job type "a" is already registered`, func() { r.MustRegister(job.Sync("a", noop)) })
	require.Panics(t, func() { r.MustRegister(nil) })
}

func TestLookupListPause(t *testing.T) {
	r := New()
	r.MustRegister(job.Async("zeta", noop), job.Sync("alpha", noop), job.Async("mid", noop))

	_, err := r.Lookup("nope")
	e := requireCode(t, job.CodeNotFound, err)
	require.Equal(t, `job type "nope" is not registered`, e.Message)
	require.ErrorIs(t, err, job.ErrNotFound)

	var names []string
	for _, typ := range r.List() {
		names = append(names, typ.Name())
	}
	require.Equal(t, []string{"alpha", "mid", "zeta"}, names)
	require.Empty(t, New().List())
}

func TestTypeValidation(t *testing.T) {
	r := New()
	r.MustRegister(job.Async("knapsack", noop,
		job.WithInstanceSchema([]byte(knapsack2020)),
		job.WithConfigSchema([]byte(`{
		  "$schema": "http://json-schema.org/draft-07/schema#",
		  "type": "object",
		  "additionalProperties": false,
		  "properties": {
		    "solver": {"enum": ["greedy", "dp"], "default": "dp"},
		    "timeLimit": {"type": "number", "exclusiveMinimum": 0, "default": 60},
		    "dp": {"$ref": "#/definitions/dp", "default": {}}
		  },
		  "definitions": {"dp": {"type": "object", "properties": {"scale": {"type": "integer", "default": 1}}}}
		}`)),
		job.WithSolutionSchema([]byte(`{"type":"object","required":["chosen"],"properties":{"chosen":{"type":"array","items":{"type":"string"}}}}`)),
	), job.Sync("free", noop))
	typ, err := r.Lookup("knapsack")
	require.NoError(t, err)

	t.Run("instance", func(t *testing.T) {
		require.NoError(t, typ.ValidateInstance(json.RawMessage(`{"capacity":3,"items":[]}`)))
		e := requireCode(t, job.CodeInvalid, typ.ValidateInstance(json.RawMessage(`{"capacity":"3"}`)))
		require.Equal(t, "instance is invalid", e.Message)
		require.Equal(t, []job.Violation{
			{Pointer: "", Keyword: "required", Message: "missing properties: 'items'"},
			{Pointer: "/capacity", Keyword: "type", Message: "expected integer, but got string"},
		}, e.Violations)
		e = requireCode(t, job.CodeBadRequest, typ.ValidateInstance(json.RawMessage(`{"capacity":`)))
		require.Contains(t, e.Message, "instance is not valid JSON")
	})

	t.Run("config", func(t *testing.T) {
		tests := []struct {
			name, doc, want string
			code            job.Code
		}{
			{name: "empty", doc: "", want: `{"dp":{"scale":1},"solver":"dp","timeLimit":60}`},
			{name: "empty object", doc: "{}", want: `{"dp":{"scale":1},"solver":"dp","timeLimit":60}`},
			{name: "null", doc: "null", want: `{"dp":{"scale":1},"solver":"dp","timeLimit":60}`},
			{name: "partial", doc: `{"solver":"greedy","dp":{}}`, want: `{"dp":{"scale":1},"solver":"greedy","timeLimit":60}`},
			{name: "invalid after fill", doc: `{"solver":"simplex","timeLimit":0}`, code: job.CodeInvalid, want: "config is invalid"},
			{name: "unknown field", doc: `{"colour":"red"}`, code: job.CodeInvalid, want: "config is invalid: /colour: additionalProperties 'colour' not allowed"},
			{name: "malformed", doc: `{"solver":}`, code: job.CodeBadRequest, want: "config is not valid JSON"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := typ.PrepareConfig(json.RawMessage(tt.doc))
				if tt.code != "" {
					e := requireCode(t, tt.code, err)
					require.Contains(t, e.Error(), tt.want)
					require.Nil(t, got)
					return
				}
				require.NoError(t, err)
				require.Equal(t, tt.want, string(got))
			})
		}
		_, err := typ.PrepareConfig(json.RawMessage(`{"solver":"simplex","timeLimit":0}`))
		e := requireCode(t, job.CodeInvalid, err)
		require.Equal(t, []string{"/solver enum", "/timeLimit exclusiveMinimum"}, pointerKeywords(e))
	})

	t.Run("solution", func(t *testing.T) {
		require.NoError(t, typ.ValidateSolution(json.RawMessage(`{"chosen":["a"]}`)))
		e := requireCode(t, job.CodeInvalid, typ.ValidateSolution(json.RawMessage(`{"chosen":["a",2]}`)))
		require.Equal(t, "solution is invalid", e.Message)
		require.Equal(t, []string{"/chosen/1 type"}, pointerKeywords(e))
		e = requireCode(t, job.CodeBadRequest, typ.ValidateSolution(json.RawMessage(`nope`)))
		require.Contains(t, e.Message, "solution is not valid JSON")
	})

	t.Run("no schemas", func(t *testing.T) {
		free, err := r.Lookup("free")
		require.NoError(t, err)
		require.NoError(t, free.ValidateInstance(json.RawMessage(`[1,"two",null]`)))
		require.NoError(t, free.ValidateSolution(json.RawMessage(`"anything"`)))
		e := requireCode(t, job.CodeBadRequest, free.ValidateInstance(json.RawMessage(`[1,`)))
		require.Contains(t, e.Message, "instance is not valid JSON")
		e = requireCode(t, job.CodeBadRequest, free.ValidateSolution(json.RawMessage(`{`)))
		require.Contains(t, e.Message, "solution is not valid JSON")

		got, err := free.PrepareConfig(nil)
		require.NoError(t, err)
		require.Equal(t, `{}`, string(got))
		got, err = free.PrepareConfig(json.RawMessage(`{"x": 1}`))
		require.NoError(t, err)
		require.Equal(t, `{"x": 1}`, string(got))
		_, err = free.PrepareConfig(json.RawMessage(`{"x":`))
		e = requireCode(t, job.CodeBadRequest, err)
		require.Contains(t, e.Message, "config is not valid JSON")
	})
}

func pointerKeywords(e *job.Error) []string {
	out := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		out[i] = v.Pointer + " " + v.Keyword
	}
	return out
}

func TestConcurrentUse(t *testing.T) {
	r := New()
	schema := []byte(`{"type":"object","required":["n"],"properties":{"n":{"type":"integer","minimum":0}}}`)
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				name := fmt.Sprintf("job-%d-%d", w, i)
				if err := r.Register(job.Async(name, noop, job.WithInstanceSchema(schema))); err != nil {
					errs <- err
				}
				// Everyone also races to register the same shared names.
				if err := r.Register(job.Sync(fmt.Sprintf("shared-%d", i), noop)); err != nil && !errors.Is(err, job.ErrConflict) {
					errs <- err
				}
				typ, err := r.Lookup(name)
				if err != nil {
					errs <- err
					continue
				}
				if err := typ.ValidateInstance(json.RawMessage(`{"n":1}`)); err != nil {
					errs <- err
				}
				if err := typ.ValidateInstance(json.RawMessage(`{"n":-1}`)); !errors.Is(err, job.ErrInvalid) {
					errs <- fmt.Errorf("want invalid, got %v", err)
				}
				_ = r.List()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, r.List(), workers*perWorker+perWorker)
}
