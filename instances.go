package solvekit

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/solvekit/solvekit/internal/store"
	"github.com/solvekit/solvekit/job"
)

// InstanceFilter selects and pages stored instances for ListInstances.
type InstanceFilter struct {
	// Owner keeps the instances of one owner; "" keeps all.
	Owner string
	// Tag keeps the instances carrying this tag (an index of its own;
	// with Owner too, the owner is checked on at most 1,000 candidates
	// per page, which may then come back short with a token).
	Tag string
	// Limit is the page size. Default 25, at most 1000.
	Limit int
	// PageToken continues a listing where the page that gave it
	// (InstancePage.NextPageToken) ended. Not with Offset.
	PageToken string
	// Offset skips that many instances, newest first; at most MaxOffset.
	Offset int
}

// InstancePage is one page of ListInstancesPage.
type InstancePage struct {
	Instances []*job.Instance
	// Total is how many instances match in all.
	Total int64
	// NextPageToken reads the next page (InstanceFilter.PageToken); ""
	// when this page is the last.
	NextPageToken string
}

// CreateInstance stores an instance's data (a JSON document; a model file
// such as MPS is wrapped in one, see the REST upload) for later executions
// (named by SubmitRequest.InstanceID) and returns its record with ID, size
// and creation time set. When in.JobType is set the data is validated
// against that job type's instance schema first. Nothing is stored when
// validation fails.
//
//	in, err := svc.CreateInstance(ctx, &job.Instance{Name: "small", JobType: "knapsack"}, data)
func (s *Service) CreateInstance(ctx context.Context, in *job.Instance, data []byte) (*job.Instance, error) {
	if in.Format == "" {
		in.Format = "json"
	}
	tags, err := job.CheckTags("/tags", in.Tags)
	if err != nil {
		return nil, err
	}
	in.Tags = tags
	if in.JobType != "" {
		t, err := s.reg.Lookup(in.JobType)
		if err != nil {
			return nil, err
		}
		if err := t.ValidateInstance(data); err != nil {
			return nil, err
		}
	} else if !json.Valid(data) {
		return nil, job.Errorf(job.CodeBadRequest, "instance data is not valid JSON")
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	in.ID = id.String()
	in.CreatedAt = nowUTC()
	in.UpdatedAt = in.CreatedAt
	if err := s.store.CreateInstance(ctx, in, data); err != nil {
		return nil, store.Classify(err)
	}
	return in, nil
}

// GetInstance returns a stored instance's record (not its data).
func (s *Service) GetInstance(ctx context.Context, id string) (*job.Instance, error) {
	in, err := s.store.GetInstance(ctx, id)
	return in, store.Classify(err)
}

// InstanceData returns a stored instance's data as it was uploaded.
func (s *Service) InstanceData(ctx context.Context, id string) ([]byte, error) {
	b, err := s.store.InstanceData(ctx, id)
	return b, store.Classify(err)
}

// ListInstances returns stored instances newest first and how many match.
// ListInstancesPage returns the next page's token too.
func (s *Service) ListInstances(ctx context.Context, f InstanceFilter) ([]*job.Instance, int64, error) {
	p, err := s.ListInstancesPage(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	return p.Instances, p.Total, nil
}

// ListInstancesPage returns one page of stored instances newest first,
// how many match and the token of the next page.
func (s *Service) ListInstancesPage(ctx context.Context, f InstanceFilter) (*InstancePage, error) {
	p, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	p.Token = f.PageToken
	if f.Tag != "" {
		if err := checkTag(f.Tag); err != nil {
			return nil, err
		}
	}
	l, err := s.store.ListInstances(ctx, f.Owner, f.Tag, p)
	if err != nil {
		return nil, store.Classify(err)
	}
	return &InstancePage{Instances: l.Items, Total: l.Total, NextPageToken: l.Next}, nil
}

// UpdateInstance writes the descriptive fields of an instance record
// (Name, Description, Metadata, Tags: nil clears them, moving its tag
// index entries); its data never changes.
func (s *Service) UpdateInstance(ctx context.Context, in *job.Instance) error {
	tags, err := job.CheckTags("/tags", in.Tags)
	if err != nil {
		return err
	}
	in.UpdatedAt = nowUTC()
	if err := s.store.UpdateInstance(ctx, in); err != nil {
		return store.Classify(err)
	}
	in.Tags, err = s.store.SetTags(ctx, true, in.ID, store.TagsSet, tags)
	return store.Classify(err)
}

// DeleteInstance removes a stored instance and its data. Executions that
// ran on it keep their own copy of the data. While an instance set holds
// the instance it stays and the delete is CodeConflict (an experiment over
// the set still needs it): delete the set first.
func (s *Service) DeleteInstance(ctx context.Context, id string) error {
	return store.Classify(s.store.DeleteInstance(ctx, id))
}

// ExecutionInput returns the instance data an execution runs on (its own
// copy, taken at submit).
func (s *Service) ExecutionInput(ctx context.Context, id string) (json.RawMessage, error) {
	b, err := s.store.Input(ctx, id)
	return b, store.Classify(err)
}

// page checks a limit and offset (limit 0 means 25) and returns the store's
// page.
func page(limit, offset int) (store.Page, error) {
	if limit <= 0 {
		limit = 25
	}
	if limit > 1000 || offset < 0 {
		return store.Page{}, job.Errorf(job.CodeBadRequest, "limit must be at most 1000 and offset not negative")
	}
	return store.Page{Limit: limit, Offset: offset}, nil
}
