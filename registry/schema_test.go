package registry

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
)

func TestCompileSchema(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		nilOK   bool     // (nil, nil) expected
		wantErr []string // substrings of the error; none means success
	}{
		{name: "nil", raw: "", nilOK: true},
		{name: "white space", raw: " \n\t", nilOK: true},
		{name: "2020-12 by default", raw: `{"type":"object","$defs":{"a":{"type":"string"}},"properties":{"a":{"$ref":"#/$defs/a"}}}`},
		{name: "2020-12 explicit", raw: `{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}]}`},
		{name: "draft-07", raw: `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{"type":"string"}},"items":[{"$ref":"#/definitions/a"}]}`},
		{name: "boolean schema", raw: `true`},
		{name: "malformed JSON", raw: `{"type":"object",}`,
			wantErr: []string{"instance schema is not valid JSON", "line 1, column 18"}},
		{name: "trailing data", raw: `{"type":"object"} {}`,
			wantErr: []string{"instance schema is not valid JSON", "after the top-level value"}},
		{name: "unknown type", raw: `{"type":"strin"}`,
			wantErr: []string{"instance schema is not a valid JSON Schema", "at /type", `"string"`}},
		{name: "bad keyword values", raw: `{"minimum":"a","properties":{"x":{"pattern":"("}}}`,
			wantErr: []string{"at /minimum: expected number", "at /properties/x/pattern"}},
		{name: "missing local ref", raw: `{"properties":{"a":{"$ref":"#/$defs/missing"}}}`,
			wantErr: []string{`$ref "#/$defs/missing" does not resolve`}},
		{name: "ref loop", raw: `{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}`,
			wantErr: []string{"instance schema does not compile: $ref loop at #/$ref/$ref"}},
		{name: "not a schema", raw: `null`,
			wantErr: []string{"instance schema is not a valid JSON Schema: at /: expected object or boolean, but got null"}},
		{name: "remote ref refused", raw: `{"$ref":"https://example.com/schema.json"}`,
			wantErr: []string{`$ref "https://example.com/schema.json" points outside this schema`, "refused"}},
		{name: "relative file ref refused", raw: `{"properties":{"a":{"$ref":"other.json#/a"}}}`,
			wantErr: []string{`$ref "other.json" points outside this schema`}},
		{name: "file ref refused", raw: `{"$ref":"file:///etc/passwd"}`,
			wantErr: []string{`$ref "file:///etc/passwd" points outside this schema`}},
		{name: "unsupported $schema", raw: `{"$schema":"https://example.com/my-meta"}`,
			wantErr: []string{`unsupported $schema "https://example.com/my-meta"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := CompileSchema("instance", []byte(tt.raw))
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				require.Nil(t, s)
				for _, w := range tt.wantErr {
					require.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			if tt.nilOK {
				require.Nil(t, s)
				return
			}
			require.NotNil(t, s)
			require.Equal(t, "instance", s.Name())
			require.JSONEq(t, tt.raw, string(s.Raw()))
		})
	}
}

func TestNilSchema(t *testing.T) {
	var s *Schema
	require.Nil(t, s.Raw())
	require.Equal(t, "", s.Name())
	require.NoError(t, s.Validate(json.RawMessage(`{"anything":[1,2,3]}`)))
	requireCode(t, job.CodeBadRequest, s.Validate(json.RawMessage(`{"a":`)))

	out, err := s.ApplyDefaults(json.RawMessage(`{"a": 1}`))
	require.NoError(t, err)
	require.Equal(t, `{"a": 1}`, string(out))
	out, err = s.ApplyDefaults(nil)
	require.NoError(t, err)
	require.Empty(t, out)
}

// knapsack schemas: the same rules in both supported drafts.
const knapsack07 = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["capacity", "items"],
  "additionalProperties": false,
  "properties": {
    "capacity": {"type": "integer", "minimum": 0},
    "mode": {"enum": ["fast", "exact"]},
    "items": {"type": "array", "items": {"$ref": "#/definitions/item"}},
    "groups": {"type": "array", "items": {"type": "array", "items": {"$ref": "#/definitions/item"}}}
  },
  "definitions": {
    "item": {
      "type": "object",
      "required": ["name", "weight"],
      "additionalProperties": false,
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "weight": {"type": "number", "minimum": 0}
      }
    }
  }
}`

// knapsack2020 is knapsack07 in draft 2020-12: its $schema, and $defs
// for definitions.
var knapsack2020 = strings.NewReplacer(
	"http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2020-12/schema",
	`"definitions"`, `"$defs"`,
	"#/definitions/", "#/$defs/",
).Replace(knapsack07)

func TestValidateReportsEveryViolation(t *testing.T) {
	doc := `{
	  "capacity": -1,
	  "mode": "slow",
	  "colour": "red",
	  "items": [
	    {"name": "a", "weight": 2},
	    {"name": "", "weight": -3, "extra": true, "more": 1},
	    {"weight": "heavy"}
	  ],
	  "groups": [[{"name": "g", "weight": 1}], [{"name": "h"}, 7]]
	}`
	want := []job.Violation{
		{Pointer: "/capacity", Keyword: "minimum"},
		{Pointer: "/colour", Keyword: "additionalProperties"},
		{Pointer: "/groups/1/0", Keyword: "required"},
		{Pointer: "/groups/1/1", Keyword: "type"},
		{Pointer: "/items/1/extra", Keyword: "additionalProperties"},
		{Pointer: "/items/1/more", Keyword: "additionalProperties"},
		{Pointer: "/items/1/name", Keyword: "minLength"},
		{Pointer: "/items/1/weight", Keyword: "minimum"},
		{Pointer: "/items/2", Keyword: "required"},
		{Pointer: "/items/2/weight", Keyword: "type"},
		{Pointer: "/mode", Keyword: "enum"},
	}
	// knapsack2020 is rewritten from knapsack07: nothing of draft-07 is left.
	require.NotContains(t, knapsack2020, "definitions")
	require.NotContains(t, knapsack2020, "draft-07")
	for _, tt := range []struct{ name, schema string }{
		{"draft-07", knapsack07},
		{"2020-12", knapsack2020},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := CompileSchema("instance", []byte(tt.schema))
			require.NoError(t, err)

			require.NoError(t, s.Validate(json.RawMessage(`{"capacity": 10, "items": [{"name": "a", "weight": 1.5}]}`)))

			err = s.Validate(json.RawMessage(doc))
			e := requireCode(t, job.CodeInvalid, err)
			require.Equal(t, "instance is invalid", e.Message)
			got := make([]job.Violation, len(e.Violations))
			for i, v := range e.Violations {
				require.NotEmpty(t, v.Message, "violation %d", i)
				got[i] = job.Violation{Pointer: v.Pointer, Keyword: v.Keyword}
			}
			require.Equal(t, want, got)

			msgs := map[string]string{}
			for _, v := range e.Violations {
				msgs[v.Pointer+" "+v.Keyword] = v.Message
			}
			require.Equal(t, "additionalProperties 'colour' not allowed", msgs["/colour additionalProperties"])
			require.Equal(t, "additionalProperties 'extra' not allowed", msgs["/items/1/extra additionalProperties"])
			require.Equal(t, "additionalProperties 'more' not allowed", msgs["/items/1/more additionalProperties"])
			require.Equal(t, "missing properties: 'name'", msgs["/items/2 required"])
			require.Equal(t, "missing properties: 'weight'", msgs["/groups/1/0 required"])
		})
	}
}

func TestValidateIsDeterministic(t *testing.T) {
	s, err := CompileSchema("instance", []byte(`{"additionalProperties": false, "properties": {"z": {"type": "string"}}}`))
	require.NoError(t, err)
	doc := json.RawMessage(`{"e":1,"d":1,"c":1,"b":1,"a":1,"z":0}`)
	first := s.Validate(doc).Error()
	require.Contains(t, first, "/a: additionalProperties 'a' not allowed; /b: additionalProperties 'b' not allowed; /c: ")
	for range 20 {
		require.Equal(t, first, s.Validate(doc).Error())
	}
}

func TestPointerEscaping(t *testing.T) {
	s, err := CompileSchema("instance", []byte(`{
	  "properties": {
	    "a/b": {"type": "integer"},
	    "c~d": {"minimum": 3},
	    "~/": {"properties": {"x/y~z": {"type": "string"}}},
	    "with space": {"type": "string"},
	    "per%cent": {"type": "string"},
	    "ünï": {"type": "string"}
	  },
	  "patternProperties": {"^p/": {"type": "boolean"}}
	}`))
	require.NoError(t, err)
	err = s.Validate(json.RawMessage(`{"a/b":"s","c~d":1,"~/":{"x/y~z":1},"with space":1,"per%cent":1,"ünï":1,"p/q":1}`))
	e := requireCode(t, job.CodeInvalid, err)
	var ptrs []string
	for _, v := range e.Violations {
		ptrs = append(ptrs, v.Pointer)
	}
	require.Equal(t, []string{"/a~1b", "/c~0d", "/per%cent", "/p~1q", "/with space", "/~0~1/x~1y~0z", "/ünï"}, ptrs)
}

func TestValidateKeywords(t *testing.T) {
	tests := []struct {
		name, schema, doc string
		want              []job.Violation // Message ignored
	}{
		{"false property schema", `{"properties":{"x":false}}`, `{"x":1}`,
			[]job.Violation{{Pointer: "/x", Keyword: "properties"}}},
		{"root false schema", `false`, `1`,
			[]job.Violation{{Pointer: "", Keyword: "false"}}},
		{"anyOf leaves", `{"anyOf":[{"type":"string"},{"type":"integer","minimum":5}]}`, `3`,
			[]job.Violation{{Pointer: "", Keyword: "minimum"}, {Pointer: "", Keyword: "type"}}},
		{"contains 2020-12", `{"contains":{"type":"string"}}`, `[1,2]`,
			[]job.Violation{{Pointer: "", Keyword: "minContains"}}},
		{"contains draft-07", `{"$schema":"http://json-schema.org/draft-07/schema#","contains":{"type":"string"}}`, `[1,2]`,
			[]job.Violation{{Pointer: "", Keyword: "contains"}}},
		{"draft-07 tuple items", `{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"string"}],"additionalItems":false}`, `[1,"x"]`,
			[]job.Violation{{Pointer: "", Keyword: "additionalItems"}, {Pointer: "/0", Keyword: "type"}}},
		{"dependentRequired", `{"dependentRequired":{"a":["b"]}}`, `{"a":1}`,
			[]job.Violation{{Pointer: "", Keyword: "dependentRequired"}}},
		{"property named like a keyword", `{"properties":{"minimum":{"properties":{"properties":{"maximum":1}}}}}`, `{"minimum":{"properties":2}}`,
			[]job.Violation{{Pointer: "/minimum/properties", Keyword: "maximum"}}},
		{"format asserted in 2020-12", `{"format":"date-time"}`, `"yesterday"`,
			[]job.Violation{{Pointer: "", Keyword: "format"}}},
		{"allOf duplicates merged", `{"allOf":[{"$ref":"#/$defs/p"},{"$ref":"#/$defs/p"}],"$defs":{"p":{"minimum":1}}}`, `0`,
			[]job.Violation{{Pointer: "", Keyword: "minimum"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := CompileSchema("doc", []byte(tt.schema))
			require.NoError(t, err)
			e := requireCode(t, job.CodeInvalid, s.Validate(json.RawMessage(tt.doc)))
			require.Equal(t, "doc is invalid", e.Message)
			var got []job.Violation
			for _, v := range e.Violations {
				require.NotEmpty(t, v.Message)
				got = append(got, job.Violation{Pointer: v.Pointer, Keyword: v.Keyword})
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestValidateBigIntegersExact(t *testing.T) {
	// 2^53+1 is not representable as a float64; decoding with UseNumber keeps it exact.
	s, err := CompileSchema("instance", []byte(`{"type":"integer","maximum":9007199254740993}`))
	require.NoError(t, err)
	require.NoError(t, s.Validate(json.RawMessage(`9007199254740993`)))
	e := requireCode(t, job.CodeInvalid, s.Validate(json.RawMessage(`9007199254740994`)))
	require.Equal(t, "maximum", e.Violations[0].Keyword)

	s, err = CompileSchema("instance", []byte(`{"properties":{"id":{"const":12345678901234567890123}}}`))
	require.NoError(t, err)
	require.NoError(t, s.Validate(json.RawMessage(`{"id":12345678901234567890123}`)))
	requireCode(t, job.CodeInvalid, s.Validate(json.RawMessage(`{"id":12345678901234567890124}`)))
}

func TestValidateMalformedJSON(t *testing.T) {
	s, err := CompileSchema("instance", []byte(`{"type":"object"}`))
	require.NoError(t, err)
	tests := []struct{ name, doc, want string }{
		{"empty", "", "instance is empty"},
		{"blank", "  ", "instance is empty"},
		{"truncated", `{"a": [1, 2`, "instance is not valid JSON: unexpected end of JSON input"},
		{"syntax", "{\n  \"a\": tru\n}", "instance is not valid JSON: invalid character '\\n' in literal true (expecting 'e') (line 2, column 11)"},
		{"two values", `{} {}`, "instance is not valid JSON: unexpected data after the top-level value (line 1, column 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate(json.RawMessage(tt.doc))
			e := requireCode(t, job.CodeBadRequest, err)
			require.Contains(t, e.Message, tt.want)
			_, err = s.ApplyDefaults(json.RawMessage(tt.doc))
			if tt.name == "empty" || tt.name == "blank" {
				require.NoError(t, err) // empty is "no document yet" for defaults
				return
			}
			requireCode(t, job.CodeBadRequest, err)
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	tests := []struct {
		name, schema, doc, want string
		notIdempotent           bool // recursive defaults grow on each pass
	}{
		{
			name:   "flat",
			schema: `{"type":"object","properties":{"a":{"type":"integer","default":1},"b":{"type":"string","default":"x"},"c":{"type":"string"}}}`,
			doc:    `{"b":"given"}`,
			want:   `{"a":1,"b":"given"}`,
		},
		{
			name:   "empty doc with object schema",
			schema: `{"type":"object","properties":{"timeLimit":{"type":"number","default":60}}}`,
			doc:    ``,
			want:   `{"timeLimit":60}`,
		},
		{
			name:   "null doc with object schema",
			schema: `{"type":"object","properties":{"timeLimit":{"type":"number","default":60}}}`,
			doc:    `null`,
			want:   `{"timeLimit":60}`,
		},
		{
			name:   "empty doc with non-object schema stays empty",
			schema: `{"type":"array"}`,
			doc:    ``,
			want:   ``,
		},
		{
			name:   "nested existing object is filled",
			schema: `{"type":"object","properties":{"opts":{"type":"object","properties":{"gap":{"default":0.01},"threads":{"default":4}}}}}`,
			doc:    `{"opts":{"threads":8}}`,
			want:   `{"opts":{"gap":0.01,"threads":8}}`,
		},
		{
			name:   "missing nested object without default is not created",
			schema: `{"type":"object","properties":{"opts":{"type":"object","properties":{"gap":{"default":0.01}}}}}`,
			doc:    `{}`,
			want:   `{}`,
		},
		{
			name:   "missing nested object with default is created and filled",
			schema: `{"type":"object","properties":{"opts":{"type":"object","default":{"threads":2},"properties":{"gap":{"default":0.01},"threads":{"default":4}}}}}`,
			doc:    `{}`,
			want:   `{"opts":{"gap":0.01,"threads":2}}`,
		},
		{
			name:   "draft-07 $ref to definitions",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"solver":{"$ref":"#/definitions/solver"}},"definitions":{"solver":{"type":"object","default":{},"properties":{"name":{"default":"cbc"},"msg":{"default":false}}}}}`,
			doc:    `{}`,
			want:   `{"solver":{"msg":false,"name":"cbc"}}`,
		},
		{
			name:   "draft-07 default beside $ref is honoured",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"opts":{"$ref":"#/definitions/opts","default":{}},"a~/b":{"$ref":"#/definitions/n","default":5}},"definitions":{"n":{"type":"integer"},"opts":{"type":"object","properties":{"scale":{"default":1}}}}}`,
			doc:    `{}`,
			want:   `{"a~/b":5,"opts":{"scale":1}}`,
		},
		{
			name:   "2020-12 $ref to $defs with sibling default",
			schema: `{"type":"object","properties":{"limit":{"$ref":"#/$defs/seconds","default":30}},"$defs":{"seconds":{"type":"number","minimum":0}}}`,
			doc:    `{}`,
			want:   `{"limit":30}`,
		},
		{
			name:   "allOf merges properties",
			schema: `{"type":"object","allOf":[{"properties":{"a":{"default":1}}},{"$ref":"#/$defs/b"}],"$defs":{"b":{"properties":{"b":{"default":2}}}}}`,
			doc:    `{}`,
			want:   `{"a":1,"b":2}`,
		},
		{
			name:   "array items",
			schema: `{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"qty":{"default":1},"tags":{"default":[]}}}}}}`,
			doc:    `{"items":[{"qty":5},{},3]}`,
			want:   `{"items":[{"qty":5,"tags":[]},{"qty":1,"tags":[]},3]}`,
		},
		{
			name:   "draft-07 tuple items and 2020-12 prefixItems",
			schema: `{"type":"object","properties":{"p":{"prefixItems":[{"properties":{"a":{"default":1}}}],"items":{"properties":{"b":{"default":2}}}}}}`,
			doc:    `{"p":[{},{}]}`,
			want:   `{"p":[{"a":1},{"b":2}]}`,
		},
		{
			name:   "additionalProperties schema fills map values",
			schema: `{"type":"object","properties":{"fixed":{"type":"object"}},"additionalProperties":{"type":"object","properties":{"w":{"default":1}}}}`,
			doc:    `{"fixed":{},"x":{},"y":{"w":3}}`,
			want:   `{"fixed":{},"x":{"w":1},"y":{"w":3}}`,
		},
		{
			name:          "recursive schema with self-creating default terminates",
			schema:        `{"$defs":{"node":{"type":"object","properties":{"child":{"$ref":"#/$defs/node","default":{}},"v":{"default":0}}}},"$ref":"#/$defs/node"}`,
			doc:           `{}`,
			want:          `{"child":{"child":{},"v":0},"v":0}`,
			notIdempotent: true,
		},
		{
			name:   "defaults are copies, big numbers stay exact, HTML not escaped",
			schema: `{"type":"object","properties":{"a":{"default":{"n":12345678901234567890}},"b":{"default":"<&>"}}}`,
			doc:    `{"z":98765432109876543210}`,
			want:   `{"a":{"n":12345678901234567890},"b":"<&>","z":98765432109876543210}`,
		},
		{
			name:   "explicit null is kept",
			schema: `{"type":"object","properties":{"a":{"default":1}}}`,
			doc:    `{"a":null}`,
			want:   `{"a":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := CompileSchema("config", []byte(tt.schema))
			require.NoError(t, err)
			got, err := s.ApplyDefaults(json.RawMessage(tt.doc))
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
			// Applying twice changes nothing more.
			if tt.want != "" && !tt.notIdempotent {
				again, err := s.ApplyDefaults(got)
				require.NoError(t, err)
				require.Equal(t, tt.want, string(again))
			}
		})
	}
}

func TestApplyDefaultsDoesNotShareDefaults(t *testing.T) {
	s, err := CompileSchema("config", []byte(`{"type":"object","properties":{"opts":{"default":{"list":[1]}}}}`))
	require.NoError(t, err)
	first, err := s.ApplyDefaults(json.RawMessage(`{}`))
	require.NoError(t, err)
	second, err := s.ApplyDefaults(json.RawMessage(`{}`))
	require.NoError(t, err)
	require.Equal(t, string(first), string(second))
	require.Equal(t, `{"opts":{"list":[1]}}`, string(second))
}

// requireCode asserts err is a *job.Error with code and returns it.
func requireCode(t *testing.T, code job.Code, err error) *job.Error {
	t.Helper()
	require.Error(t, err)
	var e *job.Error
	require.True(t, errors.As(err, &e), "want *job.Error, got %T: %v", err, err)
	require.Equal(t, code, e.Code, "error: %v", err)
	return e
}

// TestAdditionalPropertyPointers: each property that additionalProperties
// false refuses gets its own violation pointing at it (RFC 6901 escaped),
// whatever its name, at the root and deeper down.
func TestAdditionalPropertyPointers(t *testing.T) {
	s, err := CompileSchema("instance", []byte(`{"type":"object","additionalProperties":false,
		"properties":{"ok":{"type":"object","additionalProperties":false,"properties":{"x":{}}}}}`))
	require.NoError(t, err)
	err = s.Validate(json.RawMessage(`{"a/b":1,"t~":2,"it's":3,"say \"hi\"":4,"back\\slash'":5,"é\n":6,"ok":{"x":1,"y":2}}`))
	e := requireCode(t, job.CodeInvalid, err)
	got := map[string]string{}
	for _, v := range e.Violations {
		require.Equal(t, "additionalProperties", v.Keyword)
		got[v.Pointer] = v.Message
	}
	require.Equal(t, map[string]string{
		"/a~1b":        "additionalProperties 'a/b' not allowed",
		"/t~0":         "additionalProperties 't~' not allowed",
		"/it's":        `additionalProperties 'it\'s' not allowed`,
		`/say "hi"`:    `additionalProperties 'say "hi"' not allowed`,
		`/back\slash'`: `additionalProperties 'back\\slash\'' not allowed`,
		"/é\n":         `additionalProperties 'é\n' not allowed`,
		"/ok/y":        "additionalProperties 'y' not allowed",
	}, got)
}
