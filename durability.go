package solvekit

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/internal/store"
)

// Durability says when a write counts as done (Config.Durability). Redis
// replicates asynchronously: a primary that dies before its replicas got a
// write loses it, even though solvekit acknowledged it.
//
// The zero value is Local, today's and the default behaviour: a write is
// acknowledged once the Redis primary applied it.
//
// With Replicas above zero (Replicated), every acknowledged write — the
// create of Submit, SubmitOnce and SubmitMany, the finish of an attempt,
// Cancel, Relaunch, the requeue of an attempt, CreateSchedule and
// UpdateSchedule, and the executions a schedule fires — is followed by
// WAIT Replicas Timeout on the same connection, and is acknowledged only
// when that many replicas have it. When fewer acknowledge within Timeout
// the call fails with an error matching both ErrNotReplicated and
// job.ErrOutcomeUnknown (code job.CodeOutcomeUnknown, HTTP 504): the write
// was applied on the primary and may or may not survive a failover. A
// Submit with an ID or an idempotency key is safe to repeat; a finish is
// retried by the worker. A SubmitOnce that replays an earlier submit
// waits for the replicas too (it writes the key Prefix+":replication-probe"
// and WAITs after it), so its success also means "on n replicas".
//
// The cost is one WAIT per pipeline of writes (the hot-path writes of many
// callers share a pipeline and one WAIT) and the replicas' lag added to
// each write's latency. WAIT does not make Redis fsync; WAITAOF (Redis
// 7.2 and later) is not implemented. Durability is refused on Redis
// Cluster and Ring clients and on the embedded Redis; it works on a
// Sentinel failover client (Config.RedisOptions with a MasterName, or a
// redis.NewFailoverClient in Config.Redis). There an acknowledged write
// survives a failover when the replica promoted is one of the n that had
// it: Sentinel promotes, of the replicas it finds fit, the one with the
// most replicated data, so a loss needs every replica that has the write
// to be unfit (down, or cut off from the primary for long) at the
// failover.
type Durability struct {
	// Replicas is how many replicas must have a write before it is
	// acknowledged. Zero: Local (no WAIT is sent).
	Replicas int
	// Timeout bounds each WAIT. Default 1s when Replicas is above zero.
	Timeout time.Duration
}

// Local is the default Durability: a write is acknowledged once the
// primary applied it.
var Local = Durability{}

// Replicated returns the Durability that acknowledges a write once n
// replicas have it, waiting at most timeout (0: 1s) for them.
func Replicated(n int, timeout time.Duration) Durability {
	return Durability{Replicas: n, Timeout: timeout}
}

// ErrNotReplicated matches (errors.Is) the error of a write that the Redis
// primary applied but that fewer replicas than Config.Durability.Replicas
// acknowledged in time. Such an error also has code
// job.CodeOutcomeUnknown.
var ErrNotReplicated = store.ErrNotReplicated

// checkDurability refuses a Durability the client cannot honour.
func checkDurability(d Durability, rdb redis.UniversalClient, embedded bool) error {
	if d.Replicas < 0 || d.Timeout < 0 {
		return fmt.Errorf("solvekit: Durability: negative Replicas or Timeout")
	}
	if d.Replicas == 0 {
		return nil
	}
	switch rdb.(type) {
	case *redis.ClusterClient, *redis.Ring:
		return fmt.Errorf("solvekit: Durability with replicas is not supported on Redis Cluster or Ring clients")
	}
	if embedded {
		return fmt.Errorf("solvekit: Durability with replicas needs a Redis server with replicas, not the embedded one")
	}
	return nil
}
