package solvekit

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/solvekit/solvekit/internal/queue"
	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// Tags label executions (SubmitRequest.Tags, ExecutionUpdate.Tags),
// instances (job.Instance.Tags) and job types (job.WithTags), as pyfarm's
// tags do: Tags lists them with counts, Tag and TaggedItems tell what
// carries one, AttachTag and DeleteTag change many records at once, and
// ListOptions.Tag and InstanceFilter.Tag filter the listings through an
// index per tag. Required tags (SubmitRequest.RequireTags,
// job.WithRequiredTags) are apart from them: they route an execution to
// the workers whose Config.WorkerTags hold them (docs/tags.md).

// taskQueue is the asynq queue of e's tasks: its queue, or the routed
// variant of it when it requires worker tags. Every path that writes,
// finds or removes a task of e (submit, relaunch, retry, the sweepers,
// cancel) names it this way, so that a new attempt keeps its routing.
func taskQueue(e *job.Execution) string { return queue.Routed(e.Queue, e.RequireTags) }

// checkWorkerTags checks Config.WorkerTags and returns them sorted.
func checkWorkerTags(tags []string) ([]string, error) {
	out, err := job.CheckTags("/worker_tags", tags)
	if err != nil {
		return nil, fmt.Errorf("solvekit: Config.WorkerTags: %w", err)
	}
	if len(out) > queue.MaxWorkerTags {
		return nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("solvekit: Config.WorkerTags: at most %d tags", queue.MaxWorkerTags)}
	}
	return out, nil
}

// addTagQueues adds to a worker's queues the routed variants of each, for
// every non-empty subset of Config.WorkerTags, with the queue's weight.
func (s *Service) addTagQueues(queues map[string]int) {
	if len(s.cfg.WorkerTags) == 0 {
		return
	}
	base := make(map[string]int, len(queues))
	for q, w := range queues {
		base[q] = w
	}
	for q, w := range base {
		for _, v := range queue.Variants(q, s.cfg.WorkerTags) {
			queues[v] = w
		}
	}
}

// checkSubmitTags checks a submit's tags and required tags (with the job
// type's) and returns them sorted, without duplicates.
func (s *Service) checkSubmitTags(d *job.Definition, req SubmitRequest) ([]string, []string, error) {
	tags, terr := job.CheckTags("/tags", req.Tags)
	requires, rerr := job.CheckTags("/require_tags", append(slices.Clone(req.RequireTags), d.RequiredTags...))
	if terr != nil || rerr != nil {
		out := &job.Error{Code: job.CodeInvalid, Message: "invalid tags"}
		for _, err := range []error{terr, rerr} {
			if je, ok := err.(*job.Error); ok {
				out.Violations = append(out.Violations, je.Violations...)
			}
		}
		return nil, nil, out
	}
	switch {
	case len(requires) > queue.MaxWorkerTags:
		return nil, nil, &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("at most %d required tags: no worker can have more", queue.MaxWorkerTags),
			Violations: []job.Violation{{Pointer: "/require_tags", Keyword: "maxItems", Message: fmt.Sprintf("at most %d tags", queue.MaxWorkerTags)}}}
	case d.Kind == job.KindSync && !subset(requires, s.cfg.WorkerTags):
		return nil, nil, &job.Error{Code: job.CodeInvalid,
			Message: fmt.Sprintf("job type %q is sync: it runs in the submitting process, whose worker tags (%s) lack some of %s",
				d.Name, strings.Join(s.cfg.WorkerTags, ","), strings.Join(requires, ",")),
			Violations: []job.Violation{{Pointer: "/require_tags", Keyword: "enum", Message: "tags this process's workers have"}}}
	}
	return tags, requires, nil
}

// subset tells whether every tag of a is in b.
func subset(a, b []string) bool {
	for _, t := range a {
		if !slices.Contains(b, t) {
			return false
		}
	}
	return true
}

// checkTag refuses a malformed tag name with CodeInvalid.
func checkTag(name string) error {
	if job.ValidTag(name) {
		return nil
	}
	return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("invalid tag %.80q", name),
		Violations: []job.Violation{{Pointer: "/tag", Keyword: "pattern", Message: fmt.Sprintf("1 to %d of a-z, 0-9, '.', '_', ':', '-'", job.MaxTagLen)}}}
}

