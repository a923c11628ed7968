package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job"
)

type typedLeaf struct {
	ID       string             `json:"id"`
	X        float64            `json:"x"`
	F32      float32            `json:"f32,omitempty"`
	N        int                `json:"n"`
	I8       int8               `json:"i8"`
	U        uint16             `json:"u"`
	Ok       bool               `json:"ok"`
	Ptr      *int64             `json:"ptr"`
	Any      any                `json:"any"`
	Win      [2]int64           `json:"win"`
	Tags     []string           `json:"tags"`
	Attrs    map[string]float64 `json:"attrs"`
	NoTag    int
	Skipped  int `json:"-"`
	Dash     int `json:"-,"`
	BadTag   int `json:"a\"b"`
	internal int
}

type typedRoot struct {
	Name   string               `json:"name"`
	Leaves []typedLeaf          `json:"leaves"`
	ByKey  map[string]typedLeaf `json:"by_key"`
	Next   *typedRoot           `json:"next"`
	Matrix [][]float64          `json:"matrix"`
}

// randomValue is a JSON value, often of the right shape for t, sometimes
// of another (so that encoding/json refuses it), with odd numbers and
// member names among them.
func randomValue(r *rand.Rand, t reflect.Type, depth int) any {
	if r.IntN(40) == 0 || depth > 4 {
		switch r.IntN(6) {
		case 0:
			return nil
		case 1:
			return "s"
		case 2:
			return json.Number([]string{"1.5", "-0", "1e2", "300", "-7", "1e400", "18446744073709551616", "0.1"}[r.IntN(8)])
		case 3:
			return true
		case 4:
			return []any{1}
		}
		return map[string]any{"k": 1}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return randomValue(r, t.Elem(), depth+1)
	case reflect.Interface:
		return randomValue(r, reflect.TypeFor[typedLeaf](), depth+1)
	case reflect.Struct:
		m := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			if r.IntN(4) == 0 {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" && f.Tag.Get("json") == "-" || strings.Contains(name, "\"") {
				name = f.Name
			}
			switch r.IntN(20) {
			case 0:
				name = strings.ToUpper(name) // matches case-insensitively
			case 1:
				name = "unknown_" + name
			}
			m[name] = randomValue(r, f.Type, depth+1)
		}
		return m
	case reflect.Map:
		m := map[string]any{}
		for i := range r.IntN(4) {
			m[fmt.Sprintf("k%d", i)] = randomValue(r, t.Elem(), depth+1)
		}
		return m
	case reflect.Slice, reflect.Array:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomValue(r, t.Elem(), depth+1)
		}
		return a
	case reflect.String:
		return []string{"a", "é", "x\u00e9\\\"y", ""}[r.IntN(4)]
	case reflect.Bool:
		return r.IntN(2) == 0
	case reflect.Float32, reflect.Float64:
		return json.Number([]string{"1.25", "-3", "1e10", "3.4028235e39", "0.1", "9007199254740993", "123456789012345678901"}[r.IntN(7)])
	default:
		return json.Number([]string{"0", "-1", "127", "128", "65535", "65536", "-129", "9223372036854775807", "9223372036854775808", "2.0"}[r.IntN(10)])
	}
}

// TestDecodeTypedMatchesEncodingJSON: on thousands of random documents,
// decodeTyped either declines or fills exactly what json.Unmarshal fills,
// and it declines every document json.Unmarshal refuses.
func TestDecodeTypedMatchesEncodingJSON(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 1))
	taken, accepted := 0, 0
	for i := range 4000 {
		doc, err := json.Marshal(randomValue(r, reflect.TypeFor[typedRoot](), 0))
		require.NoError(t, err)
		var want typedRoot
		wantErr := json.Unmarshal(doc, &want)
		if wantErr == nil {
			accepted++
		}
		tree, dup, ok := fastDecodeDup(doc)
		require.True(t, ok)
		require.False(t, dup)
		var got typedRoot
		if !decodeTyped(tree, &got) {
			continue
		}
		taken++
		require.NoError(t, wantErr, "seed %d doc %d: decodeTyped took a document encoding/json refuses: %s", seed, i, doc)
		require.True(t, reflect.DeepEqual(want, got), "seed %d doc %d: %s\nencoding/json %#v\ndecodeTyped   %#v", seed, i, doc, want, got)
	}
	t.Logf("encoding/json accepted %d of 4000 documents, decodeTyped took %d", accepted, taken)
	require.Greater(t, accepted, 150, "too few valid documents to compare")
	require.Greater(t, taken, accepted/2, "decodeTyped declined most documents encoding/json accepts")
}

