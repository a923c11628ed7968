package solvekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit"
)

// Acknowledge a submit only once a replica has it, and tell a write that
// may not survive a failover from one that failed. (Not run: it needs a
// Redis primary with a replica; the suite's TestReplicated... tests run
// the same on real servers.)
func ExampleReplicated() {
	ctx := context.Background()
	svc, err := solvekit.New(ctx, solvekit.Config{
		RedisOptions: &redis.UniversalOptions{MasterName: "mymaster", Addrs: []string{"sentinel:26379"}},
		Durability:   solvekit.Replicated(1, 500*time.Millisecond),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	req := solvekit.SubmitRequest{JobType: "sum", Instance: json.RawMessage(`{"values":[1,2]}`),
		IdempotencyKey: "order-42"}
	e, err := svc.SubmitOnce(ctx, req)
	if errors.Is(err, solvekit.ErrNotReplicated) {
		// On the primary, not yet on a replica: the same idempotent
		// submit is safe to repeat.
		e, err = svc.SubmitOnce(ctx, req)
	}
	if err != nil {
		log.Fatal(err)
	}
	log.Println("acknowledged", e.Execution.ID)
}
