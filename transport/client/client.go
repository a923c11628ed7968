// Package client is a typed Go client of solvekit's REST API (package
// transport/httpapi). Errors the server answers with come back as
// *httpapi.Problem, so callers can read the status, code and violations:
//
//	c := client.New("http://localhost:8080", client.WithToken(tok))
//	e, err := c.CreateExecution(ctx, httpapi.ExecutionCreate{JobType: "knapsack", Instance: data}, 0)
//	var p *httpapi.Problem
//	if errors.As(err, &p) && p.Status == 422 { ... p.Errors ... }
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/solvekit/solvekit/transport/httpapi"
)

// Client calls one solvekit API. It is safe for concurrent use.
type Client struct {
	base   string
	hc     *http.Client
	token  string
	jobKey string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one without a timeout, so
// that event streams and long polls work; bound calls with contexts).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithToken sends a bearer token (a JWT from Login, or an API key).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithJobKey sends an execution's job key (X-Job-Key).
func WithJobKey(key string) Option { return func(c *Client) { c.jobKey = key } }

// New returns a client of the API at base (e.g. "http://host:8080/api").
func New(base string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// With returns a copy of c with more options (e.g. another token).
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
// discard); other answers become *httpapi.Problem errors.
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
	p := &httpapi.Problem{}
	if err := json.Unmarshal(b, p); err != nil || p.Status == 0 {
		p = &httpapi.Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
	}
	return p
}

// StatusCode returns the HTTP status of a *httpapi.Problem error, or 0.
func StatusCode(err error) int {
	if p, ok := err.(*httpapi.Problem); ok {
		return p.Status
	}
	return 0
}

// Page selects a page of a listing (zero values: server defaults).
type Page struct{ Limit, Offset int }

func (p Page) query(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Offset > 0 {
		q.Set("offset", strconv.Itoa(p.Offset))
	}
	return q
}

func esc(s string) string { return url.PathEscape(s) }

// --- service ---

// Health calls GET /health.
func (c *Client) Health(ctx context.Context) (*httpapi.Health, error) {
	var out httpapi.Health
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/health"}, &out)
}

// Version calls GET /version.
func (c *Client) Version(ctx context.Context) (*httpapi.Version, error) {
	var out httpapi.Version
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/version"}, &out)
}

// Status calls GET /status.
func (c *Client) Status(ctx context.Context) (*httpapi.ServiceStatus, error) {
	var out httpapi.ServiceStatus
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/status"}, &out)
}

// OpenAPI returns the OpenAPI document (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.Do(ctx, Request{Method: "GET", Path: "/openapi.json"}, &out)
}

// --- auth ---

// Login exchanges a username and password for a token (POST /login). The
// returned client-side token is not stored in c; use c.With(WithToken).
func (c *Client) Login(ctx context.Context, username, password string) (*httpapi.TokenResponse, error) {
	var out httpapi.TokenResponse
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/login", Body: httpapi.LoginRequest{Username: username, Password: password}}, &out)
}

// Signup creates an account (POST /signup, when enabled).
func (c *Client) Signup(ctx context.Context, req httpapi.SignupRequest) (*httpapi.TokenResponse, error) {
	var out httpapi.TokenResponse
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/signup", Body: req}, &out)
}

// Token checks the client's credentials (GET /token).
func (c *Client) Token(ctx context.Context) (*httpapi.TokenInfo, error) {
	var out httpapi.TokenInfo
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/token"}, &out)
}

// CurrentUser calls GET /user.
func (c *Client) CurrentUser(ctx context.Context) (*httpapi.User, error) {
	var out httpapi.User
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/user"}, &out)
}

// ChangePassword calls PUT /user/password.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.Do(ctx, Request{Method: "PUT", Path: "/user/password", Body: httpapi.PasswordChange{CurrentPassword: current, NewPassword: next}}, nil)
}

// --- users and API keys ---

