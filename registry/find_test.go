package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
)

// libraryViolations lists doc's violations of s with the library alone on
// the whole document, as Validate did before finder.
func libraryViolations(t *testing.T, s *Schema, doc string) []job.Violation {
	t.Helper()
	v, ok := fastDecode([]byte(doc))
	require.True(t, ok, doc)
	err := s.schema.Validate(libTree(v))
	if err == nil {
		return nil
	}
	ve, ok := errors.AsType[*jsonschema.ValidationError](err)
	require.True(t, ok, "%v", err)
	return violations(ve, s.legacyDraft())
}

// TestFinderListsTheLibrarysViolations checks that the violations finder
// lists are those the library lists on the whole document: pointers,
// keywords and messages, for schemas finder walks itself ($ref, allOf,
// properties, patternProperties, additionalProperties, items in both
// drafts, boolean subschemas) and those it leaves to the library (anyOf,
// enum, contains, ...).
func TestFinderListsTheLibrarysViolations(t *testing.T) {
	routing := `{
	  "type": "object", "required": ["name", "customers"], "additionalProperties": false,
	  "properties": {
	    "name": {"type": "string", "minLength": 1},
	    "customers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/customer"}},
	    "depot": {"allOf": [{"$ref": "#/$defs/point"}, {"required": ["id"], "properties": {"id": {"type": "string"}}}]}
	  },
	  "$defs": {
	    "point": {"type": "object", "required": ["x", "y"], "properties": {"x": {"type": "number", "maximum": 10}, "y": {"type": "number"}}},
	    "customer": {
	      "allOf": [{"$ref": "#/$defs/point"}],
	      "type": "object", "required": ["id", "window"], "additionalProperties": false,
	      "dependentRequired": {"priority": ["demand"]},
	      "properties": {
	        "id": {"type": "string", "maxLength": 4}, "x": true, "y": true, "demand": {"type": "integer", "minimum": 0},
	        "window": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer", "minimum": 5}], "items": false},
	        "priority": {"enum": ["low", "high"]},
	        "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
	        "alt": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/point"}]},
	        "gone": false
	      },
	      "patternProperties": {"^x-": {"type": "string", "pattern": "^[a-z]+$"}}
	    }
	  }
	}`
	draft7 := `{
	  "$schema": "http://json-schema.org/draft-07/schema#",
	  "type": "object",
	  "dependencies": {"a": ["b"]},
	  "properties": {
	    "pairs": {"type": "array", "items": [{"type": "string"}, {"$ref": "#/definitions/n"}], "additionalItems": {"$ref": "#/definitions/n"}},
	    "fixed": {"type": "array", "items": [{"type": "string"}], "additionalItems": false},
	    "m": {"type": "object", "additionalProperties": {"$ref": "#/definitions/n"}, "maxProperties": 2},
	    "list": {"type": "array", "maxItems": 2, "contains": {"type": "string"}, "items": {"type": ["object", "null"], "properties": {"k": {"$ref": "#/definitions/n"}}}},
	    "tree": {"$ref": "#/definitions/tree"}
	  },
	  "definitions": {
	    "n": {"type": "integer", "multipleOf": 3},
	    "tree": {"type": "object", "required": ["v"], "properties": {"v": {"$ref": "#/definitions/n"}, "kids": {"type": "array", "items": {"$ref": "#/definitions/tree"}}}}
	  }
	}`
	tests := []struct {
		schema string
		docs   []string
	}{
		{benchSchema, []string{
			`[]`,
			`{"capacity":-1}`,
			`{"capacity":1,"items":[{"name":"a","weight":0,"value":1},{"name":"b","weight":2,"value":-1,"tags":["x",1]},{"weight":"3","value":1,"extra":1,"more":2}],"x":1}`,
			`{"capacity":1,"items":[1,null,{},[]]}`,
		}},
		{routing, []string{
			`{"name":"","customers":[]}`,
			`{"customers":[{"id":"c12345","x":11,"window":[1,2,3],"priority":"mid","gone":1,"x-a":"B","x-b":1,"tags":["a","a"],"alt":{"x":"no"}}],"depot":{"x":20},"other":{}}`,
			`{"name":"n","customers":[{"id":"c1","x":1,"y":2,"window":[1,9]},{"id":"c2","y":2,"window":["1",1],"priority":"low","demand":-1.5},{"window":{}},null]}`,
			`{"name":"n","customers":[{"id":"c1","x":1,"y":2,"window":[1,9],"demand":1}],"depot":[]}`,
		}},
		{draft7, []string{
			`{"a":1}`,
			`{"pairs":["a",3,4,"b"],"fixed":["a","b",1],"m":{"a":3,"b":4,"c":"x"},"list":[{"k":1},null,{"k":"a"}],"tree":{"v":3,"kids":[{"v":4},{"kids":[{"v":"x"},{"v":9,"kids":[1]}]}]}}`,
			`{"pairs":{},"tree":{"v":1}}`,
		}},
		{`{"type":"array","items":false}`, []string{`[1,2]`}},
		{`{"properties":{"a":{"not":{"type":"object"}},"b":{"oneOf":[{"type":"object"},{"required":["c"]}]},"c":{"const":{"x":1}},"d":{"if":{"type":"object"},"then":{"required":["e"]}}}}`,
			[]string{`{"a":{},"b":{"c":1},"c":{"x":2},"d":{}}`}},
	}
	for i, tt := range tests {
		s, err := CompileSchema("instance", []byte(tt.schema))
		require.NoError(t, err)
		require.NotNil(t, s.quick, "schema %d", i)
		for _, doc := range tt.docs {
			want := libraryViolations(t, s, doc)
			require.NotEmpty(t, want, doc)
			err := s.Validate([]byte(doc))
			je, ok := errors.AsType[*job.Error](err)
			require.True(t, ok, "%v", err)
			require.Equal(t, "instance is invalid", je.Message)
			require.Equal(t, want, je.Violations, "schema %d, doc %s", i, doc)
		}
	}
}

