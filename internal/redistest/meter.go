package redistest

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Meter is a go-redis hook for benchmarks: added to a client, it counts
// the client's round trips (a pipeline is one) between Start and Stop and
// reports them per op as "rt/op". With CPU set it also reports the CPU
// time redis-server spent per op as "redis-µs/op" (where the server has
// INFO cpu; miniredis has not).
type Meter struct {
	// CPU, if set, is a client of the server whose CPU time is read.
	CPU *redis.Client

	on     atomic.Bool
	trips  atomic.Int64
	cpu0   float64
	hasCPU bool
}

// Start zeroes the count, starts counting and resets b's timer.
func (m *Meter) Start(b *testing.B) {
	if m.CPU != nil {
		m.cpu0, m.hasCPU = serverCPU(m.CPU)
	}
	m.trips.Store(0)
	m.on.Store(true)
	b.ResetTimer()
}

// Stop stops b's timer and the count, and reports the metrics.
func (m *Meter) Stop(b *testing.B) {
	b.StopTimer()
	m.on.Store(false)
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(m.trips.Load())/float64(b.N), "rt/op")
	if !m.hasCPU {
		return
	}
	if cpu1, ok := serverCPU(m.CPU); ok {
		b.ReportMetric((cpu1-m.cpu0)*1e6/float64(b.N), "redis-µs/op")
	}
}

// DialHook is go-redis's dial hook, unchanged.
func (m *Meter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts one command as one round trip.
func (m *Meter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		m.count()
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts one pipeline as one round trip.
func (m *Meter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		m.count()
		return next(ctx, cmds)
	}
}

func (m *Meter) count() {
	if m.on.Load() {
		m.trips.Add(1)
	}
}

// serverCPU returns redis-server's used CPU seconds (user+sys), or false
// on servers without INFO cpu (miniredis).
func serverCPU(c *redis.Client) (float64, bool) {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				sum, found = sum+f, true
			}
		}
	}
	return sum, found
}
