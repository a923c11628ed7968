package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/solvekit/solvekit/job"
)

// Filter selects executions for List. Zero fields do not filter.
type Filter struct {
	State      job.State
	JobType    string
	Owner      string
	InstanceID string
	// CreatedAfter and CreatedBefore bound the creation time (inclusive).
	CreatedAfter, CreatedBefore time.Time
	// Metadata keeps executions whose metadata has every key=value given.
	Metadata map[string]string
	// Tag keeps executions carrying this tag.
	Tag string
}

// Page is a window of a listing: Limit items after the position Token
// names (a previous page's Next), or, without a token, after skipping
// Offset items.
type Page struct {
	Limit, Offset int
	Token         string
}

// Listing bounds.
const (
	// MaxOffset is the deepest Page.Offset served: an offset costs the
	// items it skips; a page token costs nothing more at any depth.
	MaxOffset = 1000
	// ScanBudget is how many candidates one request examines at most when
	// a filter is not covered by the index it reads (three dimensions at
	// once, or metadata beside another filter): the page may then come
	// back short, with a token to continue from where the scan stopped.
	ScanBudget = 1000
	// MaxLabels is how many metadata labels an execution may have; each
	// is indexed (MaxLabelLen bounds a key and a value, in bytes). The
	// REST API's own rules are stricter (64 labels, keys of 128 bytes).
	MaxLabels   = 64
	MaxLabelLen = 1024
)

// Listing is one page of executions.
type Listing struct {
	Items []*job.Execution
	// Total is how many executions match in all, or -1 when counting them
	// would cost a scan of more than ScanBudget records (a filter the sets
	// read do not cover).
	Total int64
	// Next is the token of the next page; "" when the listing ended.
	Next string
}

// checkLabels refuses metadata that would cost too many index entries.
func checkLabels(md map[string]string) error {
	if len(md) > MaxLabels {
		return job.Errorf(job.CodeInvalid, "metadata has %d labels; at most %d", len(md), MaxLabels)
	}
	for k, v := range md {
		if len(k) > MaxLabelLen || len(v) > MaxLabelLen || k == "" {
			return job.Errorf(job.CodeInvalid, "metadata label %.40q: keys must be 1 to %d bytes and values at most %d", k, MaxLabelLen, MaxLabelLen)
		}
	}
	return nil
}

// appendIndexes appends the index keys a new execution e belongs to.
func (k keys) appendIndexes(dst []string, e *job.Execution) []string {
	dst = append(dst, k.ixJobTypes(), k.ixStateType(e.State, e.JobType))
	if e.Owner != "" {
		dst = append(dst, k.ixStateOwner(e.State, e.Owner), k.ixTypeOwner(e.JobType, e.Owner))
	}
	if e.InstanceID != "" {
		dst = append(dst, k.ixInstance(e.InstanceID))
	}
	for key, v := range e.Metadata {
		dst = append(dst, k.ixLabel(key, v))
	}
	return dst
}

// pos is a position in a listing, newest first: by creation time (ms)
// descending, then id descending (the order Redis gives equal scores in
// a reverse range).
type pos struct {
	score int64
	id    string
}

// before tells whether a comes before b in the listing.
func (a pos) before(b pos) bool {
	return a.score > b.score || (a.score == b.score && a.id > b.id)
}

// tokenPrefix versions the page token's layout.
const tokenPrefix = "1:"

func (p pos) token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + strconv.FormatInt(p.score, 10) + ":" + p.id))
}

func parseToken(t string) (pos, error) {
	bad := job.Errorf(job.CodeBadRequest, "page_token is not one this server gave")
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return pos{}, bad
	}
	rest, ok := strings.CutPrefix(string(b), tokenPrefix)
	if !ok {
		return pos{}, bad
	}
	sc, id, ok := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(sc, 10, 64)
	if !ok || err != nil || id == "" {
		return pos{}, bad
	}
	return pos{n, id}, nil
}

// plan is how one listing is read: the union of sets (each newest first),
// then the residual filter for what they do not cover.
type plan struct {
	sets     []string
	residual bool
	// covers names the dimensions the sets serve ("state", "job_type",
	// "owner", "instance_id", "md:<key>"): the rest is checked.
	covers []string
}

