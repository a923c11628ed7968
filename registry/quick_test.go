package registry

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/internal/jsontree"
	"github.com/solvekit/solvekit/job"
)

// normalize turns a decoded tree into one comparable across decoders:
// objects and maps as maps, int64 as the json.Number of its digits.
func normalize(v any) any {
	switch v := v.(type) {
	case *array:
		return normalize([]any(*v))
	case *object:
		m := map[string]any{}
		for _, mb := range *v {
			m[mb.name] = normalize(mb.value)
		}
		return m
	case int64:
		return json.Number(strconv.FormatInt(v, 10))
	}
	return jsontree.Copy(v, normalize)
}

// checkDecode requires fastDecode to agree with encoding/json on doc: it
// may decline a document (the caller then uses decodeJSON), but never
// accept one encoding/json refuses, nor yield a different value.
func checkDecode(t *testing.T, doc []byte) (accepted bool) {
	t.Helper()
	fast, ok := fastDecode(doc)
	want, err := decodeJSON(doc)
	if err != nil {
		require.False(t, ok, "fastDecode accepted %q, which encoding/json refuses: %v", doc, err)
		return false
	}
	if !ok {
		return false
	}
	require.True(t, reflect.DeepEqual(normalize(want), normalize(fast)),
		"fastDecode(%q) = %#v, encoding/json gives %#v", doc, normalize(fast), normalize(want))
	return true
}

var decodeCases = []string{
	`null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `123456789012345678`, `1234567890123456789`,
	`-9223372036854775808`, `9223372036854775807`, `99999999999999999999999`, `1.0`, `1e2`, `1E+2`,
	`-1.5e-3`, `0.1`, `1e400`, `-1e-400`, `""`, `"a"`, `"\u00e9\n\t\"\\\/"`, `"\ud83d\ude00"`,
	`"\ud83d"`, `"é ü 日本"`, "\"\xff\xfe\"", `[]`, `{}`, ` [ 1 , 2 ] `, "\t{\"a\"\n:\r1}\n",
	`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":null}]},"d":"e"}`, `[[[[[]]]]]`,
	`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k1":"again","k17":17,"k16":"again"}`,
	`{"\u0061":1,"a":2}`,
	// malformed
	``, ` `, `{`, `[1,]`, `{"a":1,}`, `{"a"}`, `{a:1}`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`,
	`tru`, `nul`, `"abc`, "\"a\x01b\"", `"\x"`, `"\u12"`, `[1 2]`, `{} {}`, `{}x`, "\xef\xbb\xbf{}",
	`NaN`, `Infinity`, `[`, `]`, `"\`,
}

func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	accepted := 0
	for _, doc := range decodeCases {
		if checkDecode(t, []byte(doc)) {
			accepted++
		}
	}
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	require.False(t, checkDecode(t, []byte(deep)), "a document deeper than encoding/json allows is left to it")
	ok := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	require.True(t, checkDecode(t, []byte(ok)))
	require.Greater(t, accepted, 30, "fastDecode takes the valid documents itself")
}

func FuzzFastDecode(f *testing.F) {
	for _, doc := range decodeCases {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkDecode(t, doc) })
}

// quickSchemas and quickDocs are crossed by TestQuickAgreesWithLibrary.
var quickSchemas = []string{
	`true`, `false`, `{}`,
	`{"type":"integer"}`, `{"type":"number"}`, `{"type":["integer","string"]}`, `{"type":"null"}`,
	`{"type":"boolean"}`, `{"type":"object"}`, `{"type":"array"}`, `{"type":"string"}`,
	`{"minimum":0}`, `{"minimum":0.1}`, `{"exclusiveMinimum":0.1}`, `{"maximum":1e308}`,
	`{"maximum":9007199254740992}`, `{"exclusiveMaximum":9007199254740993}`, `{"minimum":-1e400}`,
	`{"maximum":12345678901234567890}`, `{"minimum":2.5,"maximum":10}`,
	`{"multipleOf":0.1}`, `{"multipleOf":0.01}`, `{"multipleOf":3}`, `{"multipleOf":1e-8}`, `{"multipleOf":2.5}`,
	`{"$schema":"http://json-schema.org/draft-04/schema#","minimum":1,"exclusiveMinimum":true}`,
	`{"enum":[1,2.5,"a",null,{"a":1},[1,"x"]]}`, `{"const":1.0}`, `{"const":{"a":[1,{"b":null}]}}`, `{"const":0.1}`,
	`{"uniqueItems":true}`, `{"minItems":2,"maxItems":3}`,
	`{"prefixItems":[{"type":"integer"},{"type":"string"}],"items":false}`,
	`{"prefixItems":[{"type":"integer"}],"items":{"type":"string"}}`,
	`{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"integer"}],"additionalItems":false}`,
	`{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"integer"}],"additionalItems":{"type":"string"}}`,
	`{"$schema":"http://json-schema.org/draft-07/schema#","items":{"minimum":1}}`,
	`{"$schema":"http://json-schema.org/draft-07/schema#","contains":{"type":"string"}}`,
	`{"contains":{"type":"integer"},"minContains":2,"maxContains":3}`, `{"contains":{"type":"integer"},"minContains":0}`,
	`{"required":["a","b"]}`, `{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"additionalProperties":false}`,
	`{"properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}`,
	`{"patternProperties":{"^k[0-9]+$":{"type":"integer"}},"additionalProperties":false}`,
	`{"propertyNames":{"maxLength":1}}`, `{"minProperties":1,"maxProperties":2}`,
	`{"$schema":"http://json-schema.org/draft-07/schema#","dependencies":{"a":["b"],"b":{"required":["c"]}}}`,
	`{"dependentRequired":{"a":["b"]}}`, `{"dependentSchemas":{"a":{"properties":{"b":{"type":"integer"}}}}}`,
	`{"allOf":[{"minimum":1},{"maximum":9}]}`, `{"anyOf":[{"type":"string"},{"minimum":3}]}`,
	`{"oneOf":[{"type":"integer"},{"minimum":2}]}`, `{"not":{"type":"string"}}`,
	`{"if":{"type":"integer"},"then":{"minimum":3},"else":{"type":"string"}}`, `{"if":{"type":"string"},"then":{"minLength":2}}`,
	`{"$ref":"#/$defs/pos","$defs":{"pos":{"type":"number","exclusiveMinimum":0}}}`,
	`{"$id":"tree","type":"object","properties":{"children":{"type":"array","items":{"$ref":"#"}}}}`,
	`{"format":"date-time"}`, `{"format":"email"}`, `{"format":"ipv4"}`, `{"pattern":"^a+$"}`,
	`{"minLength":2,"maxLength":3}`,
	`{"type":"object","properties":{"a":{"format":"date-time"}}}`,
}

