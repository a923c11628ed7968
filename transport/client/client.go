// Package client is a typed Go client of solvekit's REST API (served by
// package transport/httpapi). Requests and answers are the wire types of
// package transport/api; the client imports nothing of the server, so a
// program that only calls the API links neither Redis nor asynq. Errors
// the server answers with come back as *api.Problem, so callers can read
// the status, code and violations:
//
//	c := client.New("http://localhost:8080", client.WithToken(tok))
//	e, err := c.CreateExecution(ctx, api.ExecutionCreate{JobType: "knapsack", Instance: data}, 0)
//	var p *api.Problem
//	if errors.As(err, &p) && p.Status == 422 { ... p.Errors ... }
//	e, err = c.WaitExecution(ctx, e.ID) // long-polls until a terminal state
//
// A host that puts its own authentication in front of the API adds its
// headers with WithHeader, or signs each request with WithRequestEditor.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit/job/record"
	"github.com/solvekit/solvekit/transport/api"
)

// Client calls one solvekit API. It is safe for concurrent use.
type Client struct {
	base     string
	hc       *http.Client
	token    string
	jobKey   string
	header   http.Header
	editors  []RequestEditor
	longPoll time.Duration
}

// RequestEditor changes a request just before it is sent, after the
// client has set its headers: sign it, add the host's own authentication,
// a tracing header. An error aborts the call with that error.
type RequestEditor func(ctx context.Context, req *http.Request) error

// DefaultLongPoll is how long one long poll of WaitExecution asks the
// server to hold the request (GET /executions/{id}?wait=).
const DefaultLongPoll = 30 * time.Second

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one without a timeout, so
// that event streams and long polls work; bound calls with contexts).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithToken sends a bearer token (a JWT from Login, or an API key).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithJobKey sends an execution's job key (X-Job-Key).
func WithJobKey(key string) Option { return func(c *Client) { c.jobKey = key } }

// WithHeader sets a header on every request, such as the session header
// of a host application that authenticates callers itself
// (httpapi.Authenticator). A later WithHeader with the same key replaces
// the value; a Request's own Header wins over it.
func WithHeader(key, value string) Option {
	return func(c *Client) {
		c.header = c.header.Clone()
		if c.header == nil {
			c.header = http.Header{}
		}
		c.header.Set(key, value)
	}
}

// WithRequestEditor runs fn on every request just before it is sent;
// editors run in the order they were added.
func WithRequestEditor(fn RequestEditor) Option {
	return func(c *Client) { c.editors = append(c.editors[:len(c.editors):len(c.editors)], fn) }
}

// WithLongPoll sets how long one long poll of WaitExecution (and of
// RelaunchExecution's wait) may last (default DefaultLongPoll). Keep it
// below the write timeout of any server or proxy in between; the server
// caps it at its own httpapi.Options.MaxWait.
func WithLongPoll(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.longPoll = d
		}
	}
}

// New returns a client of the API at base (e.g. "http://host:8080/api").
func New(base string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{}, longPoll: DefaultLongPoll}
	for _, o := range opts {
		o(c)
	}
	return c
}

// With returns a copy of c with more options (e.g. another token); c is
// left as it was.
func (c *Client) With(opts ...Option) *Client {
	cp := *c
	for _, o := range opts {
		o(&cp)
	}
	return &cp
}

// Request is a raw call, for routes or options the typed methods lack.
type Request struct {
	Method, Path string
	Query        url.Values
	// Body is JSON-encoded unless it is an io.Reader (sent as is with
	// ContentType).
	Body        any
	ContentType string
	Header      http.Header
}

