package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// Tags. An execution's tags are its record's field "tags" (sorted, joined
// by ','; job.ValidTag keeps ',' out of a tag), its required worker tags
// the field "require_tags" in the same form. Each tag has an index per
// kind of record, a sorted set of ids scored by creation time, as the
// other listing indexes: ix:tag:<tag> for executions (written by create,
// removed by delete with the record's other entries, lib/index's ix_all)
// and ix:i:tag:<tag> for instances. ix:tags is the set of tag names known
// (a sorted set with score 0, read in lexicographic pages); a name whose
// indexes are empty is dropped from it when a listing finds it so.

// ixTag holds the executions carrying tag t.
func (k keys) ixTag(t string) string { return k.p + ":ix:tag:" + t }

// ixInstTag holds the instances carrying tag t.
func (k keys) ixInstTag(t string) string { return k.p + ":ix:i:tag:" + t }

// tagIndex is ixInstTag(t) for instances, ixTag(t) for executions.
func (k keys) tagIndex(instance bool, t string) string {
	if instance {
		return k.ixInstTag(t)
	}
	return k.ixTag(t)
}

// tagNames is the set of tag names known.
func (k keys) tagNames() string { return k.p + ":ix:tags" }

// joinTags is the stored form of a tag list.
func joinTags(tags []string) string { return strings.Join(tags, ",") }

// splitTags reads the stored form of a tag list (nil for "").
func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// appendTagFields appends e's tag fields to a record's field/value pairs.
func appendTagFields(f []any, e *job.Execution) []any {
	if len(e.Tags) > 0 {
		f = append(f, "tags", joinTags(e.Tags))
	}
	if len(e.RequireTags) > 0 {
		f = append(f, "require_tags", joinTags(e.RequireTags))
	}
	return f
}

// decodeTags reads the tag fields of a record into e.
func decodeTags(e *job.Execution, m map[string]string) {
	e.Tags = splitTags(m["tags"])
	e.RequireTags = splitTags(m["require_tags"])
}

// appendTagIndexes appends the tag indexes of a new execution, then the
// set of known tags, and returns create.lua's flag for them ("" without
// tags): they come last among its keys.
func (k keys) appendTagIndexes(dst []string, e *job.Execution) ([]string, string) {
	if len(e.Tags) == 0 {
		return dst, ""
	}
	for _, t := range e.Tags {
		dst = append(dst, k.ixTag(t))
	}
	return append(dst, k.tagNames()), "g" + strconv.Itoa(len(e.Tags))
}

// setTagsScript changes the tags of one record and moves its tag index
// entries with them, atomically. KEYS[1] the record's hash, KEYS[2] the
// set of known tags. ARGV[1] id, ARGV[2] the index prefix of the record's
// kind (ixTag or ixInstTag without the tag), ARGV[3] "set", "add" or
// "remove", ARGV[4] the tags (joined by ','), ARGV[5] the most tags a
// record may carry. Returns the record's tags (joined), false when the
// record does not exist, or the error "TOOMANY".
var setTagsScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'tags', 'created_at')
if not r[2] then return false end
local old, new, order = {}, {}, {}
for t in string.gmatch(r[1] or '', '[^,]+') do old[t] = true end
if ARGV[3] ~= 'set' then
  for t in pairs(old) do new[t] = true end
end
for t in string.gmatch(ARGV[4], '[^,]+') do
  if ARGV[3] == 'remove' then new[t] = nil else new[t] = true end