// TestViolationsAreCut checks that a document with more than maxViolations
// violations lists maxViolations of them, and says so.
func TestViolationsAreCut(t *testing.T) {
	s, err := CompileSchema("instance", []byte(benchSchema))
	require.NoError(t, err)
	items := make([]string, maxViolations+500)
	for i := range items {
		items[i] = fmt.Sprintf(`{"name":"i%d","weight":0,"value":1}`, i)
	}
	doc := `{"capacity":1,"items":[` + strings.Join(items, ",") + `]}`
	all := libraryViolations(t, s, doc)
	require.Len(t, all, len(items))

	je, ok := errors.AsType[*job.Error](s.Validate([]byte(doc)))
	require.True(t, ok)
	require.Equal(t, job.CodeInvalid, je.Code)
	require.Equal(t, fmt.Sprintf("instance is invalid (only the first %d violations are listed)", maxViolations), je.Message)
	require.Len(t, je.Violations, maxViolations)
	for i, v := range je.Violations {
		// The first items of the document, sorted by pointer.
		require.Contains(t, all, v)
		require.Equal(t, "minimum", v.Keyword)
		if i > 0 {
			require.Less(t, je.Violations[i-1].Pointer, v.Pointer)
		}
	}
	require.Equal(t, "/items/0/weight", je.Violations[0].Pointer)
	require.Equal(t, fmt.Sprintf("/items/%d/weight", maxViolations-1), je.Violations[len(je.Violations)-1].Pointer)

	// Exactly maxViolations: all listed, nothing said.
	doc = `{"capacity":1,"items":[` + strings.Join(items[:maxViolations], ",") + `]}`
	je, ok = errors.AsType[*job.Error](s.Validate([]byte(doc)))
	require.True(t, ok)
	require.Equal(t, "instance is invalid", je.Message)
	require.Equal(t, libraryViolations(t, s, doc), je.Violations)
}