// Do sends a request and decodes a 2xx JSON answer into out (nil to
// discard); other answers become *api.Problem errors.
func (c *Client) Do(ctx context.Context, r Request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		b, err := io.ReadAll(resp.Body)
		*raw = b
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) send(ctx context.Context, r Request) (*http.Response, error) {
	u := c.base + r.Path
	if len(r.Query) > 0 {
		u += "?" + r.Query.Encode()
	}
	var body io.Reader
	ct := r.ContentType
	switch b := r.Body.(type) {
	case nil:
	case io.Reader:
		body = b
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		req.Header[k] = slices.Clone(vs) // editors may append: never to c's
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.jobKey != "" {
		req.Header.Set("X-Job-Key", c.jobKey)
	}
	for _, edit := range c.editors {
		if err := edit(ctx, req); err != nil {
			return nil, err
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, readProblem(resp)
	}
	return resp, nil
}

func readProblem(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p := &api.Problem{}
	if err := json.Unmarshal(b, p); err != nil || p.Status == 0 {
		p = &api.Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
	}
	return p
}

// StatusCode returns the HTTP status of a *api.Problem error (also
// when wrapped), or 0.
func StatusCode(err error) int {
	var p *api.Problem
	if errors.As(err, &p) {
		return p.Status
	}
	return 0
}

// call sends r and decodes its JSON answer into a new T; the typed methods
// are one call each. On error the result is nil.
func call[T any](ctx context.Context, c *Client, r Request) (*T, error) {
	out := new(T)
	if err := c.Do(ctx, r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// rawCall sends r and returns its answer's JSON as is.
func rawCall(ctx context.Context, c *Client, r Request) (json.RawMessage, error) {
	out, err := call[json.RawMessage](ctx, c, r)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// Page selects a page of a listing (zero values: server defaults).
type Page struct {
	Limit, Offset int
	// Token continues a listing of executions or instances after the page
	// that returned it as next_page_token (ExecutionList.NextPageToken):
	// stable at any depth, where Offset is bounded. Not with Offset.
	Token string
}

func (p Page) query(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Token != "" {
		q.Set("page_token", p.Token)
	}
	if p.Offset > 0 {
		q.Set("offset", strconv.Itoa(p.Offset))
	}
	return q
}

func esc(s string) string { return url.PathEscape(s) }

// execPath is the path of execution id, with more path after it.
func execPath(id, rest string) string { return "/executions/" + esc(id) + rest }

// --- service ---

// Health calls GET /health.
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	return call[api.Health](ctx, c, Request{Method: "GET", Path: "/health"})
}

// Version calls GET /version.
func (c *Client) Version(ctx context.Context) (*api.Version, error) {
	return call[api.Version](ctx, c, Request{Method: "GET", Path: "/version"})
}

// Status calls GET /status.
func (c *Client) Status(ctx context.Context) (*api.ServiceStatus, error) {
	return call[api.ServiceStatus](ctx, c, Request{Method: "GET", Path: "/status"})
}

// OpenAPI returns the OpenAPI document (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	return rawCall(ctx, c, Request{Method: "GET", Path: "/openapi.json"})
}

// --- auth ---

// Login exchanges a username and password for a token (POST /login). The
// returned client-side token is not stored in c; use c.With(WithToken).
func (c *Client) Login(ctx context.Context, username, password string) (*api.TokenResponse, error) {
	return call[api.TokenResponse](ctx, c, Request{Method: "POST", Path: "/login", Body: api.LoginRequest{Username: username, Password: password}})
}

// Signup creates an account (POST /signup, when enabled).
func (c *Client) Signup(ctx context.Context, req api.SignupRequest) (*api.TokenResponse, error) {
	return call[api.TokenResponse](ctx, c, Request{Method: "POST", Path: "/signup", Body: req})
}

// Token checks the client's credentials (GET /token).
func (c *Client) Token(ctx context.Context) (*api.TokenInfo, error) {
	return call[api.TokenInfo](ctx, c, Request{Method: "GET", Path: "/token"})
}

// CurrentUser calls GET /user.
func (c *Client) CurrentUser(ctx context.Context) (*api.User, error) {
	return call[api.User](ctx, c, Request{Method: "GET", Path: "/user"})
}

// ChangePassword calls PUT /user/password.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.Do(ctx, Request{Method: "PUT", Path: "/user/password", Body: api.PasswordChange{CurrentPassword: current, NewPassword: next}}, nil)
}

// --- users and API keys ---

// ListUsers calls GET /users.
func (c *Client) ListUsers(ctx context.Context, p Page) (*api.UserList, error) {
	return call[api.UserList](ctx, c, Request{Method: "GET", Path: "/users", Query: p.query(nil)})
}

// CreateUser calls POST /users.
func (c *Client) CreateUser(ctx context.Context, req api.UserCreate) (*api.User, error) {
	return call[api.User](ctx, c, Request{Method: "POST", Path: "/users", Body: req})
}

// GetUser calls GET /users/{id}.
func (c *Client) GetUser(ctx context.Context, id string) (*api.User, error) {
	return call[api.User](ctx, c, Request{Method: "GET", Path: "/users/" + esc(id)})
}

// PatchUser calls PATCH /users/{id} with an update mask (nil: the fields set).
func (c *Client) PatchUser(ctx context.Context, id string, req api.UserPatch, mask ...string) (*api.User, error) {
	return call[api.User](ctx, c, Request{Method: "PATCH", Path: "/users/" + esc(id), Query: maskQuery(mask), Body: req})
}

// DeleteUser calls DELETE /users/{id}.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: "/users/" + esc(id)}, nil)
}

// CreateAPIKey calls POST /apiKeys; the answer holds the secret, once.
func (c *Client) CreateAPIKey(ctx context.Context, req api.APIKeyCreate) (*api.APIKeyCreated, error) {
	return call[api.APIKeyCreated](ctx, c, Request{Method: "POST", Path: "/apiKeys", Body: req})
}

// ListAPIKeys calls GET /apiKeys.
func (c *Client) ListAPIKeys(ctx context.Context, p Page) (*api.APIKeyList, error) {
	return call[api.APIKeyList](ctx, c, Request{Method: "GET", Path: "/apiKeys", Query: p.query(nil)})
}

// DeleteAPIKey calls DELETE /apiKeys/{id}.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: "/apiKeys/" + esc(id)}, nil)
}

