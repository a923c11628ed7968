package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// Callbacks: a record with a result_url (field cb_url) that reaches a
// terminal state is added to the due set (keys.cbDue) by the script that
// writes the state (finish, cancel, requeue; lib/callbacks.lua), so that a
// delivery is never lost between the state change and its scheduling. A
// deliverer claims due entries (ClaimCallbacks: the entry's score moves to
// the end of a lease, so the entry of a deliverer that dies comes back),
// POSTs, and records the attempt (RecordCallback), which reschedules or
// ends the delivery.

// Field is one more record field written by Create (CreateNew's extra).
type Field struct{ Name, Value string }

// CallbackFields are the record fields that say how a callback is sent:
// format names the body's format ("" for solvekit's own) and auth is the
// Authorization header value sent with it. They are never decoded into the
// execution (Get does not show them).
func CallbackFields(format, auth string) []Field {
	return []Field{{"cb_fmt", format}, {"cb_auth", auth}}
}

// claimScript moves up to ARGV[3] due entries (score <= ARGV[1]) to score
// ARGV[2], the end of the claim, and returns their ids.
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids`)

// ClaimCallbacks claims up to limit callbacks due at now until lease ends
// (no other deliverer claims them meanwhile) and returns their ids.
func (s *Store) ClaimCallbacks(ctx context.Context, now, lease time.Time, limit int) ([]string, error) {
	ids, err := claimScript.Run(ctx, s.rdb, []string{s.k.cbDue()}, ms(now), ms(lease), limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("store: claim callbacks: %w", err)
	}
	return ids, nil
}

// CallbackTarget is a claimed callback: the execution and how to send it.
type CallbackTarget struct {
	Execution *job.Execution
	// Format and Auth are CallbackFields' values.
	Format, Auth string
	// First is when the delivery became due; N how many attempts it had.
	First time.Time
	N     int
}

// CallbackTarget reads what a deliverer needs to send execution id's
// callback. It answers CodeNotFound when the record is gone.
func (s *Store) CallbackTarget(ctx context.Context, id string) (*CallbackTarget, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.meta(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: callback of %s: %w", id, err)
	}
	if len(m) == 0 {
		return nil, notFound(id)
	}
	e, err := decode(id, m)
	if err != nil {
		return nil, err
	}
	return &CallbackTarget{Execution: e, Format: m["cb_fmt"], Auth: m["cb_auth"],
		First: parseMS(m["cb_first"]), N: atoi(m["cb_n"])}, nil
}

// dropScript removes a claimed entry whose record is gone or no longer
// terminal (relaunched: its next end schedules a new delivery).
var dropScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'succeeded' or st == 'failed' or st == 'stopped' or st == 'timed_out' then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`)

// DropCallback removes execution id from the due set unless it is
// terminal (see dropScript).
func (s *Store) DropCallback(ctx context.Context, id string) error {
	return dropScript.Run(ctx, s.rdb, []string{s.k.meta(id), s.k.cbDue()}, id).Err()
}

// recordScript appends one attempt to the log and, when the record still
// ends the same execution attempt the delivery is for, counts it and
// reschedules (ARGV[4] "retry", at ARGV[5]) or ends the delivery (ARGV[4]
// its final state). A record that is gone takes its entry and log with it.
// KEYS[1] meta, KEYS[2] attempt log, KEYS[3] due set. ARGV[1] id, ARGV[2]
// the execution attempt, ARGV[3] the attempt's JSON, ARGV[4] outcome,
// ARGV[5] next due ms, ARGV[6] log cap.
var recordScript = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'cb_n')
if not st[1] then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[6]), -1)
if st[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'cb_n', tonumber(st[3] or '0') + 1)
if ARGV[4] == 'retry' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
  redis.call('HSET', KEYS[1], 'cb_state', 'pending')
else
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[1], 'cb_state', ARGV[4])
  -- The credential is not needed any more (ckan-service-provider too
  -- forgets the api_key once the result is sent).
  redis.call('HDEL', KEYS[1], 'cb_auth')
end
return 1`)

// callbackLogMax caps an execution's log of callback attempts.
const callbackLogMax = 1000

// RecordCallback records attempt a of the delivery for execution id's
// attempt execAttempt. With next non-zero the delivery is retried then;
// otherwise it ends in state final (delivered or failed).
func (s *Store) RecordCallback(ctx context.Context, id string, execAttempt int, a job.CallbackAttempt, final job.CallbackState, next time.Time) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	outcome, due := string(final), "0"
	if !next.IsZero() {
		outcome, due = "retry", ms(next)
	}
	err = recordScript.Run(ctx, s.rdb, []string{s.k.meta(id), s.k.cbLog(id), s.k.cbDue()},
		id, strconv.Itoa(execAttempt), b, outcome, due, callbackLogMax).Err()
	if err != nil {
		return fmt.Errorf("store: record callback of %s: %w", id, err)
	}
	return nil
}

// Callbacks returns execution id's callback attempts, oldest first.
func (s *Store) Callbacks(ctx context.Context, id string) ([]job.CallbackAttempt, error) {
	var raw []string
	var exists int64
	err := s.read(ctx, func() error {
		pipe := s.rdb.Pipeline()
		l := pipe.LRange(ctx, s.k.cbLog(id), 0, -1)
		x := pipe.Exists(ctx, s.k.meta(id))
		_, err := pipe.Exec(ctx)
		raw, exists = l.Val(), x.Val()
		return err
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: callbacks of %s: %w", id, err)
	}
	if exists == 0 {
		return nil, notFound(id)
	}
	out := make([]job.CallbackAttempt, 0, len(raw))
	for _, r := range raw {
		var a job.CallbackAttempt
		if err := json.Unmarshal([]byte(r), &a); err != nil {
			return nil, fmt.Errorf("store: callbacks of %s: %w", id, err)
		}
		out = append(out, a)
	}
	return out, nil
}
