package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/registry"
)

// routingSchema is the instance schema of -mode validate: a vehicle
// routing instance with integer demands and time windows, decimal
// coordinates, bounded strings and an enum, the keywords real instance
// schemas use.
const routingSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["name", "vehicles", "customers"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "vehicles": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/vehicle"}},
    "customers": {"type": "array", "items": {"$ref": "#/$defs/customer"}}
  },
  "$defs": {
    "vehicle": {
      "type": "object",
      "required": ["id", "capacity"],
      "properties": {
        "id": {"type": "string"},
        "capacity": {"type": "integer", "minimum": 1}
      }
    },
    "customer": {
      "type": "object",
      "required": ["id", "x", "y", "demand", "window"],
      "additionalProperties": false,
      "properties": {
        "id": {"type": "string", "maxLength": 32},
        "x": {"type": "number", "minimum": -1000, "maximum": 1000},
        "y": {"type": "number", "minimum": -1000, "maximum": 1000},
        "demand": {"type": "integer", "minimum": 0, "maximum": 100000},
        "window": {"type": "array", "prefixItems": [{"type": "integer", "minimum": 0}, {"type": "integer", "minimum": 0}], "items": false},
        "priority": {"enum": ["low", "normal", "high"]}
      }
    }
  }
}`

// routingInput is what the typed job of -mode validate decodes the
// instance into (job.AsyncOf), so that validation includes the typed
// decode and the `validate:` tags a typed job gets at submit.
type routingInput struct {
	Name     string `json:"name" validate:"required"`
	Vehicles []struct {
		ID       string `json:"id"`
		Capacity int    `json:"capacity"`
	} `json:"vehicles" validate:"min=1"`
	Customers []struct {
		ID       string   `json:"id"`
		X        float64  `json:"x"`
		Y        float64  `json:"y"`
		Demand   int      `json:"demand"`
		Window   [2]int64 `json:"window"`
		Priority string   `json:"priority,omitempty"`
	} `json:"customers"`
}

// routingInstance builds an instance of about size bytes and counts its
// numbers and strings (values and member names).
func routingInstance(size int) (doc []byte, customers, numbers, strs int) {
	b := make([]byte, 0, size+256)
	b = append(b, `{"name":"bench routing instance","vehicles":[`...)
	for v := range 20 {
		if v > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"truck-`...)
		b = strconv.AppendInt(b, int64(v), 10)
		b = append(b, `","capacity":`...)
		b = strconv.AppendInt(b, int64(500+v*10), 10)
		b = append(b, '}')
		numbers++
		strs += 3
	}
	b = append(b, `],"customers":[`...)
	priorities := []string{"low", "normal", "high"}
	for ; len(b) < size; customers++ {
		i := customers
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"c`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","x":`...)
		b = strconv.AppendFloat(b, float64(i%200000)/100-1000, 'f', -1, 64)
		b = append(b, `,"y":`...)
		b = strconv.AppendFloat(b, float64((i*7919)%200000)/100-1000, 'f', -1, 64)
		b = append(b, `,"demand":`...)
		b = strconv.AppendInt(b, int64(i%97+1), 10)
		b = append(b, `,"window":[`...)
		b = strconv.AppendInt(b, int64(480+i%60), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(1020+i%120), 10)
		b = append(b, ']')
		numbers += 5
		strs += 6
		if i%3 != 0 {
			b = append(b, `,"priority":"`...)
			b = append(b, priorities[i%3]...)
			b = append(b, '"')
			strs += 2
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	strs += 3
	return b, customers, numbers, strs
}

// sample is one measured call: wall time, CPU time (this process, plus
// redis-server's when measured) and bytes allocated.
type sample struct {
	wall, cpu, redis time.Duration
	alloc            uint64
}

// measureOnce runs f once after a GC. stats, when set, adds that
// redis-server's CPU.
func measureOnce(stats *redis.Client, f func() error) (sample, error) {
	var ms goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	cpu0 := readCPU(stats)
	start := time.Now()
	if err := f(); err != nil {
		return sample{}, err
	}
	wall := time.Since(start)
	used := readCPU(stats).sub(cpu0)
	goruntime.ReadMemStats(&ms)
	return sample{wall: wall, cpu: used.proc + max(used.redis, 0), redis: max(used.redis, 0), alloc: ms.TotalAlloc - before}, nil
}

// step is one measured call of -mode validate, with its samples.
type step struct {
	label string
	stats *redis.Client
	f     func() error
	s     []sample
}

// median returns the median of f over the step's samples, or over the
// ratios of its samples to the anchor's of the same round when anchor is
// set.
func (st *step) median(anchor *step, f func(sample) float64) float64 {
	xs := make([]float64, len(st.s))
	for i, s := range st.s {
		xs[i] = f(s)
		if anchor != nil {
			xs[i] /= f(anchor.s[i])
		}
	}
	return median(xs)
}

// runValidateMode (-mode validate) times what a submit of a 10 MB
// instance costs before anything is stored — instance schema, typed
// decode and struct tags (ValidateInstance), config defaults and schema
// (PrepareConfig) — and a whole Submit on a private redis-server, beside
// json.Unmarshal of the same bytes into any, the anchor. Each round calls
// every step once, the anchor first, so that the machine's load swings
// hit all alike; figures are medians over the rounds (-rounds, at least
// 5), and ratios the medians of each round's ratio to its anchor.
func runValidateMode(o options) (int, error) {
	if o.redisURL != "" {
		return 1, errors.New("-mode validate starts its own private redis-server; -redis does not apply")
	}
	reps := max(5, o.rounds)
	doc, customers, numbers, strs := routingInstance(10 << 20)
	instance := json.RawMessage(doc)

	typed := job.AsyncOf("routing", func(context.Context, *job.Context, routingInput) (any, error) { return nil, nil },
		job.WithInstanceSchema([]byte(routingSchema)),
		job.WithConfigSchema([]byte(`{"type":"object","properties":{"timeLimit":{"type":"number","exclusiveMinimum":0,"default":60}}}`)))
	untyped := job.Async("routing-untyped", func(context.Context, *job.Context) (any, error) { return nil, nil },
		job.WithInstanceSchema([]byte(routingSchema)))
	reg := registry.New()
	if err := reg.Register(typed); err != nil {
		return 1, err
	}
	if err := reg.Register(untyped); err != nil {
		return 1, err
	}
	t, _ := reg.Lookup("routing")
	u, _ := reg.Lookup("routing-untyped")

	anchor := &step{label: "json.Unmarshal into any (anchor)", f: func() error {
		var v any
		return json.Unmarshal(instance, &v)
	}}
	prepare := &step{label: "solvekit validate + prepare (typed job: schema+decode+tags)", f: func() error {
		if err := t.ValidateInstance(instance); err != nil {
			return err
		}
		_, err := t.PrepareConfig(json.RawMessage(`{}`))
		return err
	}}
	steps := []*step{anchor, prepare,
		{label: "  of which instance schema alone (untyped job)", f: func() error { return u.ValidateInstance(instance) }},
		{label: "typed decode + tags by encoding/json (ValidateInput)", f: func() error { return typed.ValidateInput(instance) }},
	}

	srv, err := redistest.Start()
	if err != nil {
		return 1, err
	}
	defer srv.Stop()
	var submit *step
	if srv.Kind == "redis-server" {
		rdb := redis.NewClient(srv.Options(1))
		defer rdb.Close()
		svc, err := solvekit.New(context.Background(), solvekit.Config{
			Redis:  rdb,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return 1, err
		}
		defer svc.Close()
		if err := svc.Register(typed); err != nil {
			return 1, err
		}
		// No worker runs: each execution stays queued with its 10 MB.
		submit = &step{label: "solvekit Submit, private redis-server (stores 10 MB)", stats: rdb, f: func() error {
			_, err := svc.Submit(context.Background(), solvekit.SubmitRequest{JobType: typed.Name, Instance: instance})
			return err
		}}
		steps = append(steps, submit)
	}

	stopProfile, err := cpuProfile(o.cpuprofile)
	if err != nil {
		return 1, err
	}
	defer stopProfile()
	for range reps {
		for _, st := range steps {
			// A warm-up call first, unmeasured: the heap the Go runtime
			// keeps (and the pages it has returned to the OS) then suits
			// this step, whichever step ran before it.
			if err := st.f(); err != nil {
				return 1, fmt.Errorf("%s: %w", st.label, err)
			}
			s, err := measureOnce(st.stats, st.f)
			if err != nil {
				return 1, fmt.Errorf("%s: %w", st.label, err)
			}
			st.s = append(st.s, s)
		}
	}

	fmt.Printf("bench -mode validate: a %.1f MB instance (%d customers, %d numbers, %d strings and names), %d rounds\n",
		float64(len(doc))/(1<<20), customers, numbers, strs, reps)
	fmt.Printf("medians over the rounds; ratios are medians of each round's ratio to its anchor. Wall time swings with\n")
	fmt.Printf("the machine's load; CPU time (this process, + redis-server for Submit) is the steadier figure\n\n")
	fmt.Printf("%-58s %9s %9s %9s %7s %7s %7s\n", "", "wall", "cpu", "alloc MB", "×wall", "×cpu", "×alloc")
	wallOf := func(s sample) float64 { return s.wall.Seconds() }
	cpuOf := func(s sample) float64 { return s.cpu.Seconds() }
	allocOf := func(s sample) float64 { return float64(s.alloc) }
	for _, st := range steps {
		fmt.Printf("%-58s %9s %9s %9.1f %6.2f× %6.2f× %6.2f×\n", st.label,
			fmtDur(time.Duration(st.median(nil, wallOf)*1e9)), fmtDur(time.Duration(st.median(nil, cpuOf)*1e9)),
			st.median(nil, allocOf)/(1<<20), st.median(anchor, wallOf), st.median(anchor, cpuOf), st.median(anchor, allocOf))
	}
	if submit == nil {
		fmt.Println("solvekit Submit: skipped (no redis-server on PATH)")
	} else {
		fmt.Printf("%-58s %9s %9s\n", "  of which redis-server", "", fmtDur(time.Duration(submit.median(nil, func(s sample) float64 { return s.redis.Seconds() })*1e9)))
	}

	fmt.Println()
	code := 0
	verdict := func(label string, st *step) {
		rc, ra := st.median(anchor, cpuOf), st.median(anchor, allocOf)
		v := "ok"
		if rc > 2 || ra > 2 {
			v = "MISSED"
			if o.check {
				code = 1
			}
		}
		fmt.Printf("  %s / json.Unmarshal: %.2f× CPU, %.2f× allocation (%.2f× wall)   target ≤ 2×: %s\n",
			label, rc, ra, st.median(anchor, wallOf), v)
	}
	verdict("validate + prepare", prepare)
	if submit != nil {
		verdict("Submit", submit)
	}
	return code, nil
}

// cpuProfile starts a CPU profile into path ("" for none) and returns
// what stops it.
func cpuProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