func maskQuery(mask []string) url.Values {
	if len(mask) == 0 {
		return nil
	}
	return url.Values{"update_mask": {strings.Join(mask, ",")}}
}

// --- job types ---

// ListJobTypes calls GET /jobTypes.
func (c *Client) ListJobTypes(ctx context.Context, p Page) (*api.JobTypeList, error) {
	return call[api.JobTypeList](ctx, c, Request{Method: "GET", Path: "/jobTypes", Query: p.query(nil)})
}

// GetJobType calls GET /jobTypes/{name}.
func (c *Client) GetJobType(ctx context.Context, name string) (*api.JobTypeDetail, error) {
	return call[api.JobTypeDetail](ctx, c, Request{Method: "GET", Path: "/jobTypes/" + esc(name)})
}

// SetJobTypePaused calls PATCH /jobTypes/{name}?update_mask=is_paused.
func (c *Client) SetJobTypePaused(ctx context.Context, name string, paused bool) (*api.JobTypeDetail, error) {
	return call[api.JobTypeDetail](ctx, c, Request{Method: "PATCH", Path: "/jobTypes/" + esc(name), Query: maskQuery([]string{"is_paused"}),
		Body: api.JobTypePatch{IsPaused: &paused}})
}

// --- instances ---

// CreateInstance calls POST /instances with a JSON body.
func (c *Client) CreateInstance(ctx context.Context, req api.InstanceCreate) (*api.Instance, error) {
	return call[api.Instance](ctx, c, Request{Method: "POST", Path: "/instances", Body: req})
}

// UploadInstance calls POST /instances with a multipart file (.json, .mps
// or .lp) and optional name and job type.
func (c *Client) UploadInstance(ctx context.Context, filename string, data io.Reader, name, jobType string) (*api.Instance, error) {
	return upload[api.Instance](ctx, c, "/instances", []string{"name", name, "job_type", jobType}, formFile("file", filename, data))
}

// formPart is a part of a multipart form: create makes it, data fills it.
type formPart struct {
	create func(mw *multipart.Writer) (io.Writer, error)
	data   io.Reader
}

// formFile is a part holding the file filename in form field field.
func formFile(field, filename string, data io.Reader) formPart {
	return formPart{create: func(mw *multipart.Writer) (io.Writer, error) { return mw.CreateFormFile(field, filename) }, data: data}
}