// TagInfo is a tag and what carries it.
type TagInfo struct {
	// Name is the tag.
	Name string
	// Executions and Instances count the records carrying it.
	Executions, Instances int64
	// JobTypes names the registered job types carrying it (job.WithTags),
	// sorted.
	JobTypes []string
}

// TagListOptions pages Tags and TaggedItems.
type TagListOptions struct {
	// Limit is the page size. Default 25, at most 1000.
	Limit int
	// PageToken continues after the page that returned it.
	PageToken string
}

// TagPage is one page of Tags, by name.
type TagPage struct {
	Tags []*TagInfo
	// NextPageToken reads the next page; "" on the last.
	NextPageToken string
}

// jobTypeTags maps each tag of a registered job type to those job types.
func (s *Service) jobTypeTags() map[string][]string {
	m := map[string][]string{}
	for _, t := range s.reg.List() {
		for _, tag := range t.Def.Tags {
			m[tag] = append(m[tag], t.Name())
		}
	}
	for _, names := range m {
		slices.Sort(names)
	}
	return m
}

// Tags returns a page of the tags that executions, instances or job types
// carry, by name, each with its counts: two O(1) counts per tag listed.
// The page token is the last name of the page.
func (s *Service) Tags(ctx context.Context, o TagListOptions) (*TagPage, error) {
	p, err := page(o.Limit, 0)
	if err != nil {
		return nil, err
	}
	jt := s.jobTypeTags()
	keep := make([]string, 0, len(jt))
	for t := range jt {
		keep = append(keep, t)
	}
	counts, more, err := s.store.TagCounts(ctx, o.PageToken, p.Limit, keep)
	if err != nil {
		return nil, store.Classify(err)
	}
	byName := map[string]*TagInfo{}
	for _, c := range counts {
		byName[c.Name] = &TagInfo{Name: c.Name, Executions: c.Executions, Instances: c.Instances}
	}
	// Job types' tags that no record carries are not in the store's set.
	// Past the store's page, a name of its next page could come first:
	// those wait for the next page.
	last := ""
	if more && len(counts) > 0 {
		last = counts[len(counts)-1].Name
	}
	for t := range jt {
		if t > o.PageToken && byName[t] == nil && (last == "" || t < last) {
			byName[t] = &TagInfo{Name: t}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	out := &TagPage{Tags: make([]*TagInfo, 0, min(len(names), p.Limit))}
	for _, n := range names {
		if len(out.Tags) == p.Limit {
			break
		}
		ti := byName[n]
		ti.JobTypes = jt[n]
		out.Tags = append(out.Tags, ti)
	}
	if n := len(out.Tags); n > 0 && (more || n < len(names) || hasTagAfter(jt, out.Tags[n-1].Name)) {
		out.NextPageToken = out.Tags[n-1].Name
	}
	return out, nil
}

// hasTagAfter tells whether a job type tag sorts after name.
func hasTagAfter(jt map[string][]string, name string) bool {
	for t := range jt {
		if t > name {
			return true
		}
	}
	return false
}

// Tag returns what carries tag name: counts of executions and instances
// and the job types. A tag nothing carries is CodeNotFound.
func (s *Service) Tag(ctx context.Context, name string) (*TagInfo, error) {
	if err := checkTag(name); err != nil {
		return nil, err
	}
	c, err := s.store.TagCount(ctx, name)
	if err != nil {
		return nil, store.Classify(err)
	}
	out := &TagInfo{Name: name, Executions: c.Executions, Instances: c.Instances, JobTypes: s.jobTypeTags()[name]}
	if out.Executions == 0 && out.Instances == 0 && len(out.JobTypes) == 0 {
		return nil, job.Errorf(job.CodeNotFound, "tag %q not found", name)
	}
	return out, nil
}

// TaggedItem is a record carrying a tag.
type TaggedItem struct {
	// Kind is "execution" or "instance".
	Kind string
	// ID is the record's id.
	ID string
}

// TaggedPage is one page of TaggedItems.
type TaggedPage struct {
	Items []TaggedItem
	// NextPageToken reads the next page; "" on the last.
	NextPageToken string
}

// TaggedItems returns a page of the records carrying tag name: its
// executions newest first, then its instances newest first, each page
// read from the tag's indexes in O(log n + limit) at any depth.
func (s *Service) TaggedItems(ctx context.Context, name string, o TagListOptions) (*TaggedPage, error) {
	if err := checkTag(name); err != nil {
		return nil, err
	}
	p, err := page(o.Limit, 0)
	if err != nil {
		return nil, err
	}
	l, err := s.store.TaggedPage(ctx, name, p.Limit, o.PageToken)
	if err != nil {
		return nil, store.Classify(err)
	}
	out := &TaggedPage{Items: make([]TaggedItem, len(l.Items)), NextPageToken: l.Next}
	for i, it := range l.Items {
		out.Items[i] = TaggedItem{Kind: it.Kind, ID: it.ID}
	}
	return out, nil
}

// TagTargets names records for AttachTag.
type TagTargets struct {
	ExecutionIDs, InstanceIDs []string
}

// MaxTagTargets is how many records one AttachTag names at most.
const MaxTagTargets = 1000

// AttachTag adds tag name to the executions and instances t names (a
// record carrying it already is left as it is) and returns the tag's
// counts. It checks first that every record exists: an unknown one is
// CodeNotFound and nothing changes. A record that would carry more than
// job.MaxTags tags is refused with CodeInvalid (the ones before it keep
// the tag).
func (s *Service) AttachTag(ctx context.Context, name string, t TagTargets) (*TagInfo, error) {
	if err := checkTag(name); err != nil {
		return nil, err
	}
	if n := len(t.ExecutionIDs) + len(t.InstanceIDs); n > MaxTagTargets {
		return nil, job.Errorf(job.CodeInvalid, "%d records; at most %d per request", n, MaxTagTargets)
	}
	for _, id := range t.ExecutionIDs {
		if _, err := s.store.Get(ctx, id); err != nil {
			return nil, store.Classify(err)
		}
	}
	for _, id := range t.InstanceIDs {
		if _, err := s.store.GetInstance(ctx, id); err != nil {
			return nil, store.Classify(err)
		}
	}
	for _, id := range t.ExecutionIDs {
		if err := s.setTags(ctx, false, id, store.TagsAdd, []string{name}); err != nil {
			return nil, err
		}
	}
	for _, id := range t.InstanceIDs {
		if err := s.setTags(ctx, true, id, store.TagsAdd, []string{name}); err != nil {
			return nil, err
		}
	}
	return s.Tag(ctx, name)
}

// TagRemoval is what DeleteTag removed the tag from.
type TagRemoval struct {
	Executions, Instances int
}

// DeleteTag removes tag name from every execution and instance carrying
// it, a batch of 500 at a time (the cost grows with the records carrying
// it, as DeleteFinishedBefore's), and forgets the tag. Job types keep
// their tags (they are set in code, job.WithTags). A tag nothing carries
// is CodeNotFound.
func (s *Service) DeleteTag(ctx context.Context, name string) (*TagRemoval, error) {
	if _, err := s.Tag(ctx, name); err != nil {
		return nil, err
	}
	out := &TagRemoval{}
	for _, instance := range []bool{false, true} {
		for {
			ids, err := s.store.TaggedIDs(ctx, instance, name, 500)
			if err != nil {
				return out, store.Classify(err)
			}
			if len(ids) == 0 {
				break
			}
			for _, id := range ids {
				err := s.setTags(ctx, instance, id, store.TagsRemove, []string{name})
				switch {
				case job.ErrorCode(err) == job.CodeNotFound:
					// An entry without its record (none is left so, but
					// the loop must not come back to it): drop it.
					if err := s.store.DropTagEntry(ctx, instance, name, id); err != nil {
						return out, store.Classify(err)
					}
				case err != nil:
					return out, err
				case instance:
					out.Instances++
				default:
					out.Executions++
				}
			}
		}
	}
	return out, store.Classify(s.store.ForgetTag(ctx, name))
}

// setTags changes the tags of one record (instance or execution) after
// checking them.
func (s *Service) setTags(ctx context.Context, instance bool, id string, op store.TagOp, tags []string) error {
	tags, err := job.CheckTags("/tags", tags)
	if err != nil {
		return err
	}
	_, err = s.store.SetTags(ctx, instance, id, op, tags)
	return store.Classify(err)
}