// TestDecodeTypedDeclines: what decodeTyped leaves to encoding/json.
func TestDecodeTypedDeclines(t *testing.T) {
	type embedded struct{ A int }
	type withEmbedded struct{ embedded }
	type withString struct {
		N int `json:"n,string"`
	}
	type twins struct {
		ID int
		Id int //nolint:revive // two names that fold alike
	}
	for _, tt := range []struct {
		name string
		in   any
		doc  string
	}{
		{"time.Time has its own unmarshaler", new(time.Time), `"2024-01-01T00:00:00Z"`},
		{"an embedded struct", new(withEmbedded), `{"A":1}`},
		{"the string option", new(withString), `{"n":"1"}`},
		{"[]byte is base64", new([]byte), `"AQI="`},
		{"json.Number", new(json.Number), `1`},
		{"json.RawMessage", new(json.RawMessage), `{}`},
		{"a non-empty interface", new(fmt.Stringer), `{}`},
		{"int map keys", new(map[int]int), `{"1":1}`},
		{"names that fold alike", new(twins), `{"ID":1}`},
		{"a member that matches only case-insensitively", new(typedLeaf), `{"ID":"x"}`},
		{"a non-ASCII member", new(typedLeaf), `{"ıd":"x"}`},
		{"a fraction into an int", new(typedLeaf), `{"n":1.5}`},
		{"an overflowing int8", new(typedLeaf), `{"i8":300}`},
		{"a negative uint", new(typedLeaf), `{"u":-1}`},
		{"a string for a number", new(typedLeaf), `{"x":"1"}`},
		{"an overflowing float32", new(typedLeaf), `{"f32":1e39}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tree, _, ok := fastDecodeDup([]byte(tt.doc))
			require.True(t, ok)
			require.False(t, decodeTyped(tree, tt.in))
		})
	}
	// A null leaves a number as it was and clears a pointer, as
	// encoding/json does.
	tree, _, _ := fastDecodeDup([]byte(`{"n":null,"ptr":null,"tags":null,"id":"a","unknown":[1]}`))
	n := int64(4)
	got := typedLeaf{N: 3, Ptr: &n, Tags: []string{"t"}}
	require.True(t, decodeTyped(tree, &got))
	require.Equal(t, typedLeaf{N: 3, ID: "a"}, got)
}

// TestValidateInstanceTypedTree: a typed job's instance decoded from the
// schema's tree is checked as one decoded by encoding/json: the same
// struct-tag violations, the same refusals, the same acceptances.
func TestValidateInstanceTypedTree(t *testing.T) {
	type item struct {
		W int `json:"w" validate:"gte=1"`
	}
	type input struct {
		Name  string `json:"name" validate:"required"`
		Items []item `json:"items" validate:"min=1,dive"`
	}
	def := job.AsyncOf("typed-tree", func(context.Context, *job.Context, input) (any, error) { return nil, nil },
		job.WithInstanceSchema([]byte(`{"type":"object","properties":{"name":{"type":"string"},"items":{"type":"array"}}}`)))
	reg := New()
	require.NoError(t, reg.Register(def))
	typ, err := reg.Lookup("typed-tree")
	require.NoError(t, err)
	tree, err := typ.Instance.validateTree("instance", json.RawMessage(`{"name":"a","items":[{"w":0}]}`))
	require.NoError(t, err)
	require.NotNil(t, tree, "the schema check hands its tree on to the typed decode")
	for _, doc := range []string{
		`{"name":"a","items":[{"w":1}]}`,
		`{"name":"","items":[{"w":1}]}`,
		`{"name":"a","items":[]}`,
		`{"name":"a","items":[{"w":0}]}`,
		`{"name":"a","items":[{"w":1.5}]}`,
		`{"name":"a","items":[{"W":2}]}`,
		`{"name":"a","name":"b","items":[{"w":1}]}`,
	} {
		tree, dup, ok := fastDecodeDup([]byte(doc))
		require.True(t, ok)
		var in input
		if !dup && decodeTyped(tree, &in) {
			var want input
			require.NoError(t, json.Unmarshal([]byte(doc), &want))
			require.Equal(t, want, in, doc)
		}
		require.Equal(t, def.ValidateInput(json.RawMessage(doc)), typ.ValidateInstance(json.RawMessage(doc)), doc)
	}
}