// plans returns the ways f can be read. A plan with residual false reads
// exactly the matches; the others need their candidates checked.
func (s *Store) plans(ctx context.Context, f Filter) ([]plan, error) {
	k := s.k
	st, jt, own := f.State, f.JobType, f.Owner
	perState := func(key func(job.State) string) []string {
		out := make([]string, len(job.States))
		for i, x := range job.States {
			out[i] = key(x)
		}
		return out
	}
	dims := 0
	for _, set := range []bool{st != "", jt != "", own != "", f.InstanceID != "", f.Tag != ""} {
		if set {
			dims++
		}
	}
	dims += len(f.Metadata)
	var out []plan
	add := func(covers []string, sets ...string) {
		out = append(out, plan{sets: sets, residual: len(covers) < dims, covers: covers})
	}
	switch {
	case st != "" && jt != "":
		add([]string{"state", "job_type"}, k.ixStateType(st, jt))
	case st != "" && own != "":
	case jt != "" && own != "":
	case st != "":
		sets, err := s.stateSets(ctx, st)
		if err != nil {
			return nil, err
		}
		add([]string{"state"}, sets...)
	case jt != "":
		add([]string{"job_type"}, perState(func(x job.State) string { return k.ixStateType(x, jt) })...)
	case own != "":
		add([]string{"owner"}, perState(func(x job.State) string { return k.ixStateOwner(x, own) })...)
	case f.InstanceID == "" && len(f.Metadata) == 0 && f.Tag == "":
		sets, err := s.stateSets(ctx, job.States...)
		if err != nil {
			return nil, err
		}
		add(nil, sets...)
	}
	if st != "" && own != "" {
		add([]string{"state", "owner"}, k.ixStateOwner(st, own))
	}
	if jt != "" && own != "" {
		add([]string{"job_type", "owner"}, k.ixTypeOwner(jt, own))
	}
	if f.InstanceID != "" {
		add([]string{"instance_id"}, k.ixInstance(f.InstanceID))
	}
	for key, v := range f.Metadata {
		add([]string{"md:" + key}, k.ixLabel(key, v))
	}
	if f.Tag != "" {
		add([]string{"tag"}, k.ixTag(f.Tag))
	}
	return out, nil
}

// jobTypes returns the job types that have executions stored.
func (s *Store) jobTypes(ctx context.Context) ([]string, error) {
	var types []string
	err := s.read(ctx, func() (err error) { types, err = s.rdb.SMembers(ctx, s.k.ixJobTypes()).Result(); return err })
	sort.Strings(types)
	return types, err
}

// stateSets returns the index sets that together hold the executions in
// the given states: one per state and job type.
func (s *Store) stateSets(ctx context.Context, states ...job.State) ([]string, error) {
	types, err := s.jobTypes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(states)*len(types))
	for _, st := range states {
		for _, t := range types {
			out = append(out, s.k.ixStateType(st, t))
		}
	}
	return out, nil
}

