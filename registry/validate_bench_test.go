package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/solvekit/solvekit/internal/proccpu"
	"github.com/solvekit/solvekit/job"
)

// benchSchema describes a knapsack-like instance: integer weights with a
// bound, decimal values, names with a length limit, a tags array.
const benchSchema = `{
  "type": "object",
  "required": ["capacity", "items"],
  "additionalProperties": false,
  "properties": {
    "capacity": {"type": "integer", "minimum": 0},
    "items": {"type": "array", "items": {"$ref": "#/$defs/item"}}
  },
  "$defs": {
    "item": {
      "type": "object",
      "required": ["name", "weight", "value"],
      "additionalProperties": false,
      "properties": {
        "name": {"type": "string", "maxLength": 64},
        "weight": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "value": {"type": "number", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}}
      }
    }
  }
}`

// benchInstance returns a knapsack instance of about size bytes.
func benchInstance(size int) []byte { return benchInstanceBad(size, nil) }

// benchInstanceBad is benchInstance whose items i with bad(i) weigh 0,
// below the schema's minimum (bad nil: none).
func benchInstanceBad(size int, bad func(i int) bool) []byte {
	b := []byte(`{"capacity":123456,"items":[`)
	for i := 0; len(b) < size; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"item-`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","weight":`...)
		if bad != nil && bad(i) {
			b = append(b, '0')
		} else {
			b = strconv.AppendInt(b, int64(1+i%997), 10)
		}
		b = append(b, `,"value":`...)
		b = strconv.AppendFloat(b, float64(i%1000)/8, 'f', -1, 64)
		b = append(b, `,"tags":["t`...)
		b = strconv.AppendInt(b, int64(i%7), 10)
		b = append(b, `"]}`...)
	}
	return append(b, "]}"...)
}

// BenchmarkValidateInstance validates a 10 MB instance against benchSchema
// (ValidateInstance, untyped), beside json.Unmarshal into any, the anchor.
func BenchmarkValidateInstance(b *testing.B) {
	doc := json.RawMessage(benchInstance(10 << 20))
	r := New()
	r.MustRegister(job.Async("bench", noop, job.WithInstanceSchema([]byte(benchSchema))))
	typ, err := r.Lookup("bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(doc, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ValidateInstance", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if err := typ.ValidateInstance(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkValidateInvalidInstance validates 10 MB instances against
// benchSchema that are valid, invalid in one item deep inside, and invalid
// in every item: an invalid document must not cost much more than a valid
// one, or a bad request is a cheap way to load the server.
func BenchmarkValidateInvalidInstance(b *testing.B) {
	const size = 10 << 20
	items := bytes.Count(benchInstance(size), []byte(`"name"`))
	docs := []struct {
		name string
		doc  json.RawMessage
		want int // violations; 0: valid
	}{
		{"valid", benchInstance(size), 0},
		{"one-bad", benchInstanceBad(size, func(i int) bool { return i == items*2/3 }), 1},
		{"all-bad", benchInstanceBad(size, func(int) bool { return true }), -1},
	}
	r := New()
	r.MustRegister(job.Async("bench", noop, job.WithInstanceSchema([]byte(benchSchema))))
	typ, err := r.Lookup("bench")
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range docs {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.doc)))
			b.ReportAllocs()
			cpu0 := proccpu.Used()
			// CPU per op moves less than ns/op on a shared machine.
			defer func() {
				if cpu1 := proccpu.Used(); cpu0 >= 0 && cpu1 >= 0 {
					b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				}
			}()
			for b.Loop() {
				err := typ.ValidateInstance(d.doc)
				var je *job.Error
				switch {
				case d.want == 0 && err != nil:
					b.Fatal(err)
				case d.want == 0:
				case !errors.As(err, &je) || je.Code != job.CodeInvalid:
					b.Fatalf("got %v, want an invalid instance", err)
				case d.want > 0 && len(je.Violations) != d.want:
					b.Fatalf("got %d violations, want %d", len(je.Violations), d.want)
				}
			}
		})
	}
}