var quickDocs = []string{
	`0`, `-0`, `1`, `1.0`, `1e0`, `1.5`, `0.1`, `0.10`, `1e-1`, `0.3`, `0.30000000000000004`, `3`, `9`, `9.9`, `10`,
	`-1`, `2.5`, `7.5`, `0.00000003`, `9007199254740992`, `9007199254740993`, `9007199254740993.0`, `9007199254740994`,
	`12345678901234567890`, `12345678901234567891`, `1e308`, `1.0000000000000001e308`, `1e400`, `-1e400`, `1e-400`,
	`0.1e1`, `100e-2`, `1E2`, `1.5e1`, `-9223372036854775808`,
	`"a"`, `""`, `"aa"`, `"ü̈"`, `"日本語"`, `"2020-01-01T00:00:00Z"`, `"x@y.z"`, `"10.0.0.1"`, `"aaa"`, `"ab"`,
	`null`, `true`, `false`,
	`[]`, `[1]`, `[1,1]`, `[1,1.0]`, `[1,"1"]`, `[1,"x"]`, `["a","b","a"]`, `[1,2,3]`, `[1,2,3,4]`, `[0,"a"]`,
	`[{"a":1},{"a":1.0}]`, `[[1],[1]]`, `["x",1]`, `[1,"a",2]`,
	`[` + seq(30, "%d") + `]`, `[` + seq(30, "%d") + `,7]`, `[` + seq(30, `"s%d"`) + `]`, `[` + seq(30, `"s%d"`) + `,"s3"]`,
	`[` + seq(30, "%d.5") + `]`, `[` + seq(25, `{"n":%d}`) + `]`,
	`{}`, `{"a":1}`, `{"a":1,"b":"x"}`, `{"a":"x","b":[1,2]}`, `{"a":1,"b":2}`, `{"a":1,"b":2,"c":3}`,
	`{"b":"x"}`, `{"k1":1,"k22":2}`, `{"k1":"x"}`, `{"a":{"b":null}}`, `{"a":[1,{"b":null}]}`, `{"a":[1,{"b":null,"c":1}]}`,
	`{"children":[{"children":[]},{"children":[{}]}]}`, `{"children":[{"children":[1]}]}`,
	`{"a":"2020-01-01T00:00:00Z"}`, `{"a":"soon"}`,
	`{` + seq(40, `"k%d":1`) + `}`, `{` + seq(40, `"k%d":1`) + `,"a":1,"b":2}`,
}