// upload POSTs a multipart form to path and decodes its JSON answer into
// a new T: first the fields (name, value pairs; those with a value), then
// parts.
func upload[T any](ctx context.Context, c *Client, path string, fields []string, parts ...formPart) (*T, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] != "" {
			_ = mw.WriteField(fields[i], fields[i+1])
		}
	}
	for _, p := range parts {
		pw, err := p.create(mw)
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(pw, p.data); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return call[T](ctx, c, Request{Method: "POST", Path: path, Body: &buf, ContentType: mw.FormDataContentType()})
}

// ListInstances calls GET /instances.
func (c *Client) ListInstances(ctx context.Context, p Page) (*api.InstanceList, error) {
	return call[api.InstanceList](ctx, c, Request{Method: "GET", Path: "/instances", Query: p.query(nil)})
}

// GetInstance calls GET /instances/{id}.
func (c *Client) GetInstance(ctx context.Context, id string) (*api.Instance, error) {
	return call[api.Instance](ctx, c, Request{Method: "GET", Path: "/instances/" + esc(id)})
}

// InstanceData calls GET /instances/{id}/data.
func (c *Client) InstanceData(ctx context.Context, id string) (json.RawMessage, error) {
	return rawCall(ctx, c, Request{Method: "GET", Path: "/instances/" + esc(id) + "/data"})
}

// PatchInstance calls PATCH /instances/{id}.
func (c *Client) PatchInstance(ctx context.Context, id string, req api.InstancePatch, mask ...string) (*api.Instance, error) {
	return call[api.Instance](ctx, c, Request{Method: "PATCH", Path: "/instances/" + esc(id), Query: maskQuery(mask), Body: req})
}

// DeleteInstance calls DELETE /instances/{id}; an instance that an
// instance set holds is a 409 (delete the set first).
func (c *Client) DeleteInstance(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: "/instances/" + esc(id)}, nil)
}

// CheckInstance calls POST /instances/{id}/checks.
func (c *Client) CheckInstance(ctx context.Context, id string, req api.CheckRequest) (*api.CheckReport, error) {
	return call[api.CheckReport](ctx, c, Request{Method: "POST", Path: "/instances/" + esc(id) + "/checks", Body: req})
}

// --- executions ---

// CreateExecution calls POST /executions; wait > 0 long-polls an async
// execution up to that long (?wait=).
func (c *Client) CreateExecution(ctx context.Context, req api.ExecutionCreate, wait time.Duration) (*api.Execution, error) {
	return call[api.Execution](ctx, c, Request{Method: "POST", Path: "/executions", Query: waitQuery(wait), Body: req})
}

// waitQuery is POST /executions' ?wait= (none when wait is 0).
func waitQuery(wait time.Duration) url.Values {
	if wait <= 0 {
		return nil
	}
	return url.Values{"wait": {wait.String()}}
}

// CreateExecutions submits up to 1000 async executions at once (POST
// /executions:batch): each is checked first, and one invalid request fails
// them all (a 422 problem whose violations point into
// "/executions/<i>"), with nothing stored. The answer lists the
// executions, each with its job key, in the order of reqs.
func (c *Client) CreateExecutions(ctx context.Context, reqs []api.ExecutionCreate) ([]*api.Execution, error) {
	out, err := call[api.ExecutionBatchResult](ctx, c, Request{Method: "POST", Path: "/executions:batch",
		Body: api.ExecutionBatch{Executions: reqs}})
	if err != nil {
		return nil, err
	}
	return out.Executions, nil
}

// CreateExecutionOnce is CreateExecution with an Idempotency-Key: sending
// the same key and request again (after a timeout, a broken connection or
// a 5xx) never makes a second execution. replayed reports that the server
// answered with the execution an earlier request with the key created
// (200; its answer has no job key). The same key with another request is
// a 422 problem.
func (c *Client) CreateExecutionOnce(ctx context.Context, key string, req api.ExecutionCreate, wait time.Duration) (e *api.Execution, replayed bool, err error) {
	resp, err := c.send(ctx, Request{Method: "POST", Path: "/executions", Query: waitQuery(wait), Body: req,
		Header: http.Header{"Idempotency-Key": {key}}})
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	e = new(api.Execution)
	if err := json.NewDecoder(resp.Body).Decode(e); err != nil {
		return nil, false, err
	}
	return e, resp.StatusCode == http.StatusOK, nil
}

