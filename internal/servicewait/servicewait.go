// Package servicewait hands the REST layer a Service's submit-and-wait
// (POST /executions?wait=), which subscribes to the execution's done
// channel before its record is written and so reads the record once
// instead of twice, without making it public API of the Service. The root
// package sets SubmitWait when it loads.
package servicewait

import (
	"context"
	"time"

	"github.com/solvekit/solvekit/job"
)

// SubmitWait submits req (a solvekit.SubmitRequest) on svc (a
// *solvekit.Service) as SubmitOnce does and, for an async job and wait > 0,
// waits at most wait for its end. It returns the last record seen, whether
// the submit replayed an earlier one with the same idempotency key, the
// wait's error (a deadline, an outage; the record is then the one before
// it) and the submit's error (as Service.Submit returns it).
var SubmitWait func(svc any, ctx context.Context, req any, wait time.Duration) (e *job.Execution, replayed bool, waitErr, err error)

// GetWait reads execution id of svc (a *solvekit.Service), with its done
// subscription in place first, and, unless check refuses the record (its
// error is returned as err) or the record is terminal, waits at most wait
// for its end. It returns the last record seen, the wait's error (the
// record is then the one before it) and the read's or check's error.
var GetWait func(svc any, ctx context.Context, id string, wait time.Duration, check func(*job.Execution) error) (e *job.Execution, waitErr, err error)