func seq(n int, format string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(format, i)
	}
	return strings.Join(parts, ",")
}

// TestQuickAgreesWithLibrary crosses every schema with every document:
// whenever quick decides (it may leave a case to the library), its verdict
// must be the library's, and Validate must agree with the library always.
func TestQuickAgreesWithLibrary(t *testing.T) {
	decided, total := 0, 0
	for _, raw := range quickSchemas {
		s, err := CompileSchema("doc", []byte(raw))
		require.NoError(t, err, raw)
		require.NotNil(t, s.quick, "quick handles %s", raw)
		for _, doc := range quickDocs {
			tree, err := decodeJSON([]byte(doc))
			require.NoError(t, err, doc)
			libValid := s.schema.Validate(tree) == nil

			v, ok := fastDecode([]byte(doc))
			require.True(t, ok, doc)
			c := checker{q: s.quick}
			quickValid := c.valid(s.schema, v, 0)
			total++
			if !c.abort {
				decided++
				require.Equal(t, libValid, quickValid, "schema %s, document %s: quick says valid=%v, the library %v",
					raw, doc, quickValid, libValid)
			}
			require.Equal(t, libValid, s.Validate(json.RawMessage(doc)) == nil, "schema %s, document %s", raw, doc)
		}
	}
	require.Greater(t, decided, total*9/10, "quick decides most cases itself (%d of %d)", decided, total)
}

// TestQuickLeavesToLibrary: schemas with keywords quick does not decide
// compile without it, and still validate.
func TestQuickLeavesToLibrary(t *testing.T) {
	for _, raw := range []string{
		`{"unevaluatedProperties":false,"properties":{"a":true}}`,
		`{"$dynamicAnchor":"n","$defs":{"x":{"$dynamicRef":"#n"}},"properties":{"a":{"$ref":"#/$defs/x"}}}`,
		`{"contentEncoding":"base64"}`,
	} {
		s, err := CompileSchema("doc", []byte(raw))
		require.NoError(t, err, raw)
		require.Nil(t, s.quick, raw)
		require.NoError(t, s.Validate(json.RawMessage(`{"a":1}`)))
	}
	s, err := CompileSchema("doc", []byte(`{"unevaluatedProperties":false,"properties":{"a":true}}`))
	require.NoError(t, err)
	requireCode(t, job.CodeInvalid, s.Validate(json.RawMessage(`{"a":1,"b":2}`)))
}

