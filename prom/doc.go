// Package prom exports a solvekit Service's metrics to Prometheus.
//
// New registers the collectors on a registry of your choosing (a new
// private one by default, never the global one unless you pass it) and
// Handler serves them in the Prometheus text format where the host mounts
// it:
//
//	m, err := prom.New(svc, prom.Options{})
//	if err != nil { ... }
//	defer m.Close()
//	mux.Handle("GET /metrics", m.Handler())
//	mux.Handle("/solver/", http.StripPrefix("/solver", m.Middleware(api)))
//
// Counters and histograms are fed by Service.Subscribe, so each process
// counts the changes it makes (its submits, its workers' attempts): sum them
// across processes in PromQL. Gauges of stored executions and of queues
// are read from Redis when Prometheus scrapes, through a short cache, so
// every process reports the same, whole-cluster values. docs/operations.md
// lists every metric with example queries and alert rules.
package prom
