package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// Instance sets and experiments (docs/experiments.md). Each is a hash
// (field def: its definition, JSON encoded by the caller, plus the fields
// its kind keeps) listed in a set scored by creation time. An experiment
// also has its open cells (submitted, not seen finished: a set of cell
// indexes, at most its in-flight bound), its finished rows (a hash from
// cell index to the row's JSON, written once the cell ended) and, while
// it runs, its id in the set of active experiments that the drivers read.
var (
	expSubmittedScript = script("exp_submitted")
	unlockScript       = script("unlock")
	instPinScript      = script("inst_pin")
	docDeleteScript    = script("doc_delete")
)

// PinInstances adds delta (1 or -1) to how many instance sets hold each
// of the instances ids; retention (DeleteUnusedInstances) keeps an
// instance a set holds. Missing instances are skipped.
func (s *Store) PinInstances(ctx context.Context, ids []string, delta int) error {
	const batch = 500
	for lo := 0; lo < len(ids); lo += batch {
		keys := make([]string, 0, batch)
		for _, id := range ids[lo:min(lo+batch, len(ids))] {
			keys = append(keys, s.k.inst(id))
		}
		if err := s.runScript(ctx, instPinScript, keys, delta).Err(); err != nil {
			return err
		}
	}
	return nil
}

// DocKind names a kind of stored document: instance sets or experiments.
type DocKind string

// Document kinds.
const (
	KindInstanceSet DocKind = "iset"
	KindExperiment  DocKind = "exp"
)

func (k keys) doc(kind DocKind, id string) string { return k.p + ":" + string(kind) + ":" + id }
func (k keys) docs(kind DocKind) string           { return k.p + ":" + string(kind) + "s" }

// docsOwner is the set of owner o's documents of kind; doc_delete.lua
// derives it from docs(kind).
func (k keys) docsOwner(kind DocKind, o string) string { return k.docs(kind) + ":own:" + o }
func (k keys) expActive() string                       { return k.p + ":exp-active" }
func (k keys) expOpen(id string) string                { return k.p + ":exp:" + id + ":open" }
func (k keys) expRows(id string) string                { return k.p + ":exp:" + id + ":rows" }

// Doc is a stored document: its definition and the fields kept beside it.
type Doc struct {
	ID        string
	Def       []byte
	CreatedAt time.Time
	Fields    map[string]string
}

func docNotFound(kind DocKind, id string) error {
	name := "instance set"
	if kind == KindExperiment {
		name = "experiment"
	}
	return &job.Error{Code: job.CodeNotFound, Message: fmt.Sprintf("%s %q not found", name, id)}
}