// ListUsers calls GET /users.
func (c *Client) ListUsers(ctx context.Context, p Page) (*httpapi.UserList, error) {
	var out httpapi.UserList
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/users", Query: p.query(nil)}, &out)
}

// CreateUser calls POST /users.
func (c *Client) CreateUser(ctx context.Context, req httpapi.UserCreate) (*httpapi.User, error) {
	var out httpapi.User
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/users", Body: req}, &out)
}

// GetUser calls GET /users/{id}.
func (c *Client) GetUser(ctx context.Context, id string) (*httpapi.User, error) {
	var out httpapi.User
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/users/" + esc(id)}, &out)
}

// PatchUser calls PATCH /users/{id} with an update mask (nil: the fields set).
func (c *Client) PatchUser(ctx context.Context, id string, req httpapi.UserPatch, mask ...string) (*httpapi.User, error) {
	var out httpapi.User
	return &out, c.Do(ctx, Request{Method: "PATCH", Path: "/users/" + esc(id), Query: maskQuery(mask), Body: req}, &out)
}

// DeleteUser calls DELETE /users/{id}.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: "/users/" + esc(id)}, nil)
}

// CreateAPIKey calls POST /apiKeys; the answer holds the secret, once.
func (c *Client) CreateAPIKey(ctx context.Context, req httpapi.APIKeyCreate) (*httpapi.APIKeyCreated, error) {
	var out httpapi.APIKeyCreated
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/apiKeys", Body: req}, &out)
}

// ListAPIKeys calls GET /apiKeys.
func (c *Client) ListAPIKeys(ctx context.Context, p Page) (*httpapi.APIKeyList, error) {
	var out httpapi.APIKeyList
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/apiKeys", Query: p.query(nil)}, &out)
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
func (c *Client) ListJobTypes(ctx context.Context, p Page) (*httpapi.JobTypeList, error) {
	var out httpapi.JobTypeList
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/jobTypes", Query: p.query(nil)}, &out)
}

// GetJobType calls GET /jobTypes/{name}.
func (c *Client) GetJobType(ctx context.Context, name string) (*httpapi.JobTypeDetail, error) {
	var out httpapi.JobTypeDetail
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/jobTypes/" + esc(name)}, &out)
}

// SetJobTypePaused calls PATCH /jobTypes/{name}?update_mask=is_paused.
func (c *Client) SetJobTypePaused(ctx context.Context, name string, paused bool) (*httpapi.JobTypeDetail, error) {
	var out httpapi.JobTypeDetail
	return &out, c.Do(ctx, Request{Method: "PATCH", Path: "/jobTypes/" + esc(name), Query: maskQuery([]string{"is_paused"}),
		Body: httpapi.JobTypePatch{IsPaused: &paused}}, &out)
}

// --- instances ---

// CreateInstance calls POST /instances with a JSON body.
func (c *Client) CreateInstance(ctx context.Context, req httpapi.InstanceCreate) (*httpapi.Instance, error) {
	var out httpapi.Instance
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/instances", Body: req}, &out)
}

// UploadInstance calls POST /instances with a multipart file (.json, .mps
// or .lp) and optional name and job type.
func (c *Client) UploadInstance(ctx context.Context, filename string, data io.Reader, name, jobType string) (*httpapi.Instance, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if name != "" {
		_ = mw.WriteField("name", name)
	}
	if jobType != "" {
		_ = mw.WriteField("job_type", jobType)
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(fw, data); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	var out httpapi.Instance
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/instances", Body: &buf, ContentType: mw.FormDataContentType()}, &out)
}

// ListInstances calls GET /instances.
func (c *Client) ListInstances(ctx context.Context, p Page) (*httpapi.InstanceList, error) {
	var out httpapi.InstanceList
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/instances", Query: p.query(nil)}, &out)
}

// GetInstance calls GET /instances/{id}.
func (c *Client) GetInstance(ctx context.Context, id string) (*httpapi.Instance, error) {
	var out httpapi.Instance
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/instances/" + esc(id)}, &out)
}

// InstanceData calls GET /instances/{id}/data.
func (c *Client) InstanceData(ctx context.Context, id string) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.Do(ctx, Request{Method: "GET", Path: "/instances/" + esc(id) + "/data"}, &out)
}

// PatchInstance calls PATCH /instances/{id}.
func (c *Client) PatchInstance(ctx context.Context, id string, req httpapi.InstancePatch, mask ...string) (*httpapi.Instance, error) {
	var out httpapi.Instance
	return &out, c.Do(ctx, Request{Method: "PATCH", Path: "/instances/" + esc(id), Query: maskQuery(mask), Body: req}, &out)
}

// DeleteInstance calls DELETE /instances/{id}.
func (c *Client) DeleteInstance(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: "/instances/" + esc(id)}, nil)
}

