package registry

import (
	"encoding/json"
	"strconv"
	"testing"

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
func benchInstance(size int) []byte {
	b := []byte(`{"capacity":123456,"items":[`)
	for i := 0; len(b) < size; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"item-`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","weight":`...)
		b = strconv.AppendInt(b, int64(1+i%997), 10)
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