// ExecutionFilter filters ListExecutions; zero fields do not filter.
type ExecutionFilter struct {
	// Status keeps executions in this state (job.StateRunning, ...).
	Status                      record.State
	JobType, InstanceID, Owner  string
	CreatedAfter, CreatedBefore time.Time
	// Metadata keeps executions whose metadata has each key with its value.
	Metadata map[string]string
	// Tag keeps executions carrying this tag.
	Tag string
	// ScheduleID keeps the executions a periodic schedule created.
	ScheduleID string
}

// ListExecutions calls GET /executions.
func (c *Client) ListExecutions(ctx context.Context, f ExecutionFilter, p Page) (*api.ExecutionList, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("status", string(f.Status))
	set("job_type", f.JobType)
	set("instance_id", f.InstanceID)
	set("owner", f.Owner)
	set("tag", f.Tag)
	set("schedule_id", f.ScheduleID)
	if !f.CreatedAfter.IsZero() {
		q.Set("created_after", f.CreatedAfter.Format(time.RFC3339))
	}
	if !f.CreatedBefore.IsZero() {
		q.Set("created_before", f.CreatedBefore.Format(time.RFC3339))
	}
	for k, v := range f.Metadata {
		q.Set("metadata."+k, v)
	}
	return call[api.ExecutionList](ctx, c, Request{Method: "GET", Path: "/executions", Query: p.query(q)})
}

// EachExecution calls fn for every execution that matches f, newest first,
// reading pages of limit (0: the server's default) with page tokens, so
// that executions submitted or deleted meanwhile make it skip or repeat
// none of the others. It stops at fn's first error and returns it.
func (c *Client) EachExecution(ctx context.Context, f ExecutionFilter, limit int, fn func(*api.Execution) error) error {
	p := Page{Limit: limit}
	for {
		l, err := c.ListExecutions(ctx, f, p)
		if err != nil {
			return err
		}
		for _, e := range l.Executions {
			if err := fn(e); err != nil {
				return err
			}
		}
		if l.NextPageToken == "" {
			return nil
		}
		p.Token = l.NextPageToken
	}
}

// GetExecution calls GET /executions/{id}.
func (c *Client) GetExecution(ctx context.Context, id string) (*api.Execution, error) {
	return call[api.Execution](ctx, c, Request{Method: "GET", Path: execPath(id, "")})
}

// WaitExecution waits until execution id reaches a terminal state
// (succeeded, failed, stopped, timed_out, invalid) and returns it, as
// solvekit's Service.Wait does in process. It long-polls GET
// /executions/{id}?wait= (each poll up to WithLongPoll, default
// DefaultLongPoll) until the state is terminal or ctx ends. When ctx ends
// first it returns the execution as last seen (nil if no answer came yet)
// with ctx's error; bound the wait with a context deadline.
func (c *Client) WaitExecution(ctx context.Context, id string) (*api.Execution, error) {
	var last *api.Execution
	pause := minPause
	for {
		poll := c.longPoll
		if dl, ok := ctx.Deadline(); ok {
			poll = min(poll, time.Until(dl))
		}
		if poll <= 0 {
			// The deadline has passed; its context may not say so yet.
			<-ctx.Done()
			return last, ctx.Err()
		}
		asked := time.Now()
		e, err := call[api.Execution](ctx, c, Request{Method: "GET", Path: execPath(id, ""),
			Query: url.Values{"wait": {poll.Round(time.Millisecond).String()}}})
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, err
		}
		last = e
		if e.State.Terminal() {
			return e, nil
		}
		// A server that answered long before the poll ended (an older one
		// without ?wait on this route, or a small MaxWait) is asked again
		// after a growing pause, never in a busy loop.
		if time.Since(asked) >= poll/2 {
			pause = minPause
			continue
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, maxPause)
	}
}