// CheckInstance calls POST /instances/{id}/checks.
func (c *Client) CheckInstance(ctx context.Context, id string, req httpapi.CheckRequest) (*httpapi.CheckReport, error) {
	var out httpapi.CheckReport
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/instances/" + esc(id) + "/checks", Body: req}, &out)
}

// --- executions ---

// CreateExecution calls POST /executions; wait > 0 long-polls an async
// execution up to that long (?wait=).
func (c *Client) CreateExecution(ctx context.Context, req httpapi.ExecutionCreate, wait time.Duration) (*httpapi.Execution, error) {
	var q url.Values
	if wait > 0 {
		q = url.Values{"wait": {wait.String()}}
	}
	var out httpapi.Execution
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/executions", Query: q, Body: req}, &out)
}

// ExecutionFilter filters ListExecutions.
type ExecutionFilter struct {
	Status, JobType, InstanceID, Owner string
	CreatedAfter, CreatedBefore        time.Time
	Metadata                           map[string]string
}

// ListExecutions calls GET /executions.
func (c *Client) ListExecutions(ctx context.Context, f ExecutionFilter, p Page) (*httpapi.ExecutionList, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("status", f.Status)
	set("job_type", f.JobType)
	set("instance_id", f.InstanceID)
	set("owner", f.Owner)
	if !f.CreatedAfter.IsZero() {
		q.Set("created_after", f.CreatedAfter.Format(time.RFC3339))
	}
	if !f.CreatedBefore.IsZero() {
		q.Set("created_before", f.CreatedBefore.Format(time.RFC3339))
	}
	for k, v := range f.Metadata {
		q.Set("metadata."+k, v)
	}
	var out httpapi.ExecutionList
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/executions", Query: p.query(q)}, &out)
}

// GetExecution calls GET /executions/{id}.
func (c *Client) GetExecution(ctx context.Context, id string) (*httpapi.Execution, error) {
	var out httpapi.Execution
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/executions/" + esc(id)}, &out)
}

// PatchExecution calls PATCH /executions/{id}.
func (c *Client) PatchExecution(ctx context.Context, id string, req httpapi.ExecutionPatch, mask ...string) (*httpapi.Execution, error) {
	var out httpapi.Execution
	return &out, c.Do(ctx, Request{Method: "PATCH", Path: "/executions/" + esc(id), Query: maskQuery(mask), Body: req}, &out)
}

// DeleteExecution calls DELETE /executions/{id}.
func (c *Client) DeleteExecution(ctx context.Context, id string) error {
	return c.Do(ctx, Request{Method: "DELETE", Path: "/executions/" + esc(id)}, nil)
}

// DeleteFinishedBefore calls DELETE /executions?finished_before=.
func (c *Client) DeleteFinishedBefore(ctx context.Context, t time.Time) (*httpapi.CleanupResult, error) {
	var out httpapi.CleanupResult
	return &out, c.Do(ctx, Request{Method: "DELETE", Path: "/executions", Query: url.Values{"finished_before": {t.UTC().Format(time.RFC3339)}}}, &out)
}