// TestFinderAgreesWithLibrary crosses quickSchemas and quickDocs, each
// also nested under "properties", "items" and "allOf"/"$ref", so that
// finder walks to them: Validate lists what the library lists on the
// whole document.
func TestFinderAgreesWithLibrary(t *testing.T) {
	type wrap struct{ schema, doc string }
	wraps := []wrap{
		{"%s", "%s"},
		{`{"type":"object","required":["q"],"properties":{"p":%s,"q":{"type":"integer"}}}`, `{"p":%s,"q":1,"r":[1]}`},
		{`{"items":%s,"maxItems":2}`, `[%[1]s,1,%[1]s]`},
		{`{"allOf":[{"$ref":"#/$defs/x"},{"properties":{"p":{"type":"array"}}}],"$defs":{"x":{"properties":{"p":%s}}}}`, `{"p":%s}`},
	}
	invalid := 0
	for _, raw := range quickSchemas {
		for i, w := range wraps {
			if i > 0 && strings.Contains(raw, `"$`) {
				continue // "$schema", "$id" and "#" references belong at the root
			}
			s, err := CompileSchema("doc", []byte(fmt.Sprintf(w.schema, raw)))
			require.NoError(t, err, w.schema, raw)
			for _, d := range quickDocs {
				doc := fmt.Sprintf(w.doc, d)
				want := libraryViolations(t, s, doc)
				err := s.Validate([]byte(doc))
				if want == nil {
					require.NoError(t, err, "schema %s, document %s", fmt.Sprintf(w.schema, raw), doc)
					continue
				}
				invalid++
				je, ok := errors.AsType[*job.Error](err)
				require.True(t, ok, "%v", err)
				require.Equal(t, want, je.Violations, "schema %s, document %s", fmt.Sprintf(w.schema, raw), doc)
			}
		}
	}
	require.Greater(t, invalid, 1000)
}

// TestFinderAgreesWithLibraryOnMutations breaks valid documents of
// benchSchema in random places (a value of another type or out of bounds,
// a member removed or added) and compares Validate's violations with the
// library's on the whole document.
func TestFinderAgreesWithLibraryOnMutations(t *testing.T) {
	s, err := CompileSchema("instance", []byte(benchSchema))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	replacements := []any{"x", -1, 0, 1.5, nil, map[string]any{}, []any{}, true, 2000000}
	var mutate func(v any) any
	mutate = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			if len(v) > 0 && rng.IntN(4) == 0 {
				for k := range v {
					if rng.IntN(2) == 0 {
						delete(v, k)
						break
					}
				}
			}
			if rng.IntN(8) == 0 {
				v[fmt.Sprintf("extra%d", rng.IntN(3))] = 1
			}
			for k, x := range v {
				if rng.IntN(6) == 0 {
					v[k] = replacements[rng.IntN(len(replacements))]
				} else {
					v[k] = mutate(x)
				}
			}
		case []any:
			for i, x := range v {
				if rng.IntN(20) == 0 {
					v[i] = replacements[rng.IntN(len(replacements))]
				} else if rng.IntN(3) == 0 {
					v[i] = mutate(x)
				}
			}
		}
		return v
	}
	base := benchInstance(4 << 10)
	invalid := 0
	for range 200 {
		var v any
		require.NoError(t, json.Unmarshal(base, &v))
		doc, err := json.Marshal(mutate(v))
		require.NoError(t, err)
		want := libraryViolations(t, s, string(doc))
		err = s.Validate(doc)
		if want == nil {
			require.NoError(t, err, string(doc))
			continue
		}
		invalid++
		je, ok := errors.AsType[*job.Error](err)
		require.True(t, ok, "%v", err)
		require.Equal(t, want, je.Violations, string(doc))
	}
	require.Greater(t, invalid, 150)
}