// The pauses of WaitExecution between polls a server answered early.
const (
	minPause = 100 * time.Millisecond
	maxPause = 2 * time.Second
)

// PatchExecution calls PATCH /executions/{id}.
func (c *Client) PatchExecution(ctx context.Context, id string, req api.ExecutionPatch, mask ...string) (*api.Execution, error) {
	return call[api.Execution](ctx, c, Request{Method: "PATCH", Path: execPath(id, ""), Query: maskQuery(mask), Body: req})
}

// DeleteExecution calls DELETE /executions/{id}.
func (c *Client) DeleteExecution(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: execPath(id, "")}, nil)
}

// DeleteFinishedBefore calls DELETE /executions?finished_before=.
func (c *Client) DeleteFinishedBefore(ctx context.Context, t time.Time) (*api.CleanupResult, error) {
	return call[api.CleanupResult](ctx, c, Request{Method: "DELETE", Path: "/executions", Query: url.Values{"finished_before": {t.UTC().Format(time.RFC3339)}}})
}

// ExecutionStatus calls GET /executions/{id}/status.
func (c *Client) ExecutionStatus(ctx context.Context, id string) (*api.ExecutionStatus, error) {
	return call[api.ExecutionStatus](ctx, c, Request{Method: "GET", Path: execPath(id, "/status")})
}

// StopExecution calls PUT /executions/{id}/status with state stopped.
func (c *Client) StopExecution(ctx context.Context, id string) (*api.ExecutionStatus, error) {
	return call[api.ExecutionStatus](ctx, c, Request{Method: "PUT", Path: execPath(id, "/status"), Body: api.StatusUpdate{State: "stopped"}})
}

// ExecutionData calls GET /executions/{id}/data; part is "" (solution),
// "instance" or "incumbent".
func (c *Client) ExecutionData(ctx context.Context, id, part string) (json.RawMessage, error) {
	var q url.Values
	if part != "" {
		q = url.Values{"part": {part}}
	}
	return rawCall(ctx, c, Request{Method: "GET", Path: execPath(id, "/data"), Query: q})
}

// ExecutionLog calls GET /executions/{id}/log; after is the cursor.
func (c *Client) ExecutionLog(ctx context.Context, id, after string, p Page) (*api.LogPage, error) {
	q := p.query(nil)
	if after != "" {
		q.Set("after", after)
	}
	return call[api.LogPage](ctx, c, Request{Method: "GET", Path: execPath(id, "/log"), Query: q})
}

// RelaunchRequest asks for a new attempt of a finished execution. It
// mirrors solvekit's RelaunchRequest (the client does not import the
// server), plus Wait.
type RelaunchRequest struct {
	// Config replaces the execution's config when set; the server
	// validates it and fills its defaults. A config naming another solver
	// runs that solver.
	Config json.RawMessage
	// Wait > 0 waits up to this long for the new attempt to end (as
	// WaitExecution does) and answers with the execution as it is then:
	// terminal, or still queued or running when Wait passed (not an
	// error, as with CreateExecution's wait). 0 answers at once.
	Wait time.Duration
}

// RelaunchExecution calls POST /executions/{id}/relaunch: a new attempt
// of a finished execution on the same instance, optionally with a new
// config, and waits for it when req.Wait > 0. An error after the relaunch
// went through (while waiting) comes with the execution as last seen.
func (c *Client) RelaunchExecution(ctx context.Context, id string, req RelaunchRequest) (*api.Execution, error) {
	e, err := call[api.Execution](ctx, c, Request{Method: "POST", Path: execPath(id, "/relaunch"),
		Body: api.RelaunchRequest{Config: req.Config}})
	if err != nil || req.Wait <= 0 || e.State.Terminal() {
		return e, err
	}
	wctx, cancel := context.WithTimeout(ctx, req.Wait)
	defer cancel()
	w, err := c.WaitExecution(wctx, id)
	if err == nil {
		return w, nil
	}
	if ctx.Err() == nil && wctx.Err() != nil {
		// Wait passed: answer with the execution as it is now.
		if w, err = c.GetExecution(ctx, id); err == nil {
			return w, nil
		}
	}
	// The relaunch itself went through: say so, and give the last record
	// seen, so that a caller does not relaunch again.
	if w == nil {
		w = e
	}
	return w, fmt.Errorf("client: execution %s was relaunched; waiting for it: %w", id, err)
}

