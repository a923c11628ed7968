package client

import (
	"context"
	"net/url"

	"github.com/solvekit/solvekit/transport/api"
)

// ListTags calls GET /tags: tags by name with their counts, a page at a
// time (p.Token is the previous page's NextPageToken; Offset is refused).
func (c *Client) ListTags(ctx context.Context, p Page) (*api.TagList, error) {
	return call[api.TagList](ctx, c, Request{Method: "GET", Path: "/tags", Query: p.query(nil)})
}

// GetTag calls GET /tags/{tag}: the tag's counts and job types, and a page
// of the records carrying it.
func (c *Client) GetTag(ctx context.Context, tag string, p Page) (*api.TagDetail, error) {
	return call[api.TagDetail](ctx, c, Request{Method: "GET", Path: "/tags/" + esc(tag), Query: p.query(nil)})
}

// AttachTag calls POST /tags: adds req.Tag to the executions and
// instances it names, all or none.
func (c *Client) AttachTag(ctx context.Context, req api.TagAttach) (*api.Tag, error) {
	return call[api.Tag](ctx, c, Request{Method: "POST", Path: "/tags", Body: req})
}

// DeleteTag calls DELETE /tags/{tag}: removes the tag from every execution
// and instance (admin).
func (c *Client) DeleteTag(ctx context.Context, tag string) (*api.TagRemoval, error) {
	return call[api.TagRemoval](ctx, c, Request{Method: "DELETE", Path: "/tags/" + esc(tag)})
}

// ListTaggedInstances calls GET /instances?tag=: the instances carrying
// tag, newest first.
func (c *Client) ListTaggedInstances(ctx context.Context, tag string, p Page) (*api.InstanceList, error) {
	return call[api.InstanceList](ctx, c, Request{Method: "GET", Path: "/instances", Query: p.query(url.Values{"tag": {tag}})})
}