// ExecutionStatus calls GET /executions/{id}/status.
func (c *Client) ExecutionStatus(ctx context.Context, id string) (*httpapi.ExecutionStatus, error) {
	var out httpapi.ExecutionStatus
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/executions/" + esc(id) + "/status"}, &out)
}

// StopExecution calls PUT /executions/{id}/status with state stopped.
func (c *Client) StopExecution(ctx context.Context, id string) (*httpapi.ExecutionStatus, error) {
	var out httpapi.ExecutionStatus
	return &out, c.Do(ctx, Request{Method: "PUT", Path: "/executions/" + esc(id) + "/status", Body: httpapi.StatusUpdate{State: "stopped"}}, &out)
}

// ExecutionData calls GET /executions/{id}/data; part is "" (solution),
// "instance" or "incumbent".
func (c *Client) ExecutionData(ctx context.Context, id, part string) (json.RawMessage, error) {
	var q url.Values
	if part != "" {
		q = url.Values{"part": {part}}
	}
	var out json.RawMessage
	return out, c.Do(ctx, Request{Method: "GET", Path: "/executions/" + esc(id) + "/data", Query: q}, &out)
}

// ExecutionLog calls GET /executions/{id}/log; after is the cursor.
func (c *Client) ExecutionLog(ctx context.Context, id, after string, p Page) (*httpapi.LogPage, error) {
	q := p.query(nil)
	if after != "" {
		q.Set("after", after)
	}
	var out httpapi.LogPage
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/executions/" + esc(id) + "/log", Query: q}, &out)
}

// RelaunchExecution calls POST /executions/{id}/relaunch.
func (c *Client) RelaunchExecution(ctx context.Context, id string, config json.RawMessage) (*httpapi.Execution, error) {
	var out httpapi.Execution
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/executions/" + esc(id) + "/relaunch", Body: httpapi.RelaunchRequest{Config: config}}, &out)
}

// ListFiles calls GET /executions/{id}/files.
func (c *Client) ListFiles(ctx context.Context, id string) (*httpapi.FileList, error) {
	var out httpapi.FileList
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/executions/" + esc(id) + "/files"}, &out)
}

// UploadFile calls POST /executions/{id}/files with one file.
func (c *Client) UploadFile(ctx context.Context, id, name, contentType string, data io.Reader) (*httpapi.FileList, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, name)}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h["Content-Type"] = []string{contentType}
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(pw, data); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	var out httpapi.FileList
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/executions/" + esc(id) + "/files", Body: &buf, ContentType: mw.FormDataContentType()}, &out)
}

// DownloadFile calls GET /executions/{id}/files/{name} and returns the
// data and its content type.
func (c *Client) DownloadFile(ctx context.Context, id, name string) ([]byte, string, error) {
	resp, err := c.send(ctx, Request{Method: "GET", Path: "/executions/" + esc(id) + "/files/" + esc(name)})
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
	resp, err := c.send(ctx, Request{Method: "GET", Path: "/executions/" + esc(id) + "/events", Header: hdr})
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
func (c *Client) ListQueues(ctx context.Context) (*httpapi.QueueList, error) {
	var out httpapi.QueueList
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/queues"}, &out)
}

// PauseQueue calls POST /queues/{name}/pause.
func (c *Client) PauseQueue(ctx context.Context, name string) (*httpapi.Queue, error) {
	var out httpapi.Queue
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/queues/" + esc(name) + "/pause"}, &out)
}

// ResumeQueue calls POST /queues/{name}/resume.
func (c *Client) ResumeQueue(ctx context.Context, name string) (*httpapi.Queue, error) {
	var out httpapi.Queue
	return &out, c.Do(ctx, Request{Method: "POST", Path: "/queues/" + esc(name) + "/resume"}, &out)
}

// ListWorkers calls GET /workers.
func (c *Client) ListWorkers(ctx context.Context) (*httpapi.WorkerList, error) {
	var out httpapi.WorkerList
	return &out, c.Do(ctx, Request{Method: "GET", Path: "/workers"}, &out)
}