// choose picks the plan to read: one without a residual filter when there
// is one, else the one whose sets hold the fewest ids (ZCARD, one round
// trip).
func (s *Store) choose(ctx context.Context, ps []plan) (plan, error) {
	for _, p := range ps {
		if !p.residual {
			return p, nil
		}
	}
	if len(ps) == 1 {
		return ps[0], nil
	}
	cards := make([][]*redis.IntCmd, len(ps))
	err := s.read(ctx, func() error {
		pipe := s.rdb.Pipeline()
		for i, p := range ps {
			cards[i] = make([]*redis.IntCmd, len(p.sets))
			for j, set := range p.sets {
				cards[i][j] = pipe.ZCard(ctx, set)
			}
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil {
		return plan{}, err
	}
	best, bestN := 0, int64(math.MaxInt64)
	for i, cs := range cards {
		var n int64
		for _, c := range cs {
			n += c.Val()
		}
		if n < bestN {
			best, bestN = i, n
		}
	}
	return ps[best], nil
}

// window is the score range a listing reads.
type window struct{ min, max string }

func windowOf(after, before time.Time) window {
	w := window{"-inf", "+inf"}
	if !after.IsZero() {
		w.min = ms(after)
	}
	if !before.IsZero() {
		w.max = ms(before)
	}
	return w
}

// query is one read of merge.lua: the union of sets, newest first, in the
// window w, after position from (nil: from the top), skipping offset
// entries, n of them. count asks for the total; recPrefix (a record key's
// prefix) for the entries' records; checks, a filter the sets do not
// cover (field, value pairs; "md:<key>" for a label), examined on at most
// ScanBudget entries.
type query struct {
	sets      []string
	w         window
	from      *pos
	offset, n int
	count     bool
	recPrefix string
	checks    []string
}

// result is what fetch read.
type result struct {
	ps   []pos
	recs []map[string]string // per entry; nil for a record gone
	more bool                // entries remain past ps
	// stop, when the scan budget ran out, is the last entry examined.
	stop  *pos
	total int64
}

// fetch runs q with merge.lua: one atomic round trip (so that an
// execution moving between sets meanwhile is seen once) that reads each
// set a few entries at a time and returns only the page.
func (s *Store) fetch(ctx context.Context, q query) (*result, error) {
	r := &result{}
	if len(q.sets) == 0 {
		return r, nil
	}
	max, cursor := q.w.max, ""
	if q.from != nil && (q.w.max == "+inf" || q.from.score <= mustInt(q.w.max)) {
		max, cursor = strconv.FormatInt(q.from.score, 10), q.from.id
	}
	cnt, budget := "0", 0
	if q.count {
		cnt = "1"
	}
	if len(q.checks) > 0 {
		budget = ScanBudget
	}
	argv := []any{max, q.w.min, cursor, q.offset, q.n + 1, cnt, q.w.min, q.w.max, q.recPrefix, budget}
	for _, c := range q.checks {
		argv = append(argv, c)
	}
	var res []any
	err := s.read(ctx, func() (err error) {
		res, err = mergeScript.Run(ctx, s.rdb, q.sets, argv...).Slice()
		return err
	})
	if err != nil {
		return nil, err
	}
	r.total, _ = res[0].(int64)
	if id, _ := res[1].(string); id != "" {
		sc, _ := res[2].(string)
		r.stop = &pos{mustInt(sc), id}
	}
	i := 3
	for ; i+1 < len(res); i += 2 {
		id, ok := res[i].(string)
		if !ok {
			break // the records start
		}
		sc, _ := res[i+1].(string)
		r.ps = append(r.ps, pos{mustInt(sc), id})
	}
	if q.recPrefix != "" {
		for ; i < len(res); i++ {
			flat, _ := res[i].([]any)
			var m map[string]string
			if len(flat) > 0 {
				m = make(map[string]string, len(flat)/2)
				for j := 0; j+1 < len(flat); j += 2 {
					k, _ := flat[j].(string)
					v, _ := flat[j+1].(string)
					m[k] = v
				}
			}
			r.recs = append(r.recs, m)
		}
	}
	if len(r.ps) > q.n {
		r.ps, r.more = r.ps[:q.n], true
	}
	return r, nil
}

// mustInt reads a score (ms); a server may format it as a float
// ("1.7e+12").
func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, _ := strconv.ParseFloat(s, 64)
		n = int64(f)
	}
	return n
}

// List returns a page of the executions that match f, newest first, with
// the token of the next page. Every filter is read from an index (see
// keys.go) in O(log n + limit) per set read: no combination intersects
// whole sets. Filters the chosen index does not cover (three dimensions
// at once, metadata beside another filter) are checked on at most
// ScanBudget candidates per request; the page may then come back short,
// and its Next continues the scan. Offsets above MaxOffset, and offsets
// with such filters, are refused (CodeBadRequest): use the token.
func (s *Store) List(ctx context.Context, f Filter, p Page) (*Listing, error) {
	from, err := p.start()
	if err != nil {
		return nil, err
	}
	ps, err := s.plans(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	pl, err := s.choose(ctx, ps)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	w := windowOf(f.CreatedAfter, f.CreatedBefore)
	q := query{sets: pl.sets, w: w, from: from, offset: p.Offset, n: p.Limit, count: true, recPrefix: s.k.meta("")}
	if pl.residual {
		if p.Offset > 0 {
			return nil, job.Errorf(job.CodeBadRequest, "offset cannot be used with this combination of filters (it is not served by one index); page with page_token (next_page_token) instead")
		}
		q.checks = residual(f, pl.covers)
	}
	r, err := s.fetch(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	l := &Listing{Items: make([]*job.Execution, 0, len(r.recs)), Total: r.total}
	for i, m := range r.recs {
		if len(m) == 0 {
			continue // deleted since
		}
		e, err := decode(r.ps[i].id, m)
		if err != nil {
			return nil, err
		}
		l.Items = append(l.Items, e)
	}
	switch {
	case r.more && len(r.ps) > 0:
		l.Next = r.ps[len(r.ps)-1].token()
	case r.stop != nil:
		l.Next = r.stop.token()
	}
	return l, nil
}

// residual is the filters of f that the sets read do not cover (covers),
// as field, value pairs merge.lua checks on each record.
func residual(f Filter, covers []string) []string {
	var out []string
	add := func(field, v string) {
		if v != "" && !slices.Contains(covers, field) {
			out = append(out, field, v)
		}
	}
	add("state", string(f.State))
	add("job_type", f.JobType)
	add("owner", f.Owner)
	add("instance_id", f.InstanceID)
	add("tag", f.Tag) // merge.lua: the record's tags must hold it
	for _, k := range slices.Sorted(maps.Keys(f.Metadata)) {
		if !slices.Contains(covers, "md:"+k) {
			out = append(out, "md:"+k, f.Metadata[k]) // "" is a value too
		}
	}
	return out
}

// start checks p and returns the position its token names (nil: the top).
func (p Page) start() (*pos, error) {
	if p.Offset > MaxOffset {
		return nil, job.Errorf(job.CodeBadRequest, "offset %d is deeper than %d; page with page_token (next_page_token) instead", p.Offset, MaxOffset)
	}
	if p.Token == "" {
		return nil, nil
	}
	if p.Offset != 0 {
		return nil, job.Errorf(job.CodeBadRequest, "give page_token or offset, not both")
	}
	at, err := parseToken(p.Token)
	if err != nil {
		return nil, err
	}
	return &at, nil
}

func ids(ps []pos) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.id
	}
	return out
}

// TokenAfter returns the page token that continues a listing after the
// execution id created at createdAt (bench/ uses it to start deep in a
// listing without walking there).
func TokenAfter(createdAt time.Time, id string) string {
	return pos{createdAt.UnixMilli(), id}.token()
}