end
for t in pairs(new) do order[#order + 1] = t end
if #order > tonumber(ARGV[5]) then return redis.error_reply('TOOMANY') end
table.sort(order)
for t in pairs(old) do
  if not new[t] then redis.call('ZREM', ARGV[2] .. t, ARGV[1]) end
end
for _, t in ipairs(order) do
  if not old[t] then
    redis.call('ZADD', ARGV[2] .. t, r[2], ARGV[1])
    redis.call('ZADD', KEYS[2], 0, t)
  end
end
local csv = table.concat(order, ',')
if csv == '' then redis.call('HDEL', KEYS[1], 'tags') else redis.call('HSET', KEYS[1], 'tags', csv) end
return csv`)

// TagOp is how SetTags changes a record's tags.
type TagOp string

// The ways of SetTags.
const (
	TagsSet    TagOp = "set"    // replace them
	TagsAdd    TagOp = "add"    // add these
	TagsRemove TagOp = "remove" // remove these
)

// SetTags changes the tags of execution id (instance false) or instance
// id (instance true), moving its tag index entries in the same step, and
// returns its tags. tags must be valid (job.CheckTags). A missing record
// is CodeNotFound; more than job.MaxTags tags in the end, CodeInvalid.
func (s *Store) SetTags(ctx context.Context, instance bool, id string, op TagOp, tags []string) ([]string, error) {
	rec, ix := s.k.meta(id), s.k.tagIndex(instance, "")
	if instance {
		rec = s.k.inst(id)
	}
	var csv string
	err := s.read(ctx, func() (err error) {
		csv, err = setTagsScript.Run(ctx, s.rdb, []string{rec, s.k.tagNames()}, id, ix, string(op), joinTags(tags), job.MaxTags).Text()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		if instance {
			return nil, instNotFound(id)
		}
		return nil, notFound(id)
	case err != nil && strings.Contains(err.Error(), "TOOMANY"):
		return nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("at most %d tags", job.MaxTags),
			Violations: []job.Violation{{Pointer: "/tags", Keyword: "maxItems", Message: fmt.Sprintf("at most %d tags", job.MaxTags)}}}
	case err != nil:
		return nil, fmt.Errorf("store: set tags of %s: %w", id, err)
	}
	return splitTags(csv), nil
}

// TagCount is a tag with how many executions and instances carry it.
type TagCount struct {
	Name                  string
	Executions, Instances int64
}

// tagCountsScript reads a page of the known tag names after ARGV[1]
// (lexicographic, "" from the first), ARGV[2] of them at most, with the
// size of their indexes (prefixes ARGV[3] executions, ARGV[4] instances),
// dropping names whose indexes are both empty, unless ARGV[5..] (job
// types' tags, which no index holds) name them. KEYS[1] the set of known
// tags. Returns {more (0/1), name, executions, instances, ...}.
var tagCountsScript = redis.NewScript(`
local keep = {}
for i = 5, #ARGV do keep[ARGV[i]] = true end
local from, want, out, more = '-', tonumber(ARGV[2]), {0}, 0
if ARGV[1] ~= '' then from = '(' .. ARGV[1] end
local got = 0
for round = 1, 8 do
  local names = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, want + 1)
  for i, n in ipairs(names) do
    if got == want then more = 1 break end
    local x = redis.call('ZCARD', ARGV[3] .. n)
    local y = redis.call('ZCARD', ARGV[4] .. n)
    if x == 0 and y == 0 and not keep[n] then
      redis.call('ZREM', KEYS[1], n)
    else
      out[#out + 1], out[#out + 2], out[#out + 3] = n, x, y
      got = got + 1
    end
    from = '(' .. n
  end
  if more == 1 or #names <= want then break end
  if got == want then
    if #redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, 1) > 0 then more = 1 end
    break
  end
end
out[1] = more
return out`)

// TagCounts returns up to limit of the tags that executions or instances
// carry, by name after after ("" from the first), with their counts, and
// whether more follow. Names in keep (job types' tags) are listed even
// when no record carries them: the caller merges job types' tags in.
// Each tag costs two ZCARDs, O(1).
func (s *Store) TagCounts(ctx context.Context, after string, limit int, keep []string) ([]TagCount, bool, error) {
	argv := []any{after, limit, s.k.ixTag(""), s.k.ixInstTag("")}
	for _, k := range keep {
		argv = append(argv, k)
	}
	var res []any
	err := s.read(ctx, func() (err error) {
		res, err = tagCountsScript.Run(ctx, s.rdb, []string{s.k.tagNames()}, argv...).Slice()
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: tags: %w", err)
	}
	more, _ := res[0].(int64)
	out := make([]TagCount, 0, len(res)/3)
	for i := 1; i+2 < len(res); i += 3 {
		n, _ := res[i].(string)
		x, _ := res[i+1].(int64)
		y, _ := res[i+2].(int64)
		out = append(out, TagCount{Name: n, Executions: x, Instances: y})
	}
	return out, more == 1, nil
}

// TagCount returns how many executions and instances carry tag t.
func (s *Store) TagCount(ctx context.Context, t string) (TagCount, error) {
	out := TagCount{Name: t}
	err := s.read(ctx, func() error {
		pipe := s.rdb.Pipeline()
		x := pipe.ZCard(ctx, s.k.ixTag(t))
		y := pipe.ZCard(ctx, s.k.ixInstTag(t))
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		out.Executions, out.Instances = x.Val(), y.Val()
		return nil
	})
	return out, err
}

// Tagged is a record carrying a tag: an execution or an instance.
type Tagged struct {
	// Kind is "execution" or "instance".
	Kind, ID string
}

// TaggedListing is one page of TaggedPage.
type TaggedListing struct {
	Items []Tagged
	// Next is the token of the next page; "" when the listing ended.
	Next string
}

// TaggedPage returns a page of the records carrying tag t: its executions
// newest first, then its instances newest first, limit at most, from the
// position token names ("" from the top). One or two reads of one index
// each, O(log n + limit).
func (s *Store) TaggedPage(ctx context.Context, t string, limit int, token string) (*TaggedListing, error) {
	kind, from := "x", (*pos)(nil)
	if token != "" {
		k, rest, ok := strings.Cut(token, ".")
		if !ok || (k != "x" && k != "i") || (k == "x" && rest == "") {
			return nil, job.Errorf(job.CodeBadRequest, "page_token is not one this server gave")
		}
		kind = k
		if rest != "" {
			at, err := parseToken(rest)
			if err != nil {
				return nil, err
			}
			from = &at
		}
	}
	out := &TaggedListing{}
	all := windowOf(time.Time{}, time.Time{})
	// read adds up to n records of index set, from from on, of kind what;
	// when the index has more, out.Next points past them (prefix names the
	// index).
	read := func(set, what, prefix string, from *pos, n int) (more bool, err error) {
		r, err := s.fetch(ctx, query{sets: []string{set}, w: all, from: from, n: n})
		if err != nil {
			return false, fmt.Errorf("store: tagged: %w", err)
		}
		for _, p := range r.ps {
			out.Items = append(out.Items, Tagged{Kind: what, ID: p.id})
		}
		if r.more {
			out.Next = prefix + "." + r.ps[len(r.ps)-1].token()
		}
		return r.more, nil
	}
	if kind == "x" {
		more, err := read(s.k.ixTag(t), "execution", "x", from, limit)
		if err != nil {
			return nil, err
		}
		if more {
			return out, nil
		}
		kind, from = "i", nil
	}
	n := limit - len(out.Items)
	if n == 0 {
		// The executions filled the page: the instances start the next one.
		if c, err := s.TagCount(ctx, t); err != nil || c.Instances > 0 {
			out.Next = "i."
			return out, err
		}
		return out, nil
	}
	if _, err := read(s.k.ixInstTag(t), "instance", "i", from, n); err != nil {
		return nil, err
	}
	return out, nil
}

// TaggedIDs returns up to n ids of the executions (instance false) or
// instances carrying tag t, for removing the tag from them in batches.
func (s *Store) TaggedIDs(ctx context.Context, instance bool, t string, n int64) ([]string, error) {
	key := s.k.tagIndex(instance, t)
	var ids []string
	err := s.read(ctx, func() (err error) { ids, err = s.rdb.ZRange(ctx, key, 0, n-1).Result(); return err })
	return ids, err
}

// DropTagEntry removes id from the index of tag t (of instances when
// instance is true).
func (s *Store) DropTagEntry(ctx context.Context, instance bool, t, id string) error {
	key := s.k.tagIndex(instance, t)
	return s.read(ctx, func() error { return s.rdb.ZRem(ctx, key, id).Err() })
}

// forgetTagScript drops KEYS[1]'s name ARGV[1] when both its indexes
// (KEYS[2], KEYS[3]) are empty.
var forgetTagScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0`)

// ForgetTag drops t from the set of known tags when no record carries it.
func (s *Store) ForgetTag(ctx context.Context, t string) error {
	return s.read(ctx, func() error {
		return forgetTagScript.Run(ctx, s.rdb, []string{s.k.tagNames(), s.k.ixTag(t), s.k.ixInstTag(t)}, t).Err()
	})
}