// TestValidateNumbersExact: numbers are compared by their exact value,
// whatever float64 would make of them.
func TestValidateNumbersExact(t *testing.T) {
	tests := []struct {
		schema, doc string
		valid       bool
	}{
		{`{"maximum":9007199254740992}`, `9007199254740993`, false}, // equal as float64
		{`{"maximum":9007199254740992}`, `9007199254740993.0`, false},
		{`{"maximum":9007199254740993}`, `9007199254740993`, true},
		{`{"exclusiveMaximum":9007199254740993}`, `9007199254740993`, false},
		{`{"minimum":12345678901234567890}`, `12345678901234567889`, false},
		{`{"minimum":12345678901234567890}`, `12345678901234567890`, true},
		{`{"minimum":0.1}`, `0.1`, true},
		{`{"minimum":0.1}`, `0.09999999999999999`, false},
		{`{"minimum":0.1}`, `0.1000000000000000000001`, true}, // equal as float64
		{`{"exclusiveMinimum":0.1}`, `0.1`, false},
		{`{"exclusiveMinimum":0.1}`, `0.1000000000000000000001`, true},
		{`{"maximum":0.3}`, `0.30000000000000004`, false},
		{`{"multipleOf":0.1}`, `0.3`, true}, // 0.3/0.1 is 2.9999999999999996 in float64
		{`{"multipleOf":0.1}`, `0.30000000000000004`, false},
		{`{"multipleOf":0.01}`, `19.99`, true},
		{`{"multipleOf":3}`, `9007199254740993`, true},
		{`{"multipleOf":3}`, `9007199254740994`, false},
		{`{"type":"integer"}`, `1.0`, true},
		{`{"type":"integer"}`, `1.5e1`, true},
		{`{"type":"integer"}`, `1e-1`, false},
		{`{"type":"integer"}`, `12345678901234567890123`, true},
		{`{"type":"integer"}`, `1e400`, true},
		{`{"maximum":1e308}`, `1e400`, false},
		{`{"minimum":0}`, `-0`, true},
		{`{"minimum":0}`, `-1e-400`, false},
		{`{"enum":[1]}`, `1.0`, true},
		{`{"const":0.1}`, `0.10`, true},
		{`{"const":0.1}`, `0.1000000000000000000001`, false},
	}
	for _, tt := range tests {
		t.Run(tt.schema+" "+tt.doc, func(t *testing.T) {
			s, err := CompileSchema("instance", []byte(tt.schema))
			require.NoError(t, err)
			err = s.Validate(json.RawMessage(tt.doc))
			if tt.valid {
				require.NoError(t, err)
			} else {
				requireCode(t, job.CodeInvalid, err)
			}
		})
	}
}

// TestValidateLargeListsEveryViolation: a large valid-looking document
// with a few bad items still gets every violation, with its pointer.
func TestValidateLargeListsEveryViolation(t *testing.T) {
	s, err := CompileSchema("instance", []byte(benchSchema))
	require.NoError(t, err)
	doc := benchInstance(200 << 10)
	require.NoError(t, s.Validate(doc))
	bad := strings.Replace(string(doc), `"name":"item-7",`, `"name":7,`, 1)
	bad = strings.Replace(bad, `"weight":1,`, `"weight":0,`, 1)
	bad = strings.Replace(bad, `"name":"item-1000","weight":4,"value":0,`, `"name":"item-1000","weight":4,"value":-1,"extra":true,`, 1)
	e := requireCode(t, job.CodeInvalid, s.Validate(json.RawMessage(bad)))
	require.Equal(t, []string{"/items/0/weight minimum", "/items/1000/extra additionalProperties",
		"/items/1000/value minimum", "/items/7/name type"}, pointerKeywords(e))
}

// TestExactFloatMatchesParseFloat: the fast conversion gives strconv's
// float64, bit for bit, for every literal it takes.
func TestExactFloatMatchesParseFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	taken := 0
	for range 50000 {
		digits := strconv.FormatUint(rng.Uint64N(1_000_000_000_000_000_000), 10)
		digits = digits[:1+rng.IntN(min(17, len(digits)))]
		lit := digits
		if p := rng.IntN(len(digits) + 1); p < len(digits) && p > 0 {
			lit = digits[:p] + "." + digits[p:]
		}
		if rng.IntN(2) == 0 {
			lit = "-" + lit
		}
		if rng.IntN(3) == 0 {
			lit += "e" + strconv.Itoa(rng.IntN(60)-30)
		}
		want, err := strconv.ParseFloat(lit, 64)
		require.NoError(t, err, lit)
		if got, ok := exactFloat(lit); ok {
			taken++
			require.Equal(t, math.Float64bits(want), math.Float64bits(got), lit)
		}
	}
	require.Greater(t, taken, 25000)
}