// ListFiles calls GET /executions/{id}/files.
func (c *Client) ListFiles(ctx context.Context, id string) (*api.FileList, error) {
	return call[api.FileList](ctx, c, Request{Method: "GET", Path: execPath(id, "/files")})
}

// Callbacks calls GET /executions/{id}/callbacks: the attempts to
// deliver the execution's result_url callbacks, oldest first.
func (c *Client) Callbacks(ctx context.Context, id string) (*api.CallbackList, error) {
	return call[api.CallbackList](ctx, c, Request{Method: "GET", Path: execPath(id, "/callbacks")})
}

// UploadFile calls POST /executions/{id}/files with one file.
func (c *Client) UploadFile(ctx context.Context, id, name, contentType string, data io.Reader) (*api.FileList, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return upload[api.FileList](ctx, c, execPath(id, "/files"), nil, formPart{data: data,
		create: func(mw *multipart.Writer) (io.Writer, error) {
			return mw.CreatePart(map[string][]string{
				"Content-Disposition": {fmt.Sprintf(`form-data; name="file"; filename=%q`, name)},
				"Content-Type":        {contentType}})
		}})
}

// DownloadFile calls GET /executions/{id}/files/{name} and returns the
// data and its content type.
func (c *Client) DownloadFile(ctx context.Context, id, name string) ([]byte, string, error) {
	return c.download(ctx, execPath(id, "/files/")+esc(name))
}

// download GETs path and returns the answer's body as is and its content
// type.
func (c *Client) download(ctx context.Context, path string) ([]byte, string, error) {
	resp, err := c.send(ctx, Request{Method: "GET", Path: path})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.Header.Get("Content-Type"), err
}

// Event is one Server-Sent Event of an execution.
type Event struct {
	// ID resumes the stream after this event (Last-Event-ID).
	ID string
	// Type is "status", "progress", "incumbent" or "log".
	Type string
	// Data is the JSON payload.
	Data json.RawMessage
}

// Events follows GET /executions/{id}/events and calls fn for each event
// until the stream ends (after the final status), ctx ends or fn returns
// an error. lastEventID resumes a previous stream ("" from the start).
func (c *Client) Events(ctx context.Context, id, lastEventID string, fn func(Event) error) error {
	hdr := http.Header{"Accept": {"text/event-stream"}}
	if lastEventID != "" {
		hdr.Set("Last-Event-ID", lastEventID)
	}
	resp, err := c.send(ctx, Request{Method: "GET", Path: execPath(id, "/events"), Header: hdr})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var ev Event
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Type != "" || len(data) > 0 {
				ev.Data = json.RawMessage(strings.Join(data, "\n"))
				if ev.Type == "" {
					ev.Type = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = Event{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			ev.ID = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			ev.Type = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(line[5:], " "))
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}

// --- operations ---

// ListQueues calls GET /queues.
func (c *Client) ListQueues(ctx context.Context) (*api.QueueList, error) {
	return call[api.QueueList](ctx, c, Request{Method: "GET", Path: "/queues"})
}

// PauseQueue calls POST /queues/{name}/pause.
func (c *Client) PauseQueue(ctx context.Context, name string) (*api.Queue, error) {
	return call[api.Queue](ctx, c, Request{Method: "POST", Path: "/queues/" + esc(name) + "/pause"})
}

// ResumeQueue calls POST /queues/{name}/resume.
func (c *Client) ResumeQueue(ctx context.Context, name string) (*api.Queue, error) {
	return call[api.Queue](ctx, c, Request{Method: "POST", Path: "/queues/" + esc(name) + "/resume"})
}

// ListWorkers calls GET /workers.
func (c *Client) ListWorkers(ctx context.Context) (*api.WorkerList, error) {
	return call[api.WorkerList](ctx, c, Request{Method: "GET", Path: "/workers"})
}