// PutDoc creates document id of kind, owned by owner ("" for none), with
// definition def and fields; an experiment (running) joins the active
// set.
func (s *Store) PutDoc(ctx context.Context, kind DocKind, id, owner string, def []byte, created time.Time, fields map[string]string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		args := []any{"def", def, "created_at", ms(created), "owner", owner}
		for k, v := range fields {
			args = append(args, k, v)
		}
		p.HSet(ctx, s.k.doc(kind, id), args...)
		z := redis.Z{Score: float64(created.UnixMilli()), Member: id}
		p.ZAdd(ctx, s.k.docs(kind), z)
		if owner != "" {
			p.ZAdd(ctx, s.k.docsOwner(kind, owner), z)
		}
		if kind == KindExperiment {
			p.SAdd(ctx, s.k.expActive(), id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create %s %s: %w", kind, id, err)
	}
	return nil
}

// GetDoc reads document id of kind.
func (s *Store) GetDoc(ctx context.Context, kind DocKind, id string) (*Doc, error) {
	var m map[string]string
	err := s.read(ctx, func() error {
		pipe := s.rdb.Pipeline()
		get := s.queueDoc(ctx, pipe, kind, id)
		_, err := pipe.Exec(ctx)
		m = get()
		return err
	})
	if err != nil {
		return nil, err
	}
	if m["def"] == "" {
		return nil, docNotFound(kind, id)
	}
	return decodeDoc(id, m), nil
}

// queueDoc queues the reads of document id of kind on pipe; the returned
// func gives its fields once pipe ran, an experiment's with
// "finished_cells": how many of its cells' rows are stored.
func (s *Store) queueDoc(ctx context.Context, pipe redis.Pipeliner, kind DocKind, id string) func() map[string]string {
	h := pipe.HGetAll(ctx, s.k.doc(kind, id))
	var n *redis.IntCmd
	if kind == KindExperiment {
		n = pipe.HLen(ctx, s.k.expRows(id))
	}
	return func() map[string]string {
		m := h.Val()
		if n != nil && len(m) > 0 {
			m["finished_cells"] = strconv.FormatInt(n.Val(), 10)
		}
		return m
	}
}

func decodeDoc(id string, m map[string]string) *Doc {
	d := &Doc{ID: id, Def: []byte(m["def"]), CreatedAt: parseMS(m["created_at"]), Fields: m}
	delete(m, "def")
	return d
}

// ListDocs returns a page of documents of kind, newest first, and how
// many there are: all of them, or owner's when owner is not "".
func (s *Store) ListDocs(ctx context.Context, kind DocKind, owner string, offset, limit int) ([]*Doc, int64, error) {
	key := s.k.docs(kind)
	if owner != "" {
		key = s.k.docsOwner(kind, owner)
	}
	var out []*Doc
	var total int64
	err := s.read(ctx, func() error {
		out = out[:0]
		pipe := s.rdb.Pipeline()
		idsCmd := pipe.ZRevRange(ctx, key, int64(offset), int64(offset+limit-1))
		totalCmd := pipe.ZCard(ctx, key)
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		var ids []string
		ids, total = idsCmd.Val(), totalCmd.Val()
		if len(ids) == 0 {
			return nil
		}
		gets := make([]func() map[string]string, len(ids))
		for i, id := range ids {
			gets[i] = s.queueDoc(ctx, pipe, kind, id)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for i, get := range gets {
			if m := get(); m["def"] != "" {
				out = append(out, decodeDoc(ids[i], m))
			}
		}
		return nil
	})
	return out, total, err
}

// DeleteDoc removes document id of kind and its index entries (an
// experiment with its cells' bookkeeping; its executions stay).
func (s *Store) DeleteDoc(ctx context.Context, kind DocKind, id string) error {
	n, err := s.runScript(ctx, docDeleteScript, []string{s.k.doc(kind, id), s.k.docs(kind),
		s.k.expActive(), s.k.expOpen(id), s.k.expRows(id)}, id, string(kind)).Int()
	if err != nil {
		return fmt.Errorf("store: delete %s %s: %w", kind, id, err)
	}
	if n == 0 {
		return docNotFound(kind, id)
	}
	return nil
}

// ActiveExperiments returns the ids of the experiments that run.
func (s *Store) ActiveExperiments(ctx context.Context) ([]string, error) {
	return s.rdb.SMembers(ctx, s.k.expActive()).Result()
}

// OpenCells returns experiment id's open cells: submitted, not yet seen
// finished.
func (s *Store) OpenCells(ctx context.Context, id string) ([]int, error) {
	vs, err := s.rdb.SMembers(ctx, s.k.expOpen(id)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		if n, err := strconv.Atoi(v); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// CellSubmitted records that cell i of experiment id was submitted; it
// reports false when i was not the next cell or the experiment no longer
// runs.
func (s *Store) CellSubmitted(ctx context.Context, id string, i int) (bool, error) {
	n, err := s.runScript(ctx, expSubmittedScript, []string{s.k.doc(KindExperiment, id), s.k.expOpen(id)}, i).Int()
	return n == 1, err
}

// CloseCells stores the rows of experiment id's finished cells (cell →
// row JSON) and takes them out of its open cells.
func (s *Store) CloseCells(ctx context.Context, id string, rows map[int][]byte) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		args := make([]any, 0, 2*len(rows))
		cells := make([]any, 0, len(rows))
		for i, b := range rows {
			args = append(args, strconv.Itoa(i), b)
			cells = append(cells, strconv.Itoa(i))
		}
		p.HSet(ctx, s.k.expRows(id), args...)
		p.SRem(ctx, s.k.expOpen(id), cells...)
		return nil
	})
	return err
}

// CellRows returns the stored rows of experiment id's finished cells.
func (s *Store) CellRows(ctx context.Context, id string) (map[int][]byte, error) {
	var m map[string]string
	err := s.read(ctx, func() (err error) {
		m, err = s.rdb.HGetAll(ctx, s.k.expRows(id)).Result()
		return err
	})
	out := make(map[int][]byte, len(m))
	for k, v := range m {
		if n, err := strconv.Atoi(k); err == nil {
			out[n] = []byte(v)
		}
	}
	return out, err
}

// EndExperiment moves experiment id to state (finished or stopped) at at.
// A finished experiment leaves the active set; a stopped one stays in it
// until its drivers saw its open cells end (DropActive), so that their
// rows are stored without anyone reading the results.
func (s *Store) EndExperiment(ctx context.Context, id, state string, at time.Time) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.k.doc(KindExperiment, id), "state", state, "finished_at", ms(at))
		if state == "finished" {
			p.SRem(ctx, s.k.expActive(), id)
		}
		return nil
	})
	return err
}

// DropActive takes experiment id out of the set the drivers read.
func (s *Store) DropActive(ctx context.Context, id string) error {
	return s.rdb.SRem(ctx, s.k.expActive(), id).Err()
}

// SetDocField writes one field of document id of kind.
func (s *Store) SetDocField(ctx context.Context, kind DocKind, id, field, value string) error {
	return s.rdb.HSet(ctx, s.k.doc(kind, id), field, value).Err()
}

// Unlock releases lease name when owner holds it (see TryLock).
func (s *Store) Unlock(ctx context.Context, name, owner string) error {
	return unlockScript.Run(ctx, s.rdb, []string{s.k.lock(name)}, owner).Err()
}
