package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/job/record"
	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// TestTagsRoundTrip drives the tags API through the Go client: tags and
// require_tags on POST /executions, tags on instances, ?tag= listings
// with page tokens, GET/POST /tags, GET /tags/{tag}, PATCH tags, DELETE
// /tags/{tag} (admin), invalid tags as 422 and 400 problems, and the
// OpenAPI document describing every tags route and field.
func TestTagsRoundTrip(t *testing.T) {
	e, ctx, c := aliceEnv(t)
	ops := client.New(e.base, client.WithHeader("X-Session", "ops-session"))
	var ids []string
	for i := 0; i < 5; i++ {
		ex, err := c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":1}`),
			Tags: []string{"batch-7", "team:ops"}}, 0)
		require.NoError(t, err)
		require.Equal(t, []string{"batch-7", "team:ops"}, ex.Tags)
		ids = append(ids, ex.ID)
	}
	untagged := create(t, ctx, c, "scale", `{"x":2}`)
	in, err := c.CreateInstance(ctx, api.InstanceCreate{Name: "i1", Data: json.RawMessage(`{"x":3}`), Tags: []string{"batch-7"}})
	require.NoError(t, err)
	require.Equal(t, []string{"batch-7"}, in.Tags)

	// ?tag= with page tokens.
	var seen []string
	p := client.Page{Limit: 2}
	for {
		l, err := c.ListExecutions(ctx, client.ExecutionFilter{Tag: "batch-7"}, p)
		require.NoError(t, err)
		require.Equal(t, int64(5), l.TotalEntries)
		for _, x := range l.Executions {
			seen = append(seen, x.ID)
		}
		if l.NextPageToken == "" {
			break
		}
		p.Token = l.NextPageToken
	}
	require.ElementsMatch(t, ids, seen)
	il, err := c.ListTaggedInstances(ctx, "batch-7", client.Page{})
	require.NoError(t, err)
	require.Len(t, il.Instances, 1)

	// GET /tags and GET /tags/{tag}.
	tl, err := c.ListTags(ctx, client.Page{})
	require.NoError(t, err)
	require.Len(t, tl.Tags, 2)
	require.Equal(t, api.Tag{Name: "batch-7", Executions: 5, Instances: 1, JobTypes: []string{}}, *tl.Tags[0])
	d, err := ops.GetTag(ctx, "batch-7", client.Page{Limit: 4})
	require.NoError(t, err)
	require.Len(t, d.Items, 4)
	require.NotEmpty(t, d.NextPageToken)
	d2, err := ops.GetTag(ctx, "batch-7", client.Page{Limit: 4, Token: d.NextPageToken})
	require.NoError(t, err)
	require.Equal(t, []api.TaggedItem{{Kind: "execution", ID: ids[0]}, {Kind: "instance", ID: in.ID}}, d2.Items)
	require.Empty(t, d2.NextPageToken)
	mine, err := c.GetTag(ctx, "batch-7", client.Page{})
	require.NoError(t, err)
	require.Empty(t, mine.Items, "a planner without sharing gets counts, not other owners' ids")
	require.Equal(t, int64(5), mine.Executions)

	// POST /tags attaches; PATCH replaces one record's tags.
	tag, err := c.AttachTag(ctx, api.TagAttach{Tag: "urgent", ExecutionIDs: []string{untagged.ID, ids[0]}, InstanceIDs: []string{in.ID}})
	require.NoError(t, err)
	require.Equal(t, int64(2), tag.Executions)
	require.Equal(t, int64(1), tag.Instances)
	_, err = c.AttachTag(ctx, api.TagAttach{Tag: "urgent", ExecutionIDs: []string{"0190f0f0-0000-7000-8000-000000000000"}})
	requireStatus(t, err, http.StatusUnprocessableEntity)
	ex, err := c.PatchExecution(ctx, ids[1], api.ExecutionPatch{Tags: &[]string{"solo"}}, "tags")
	require.NoError(t, err)
	require.Equal(t, []string{"solo"}, ex.Tags)
	pi, err := c.PatchInstance(ctx, in.ID, api.InstancePatch{Tags: &[]string{}}, "tags")
	require.NoError(t, err)
	require.Empty(t, pi.Tags)

	// Invalid tags.
	_, err = c.CreateExecution(ctx, api.ExecutionCreate{JobType: "scale", Instance: json.RawMessage(`{"x":1}`), Tags: []string{"Not OK"}}, 0)
	requireStatus(t, err, http.StatusUnprocessableEntity)
	_, err = c.AttachTag(ctx, api.TagAttach{Tag: "UPPER", ExecutionIDs: []string{untagged.ID}})
	requireStatus(t, err, http.StatusUnprocessableEntity)
	_, err = c.ListExecutions(ctx, client.ExecutionFilter{Tag: "bad tag"}, client.Page{})
	requireStatus(t, err, http.StatusBadRequest)

	// DELETE /tags/{tag} is for admins, and removes the tag everywhere.
	_, err = c.DeleteTag(ctx, "batch-7")
	requireStatus(t, err, http.StatusForbidden)
	rm, err := ops.DeleteTag(ctx, "batch-7")
	require.NoError(t, err)
	require.Equal(t, api.TagRemoval{Executions: 4, Instances: 0}, *rm)
	_, err = ops.GetTag(ctx, "batch-7", client.Page{})
	requireStatus(t, err, http.StatusNotFound)
	l, err := c.ListExecutions(ctx, client.ExecutionFilter{Tag: "batch-7"}, client.Page{})
	require.NoError(t, err)
	require.Empty(t, l.Executions)
	got, err := c.GetExecution(ctx, ids[2])
	require.NoError(t, err)
	require.Equal(t, []string{"team:ops"}, got.Tags)
	waitEnds(t, ctx, c, ids[2], record.StateSucceeded)

	// The OpenAPI document covers the routes and the new fields.
	doc, err := c.OpenAPI(ctx)
	require.NoError(t, err)
	var oa struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(doc, &oa))
	require.Contains(t, oa.Paths["/tags"], "get")
	require.Contains(t, oa.Paths["/tags"], "post")
	require.Contains(t, oa.Paths["/tags/{tag}"], "get")
	require.Contains(t, oa.Paths["/tags/{tag}"], "delete")
	require.Contains(t, oa.Components.Schemas["ExecutionCreate"].Properties, "require_tags")
	require.Contains(t, oa.Components.Schemas["ExecutionCreate"].Properties, "tags")
	require.Contains(t, oa.Components.Schemas["InstanceCreate"].Properties, "tags")
}

func requireStatus(t *testing.T, err error, status int) {
	t.Helper()
	var p *api.Problem
	require.True(t, errors.As(err, &p), "want a %d problem, got %v", status, err)
	require.Equal(t, status, p.Status, "%+v", p)
}
