package queue

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/solvekit/solvekit/internal/store"
)

// NewTask returns the pending task of an attempt, as Enqueue would write
// it, for store.CreateWithTask to write in the same Redis script as the
// execution record. Doing both in one script makes a submit one round trip
// instead of two, and a record can then never exist without its task nor a
// task without its record. The layout is asynq's (v0.26: a hash
// asynq:{q}:t:<id> with the encoded TaskMessage, state "pending" and
// pending_since in Unix ns, the id pushed on asynq:{q}:pending, and q in
// the asynq:queues set); the queue tests check that asynq's Inspector and
// Server read such a task exactly like one asynq's Client wrote. Delay is
// ignored: a fused write is always for immediate work.
func NewTask(a Attempt, o EnqueueOptions, now time.Time) *store.Task {
	if o.Queue == "" {
		o.Queue = "default"
	}
	id := a.TaskID()
	prefix := keyPrefix(o.Queue)
	return &store.Task{
		ID: id, Queue: o.Queue,
		Key: taskKey(o.Queue, id), PendingKey: prefix + "pending", QueuesKey: "asynq:queues",
		Msg:          encodeTaskMessage(TaskType, nil, id, o.Queue, maxTaskRetries, int64(o.taskTimeout().Seconds())),
		PendingSince: strconv.FormatInt(now.UnixNano(), 10),
	}
}

// encodeTaskMessage writes asynq's TaskMessage protobuf (fields: 1 type,
// 2 payload, 3 id, 4 queue, 5 retry, 8 timeout in seconds; the others, and
// an empty payload, keep their zero value, which protobuf leaves out).
func encodeTaskMessage(typ string, payload []byte, id, queue string, retry int, timeoutSec int64) []byte {
	b := make([]byte, 0, 16+len(typ)+len(payload)+len(id)+len(queue))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, typ)
	if len(payload) > 0 {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, payload)
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, id)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, queue)
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(retry))
	b = protowire.AppendTag(b, 8, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(timeoutSec))
	return b
}
