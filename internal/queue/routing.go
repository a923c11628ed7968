package queue

import (
	"slices"
	"strings"
)

// Tag routing. A task whose execution requires worker tags goes to a
// queue of its own beside its base queue: "<queue>~<tag>+<tag>..." with
// the tags sorted (Routed). A worker serves its base queues and, for every
// non-empty subset of its own tags, the routed queue of that subset
// (Variants), with the base queue's weight: a task lands only on workers
// that have all the tags it requires, through asynq's own queues, with no
// filtering after a task is taken. Tags cannot hold '~' or '+'
// (job.ValidTag), so a routed name reads one way.

// MaxWorkerTags bounds how many tags a worker may declare: it serves
// 2^n - 1 routed queues per base queue, and asynq asks each queue in turn
// when it looks for work.
const MaxWorkerTags = 6

// Routed returns the queue a task of base queue q requiring tags (sorted,
// without duplicates) goes to: q itself when tags is empty.
func Routed(q string, tags []string) string {
	q = queueName(q)
	if len(tags) == 0 {
		return q
	}
	return q + "~" + strings.Join(tags, "+")
}

// Base returns the base queue of a queue name Routed built, and the tags
// it requires (nil for a base queue).
func Base(name string) (string, []string) {
	q, tags, ok := strings.Cut(name, "~")
	if !ok {
		return name, nil
	}
	return q, strings.Split(tags, "+")
}

// Variants returns the routed queues of base queue q that a worker with
// tags (at most MaxWorkerTags, sorted, without duplicates) serves: one per
// non-empty subset of tags, q itself not included.
func Variants(q string, tags []string) []string {
	if len(tags) > MaxWorkerTags {
		tags = tags[:MaxWorkerTags]
	}
	out := make([]string, 0, 1<<len(tags)-1)
	sub := make([]string, 0, len(tags))
	for mask := 1; mask < 1<<len(tags); mask++ {
		sub = sub[:0]
		for i, t := range tags {
			if mask&(1<<i) != 0 {
				sub = append(sub, t)
			}
		}
		out = append(out, Routed(q, sub))
	}
	slices.Sort(out)
	return out
}
