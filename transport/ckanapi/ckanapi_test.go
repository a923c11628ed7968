package ckanapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/internal/servicetest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
	"github.com/solvekit/solvekit/transport/ckanapi"
)

const adminKey = "the-admin-secret"

// pushJob stands in for datapusher's push_to_datastore: it logs, and
// fails with job.Fail when the metadata says so.
func pushJob() *job.Definition {
	return job.Async("push_to_datastore", func(ctx context.Context, jc *job.Context) (any, error) {
		jc.Logger.Info("Fetching from: http://example.org/data.csv")
		if jc.Metadata["resource_id"] == "broken" {
			return nil, job.Fail("Could not fetch the resource", map[string]any{"status_code": 404})
		}
		return "loaded 3 rows", nil
	})
}

func echoSync() *job.Definition {
	return job.Sync("echo", func(ctx context.Context, jc *job.Context) (any, error) {
		var in any
		if err := jc.DecodeInstance(&in); err != nil {
			return nil, err
		}
		return in, nil
	})
}

type bundle struct {
	srv *httptest.Server
}

func setup(t *testing.T) *bundle {
	svc := servicetest.Start(t, pushJob(), echoSync())
	mux := http.NewServeMux()
	mux.Handle("/ckan/", http.StripPrefix("/ckan", ckanapi.New(svc, ckanapi.Options{Name: "datapusher", AdminKey: adminKey})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &bundle{srv: srv}
}

// do sends a request as CKAN's requests-based client does: a JSON body,
// Content-Type application/json, and auth as a bare Authorization header.
func (b *bundle) do(t *testing.T, method, path, auth string, body any) (int, map[string]any, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.srv.URL+"/ckan"+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, raw
}

// waitStatus polls GET /job/{id} with the job key until the job leaves
// pending and running.
func (b *bundle) waitStatus(t *testing.T, id, key string) map[string]any {
	t.Helper()
	var d map[string]any
	require.Eventually(t, func() bool {
		code, m, _ := b.do(t, "GET", "/job/"+id, key, nil)
		require.Equal(t, http.StatusOK, code)
		d = m
		return m["status"] != "pending" && m["status"] != "running"
	}, patience.Scale(30*time.Second), 10*time.Millisecond)
	return d
}

// datapusherSubmit is the body ckanext-datapusher's datapusher_submit sends.
func datapusherSubmit(resourceID string) map[string]any {
	return map[string]any{
		"api_key":    "ckan-user-api-key",
		"job_type":   "push_to_datastore",
		"result_url": "http://ckan.example.org/api/3/action/datapusher_hook",
		"metadata": map[string]any{
			"ignore_hash":  false,
			"ckan_url":     "http://ckan.example.org",
			"resource_id":  resourceID,
			"set_url_type": false,
			"task_created": "2026-12-02T02:00:00.000000",
			"original_url": "http://example.org/data.csv",
		},
	}
}

// TestDatapusherFlow drives the API as CKAN's datapusher extension does:
// submit, then follow the job with its key sent bare in Authorization.
func TestDatapusherFlow(t *testing.T) {
	b := setup(t)
	code, sub, raw := b.do(t, "POST", "/job", "", datapusherSubmit("res-1"))
	require.Equal(t, http.StatusOK, code, string(raw))
	id, _ := sub["job_id"].(string)
	key, _ := sub["job_key"].(string)
	require.NotEmpty(t, id)
	require.NotEmpty(t, key)
	require.Equal(t, "push_to_datastore", sub["job_type"])
	require.Equal(t, "pending", sub["status"])
	require.NotContains(t, sub, "api_key", "the API key is never echoed")

	d := b.waitStatus(t, id, key)
	require.Equal(t, "complete", d["status"])
	require.Equal(t, "loaded 3 rows", d["data"])
	require.Nil(t, d["error"])
	require.NotContains(t, d, "job_key", "only the submit answer carries the key")
	require.Equal(t, "http://ckan.example.org/api/3/action/datapusher_hook", d["result_url"])
	require.Equal(t, map[string]any{
		"ignore_hash": false, "ckan_url": "http://ckan.example.org", "resource_id": "res-1",
		"set_url_type": false, "task_created": "2026-12-02T02:00:00.000000", "original_url": "http://example.org/data.csv",
	}, d["metadata"], "metadata comes back with its JSON types")
	require.Equal(t, map[string]any{}, d["sent_data"])
	ts, _ := d["requested_timestamp"].(string)
	_, err := time.Parse("2006-01-02T15:04:05.000000", ts)
	require.NoError(t, err, "timestamps as Python's isoformat: %q", ts)
	_, err = time.Parse("2006-01-02T15:04:05.000000", d["finished_timestamp"].(string))
	require.NoError(t, err)
	logs, _ := d["logs"].([]any)
	require.Len(t, logs, 1)
	l := logs[0].(map[string]any)
	require.Equal(t, "Fetching from: http://example.org/data.csv", l["message"])
	require.Equal(t, "INFO", l["level"])
	require.Contains(t, l, "timestamp")

	// The raw result, typed by the metadata's mimetype when given.
	code, _, body := b.do(t, "GET", "/job/"+id+"/data", key, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "loaded 3 rows", string(body))

	// Without the key, or with another job's, the job is not shown.
	code, m, _ := b.do(t, "GET", "/job/"+id, "", nil)
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "not authorized", m["error"])
	code, _, _ = b.do(t, "GET", "/job/"+id, "ckan-user-api-key", nil)
	require.Equal(t, http.StatusForbidden, code, "the api_key is for callbacks, not reads")
	code, _, _ = b.do(t, "GET", "/job/"+id, adminKey, nil)
	require.Equal(t, http.StatusOK, code, "the admin key administers every job")
	code, m, _ = b.do(t, "GET", "/job/nope", key, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "job_id not found", m["error"])

	// Resubmit runs it again; delete removes it.
	code, m, _ = b.do(t, "GET", "/job/"+id+"/resubmit", key, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "pending", m["status"])
	require.Equal(t, "complete", b.waitStatus(t, id, key)["status"])
	code, m, _ = b.do(t, "DELETE", "/job/"+id, key, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, m["success"])
	code, _, _ = b.do(t, "GET", "/job/"+id, key, nil)
	require.Equal(t, http.StatusNotFound, code)
}

// TestJobError: job.Fail's message is the job dict's error.message, and
// /data answers 409 with the error.
func TestJobError(t *testing.T) {
	b := setup(t)
	_, sub, _ := b.do(t, "POST", "/job", "", datapusherSubmit("broken"))
	id, key := sub["job_id"].(string), sub["job_key"].(string)
	d := b.waitStatus(t, id, key)
	require.Equal(t, "error", d["status"])
	errd := d["error"].(map[string]any)
	require.Equal(t, "Could not fetch the resource", errd["message"])
	require.Equal(t, map[string]any{"status_code": float64(404)}, errd["details"])
	require.Nil(t, d["data"])
	code, m, _ := b.do(t, "GET", "/job/"+id+"/data", key, nil)
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "Could not fetch the resource", m["error"].(map[string]any)["message"])
}

// TestSubmitChecks: the checks ckan-service-provider makes before running
// a job answer 409 with its messages, and a chosen id that is taken too.
func TestSubmitChecks(t *testing.T) {
	b := setup(t)
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"extra key", map[string]any{"job_type": "echo", "api_key": "k", "color": "red"}, "Too many arguments. Extra keys are color"},
		{"no job type", map[string]any{"api_key": "k"}, "Please specify a job type"},
		{"unknown job type", map[string]any{"job_type": "nope", "api_key": "k"}, "Job type nope not available. Available job types are echo, push_to_datastore"},
		{"no api key", map[string]any{"job_type": "echo"}, "Please provide your API key."},
		{"bad result_url", map[string]any{"job_type": "echo", "api_key": "k", "result_url": "ftp://x"}, "result_url has to start with http"},
		{"metadata not an object", map[string]any{"job_type": "echo", "api_key": "k", "metadata": []int{1}}, "metadata has to be a json object"},
		{"not json", "just a string", "Not recognised as json, make sure content type is application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m, raw := b.do(t, "POST", "/job", "", tc.body)
			require.Equal(t, http.StatusConflict, code, string(raw))
			require.Equal(t, tc.want, m["error"])
		})
	}

	// A sync job type answers after running; a chosen id names the job, and
	// the same id again is a conflict.
	code, m, raw := b.do(t, "POST", "/job/my-job-1", "", map[string]any{"job_type": "echo", "api_key": "k", "data": map[string]any{"x": 1}})
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, "my-job-1", m["job_id"])
	require.Equal(t, "complete", m["status"])
	require.Equal(t, map[string]any{"x": float64(1)}, m["data"])
	require.Equal(t, map[string]any{"x": float64(1)}, m["sent_data"])
	code, m, _ = b.do(t, "POST", "/job/my-job-1", "", map[string]any{"job_type": "echo", "api_key": "k"})
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "job_id my-job-1 already exists", m["error"])
}

// TestAdminRoutes: /status needs no credential; listing and clearing need
// the admin key; listing filters by ckan status and metadata.
func TestAdminRoutes(t *testing.T) {
	b := setup(t)
	ids := map[string]string{}
	for _, res := range []string{"a", "b", "broken"} {
		_, sub, _ := b.do(t, "POST", "/job", "", datapusherSubmit(res))
		ids[res] = sub["job_id"].(string)
		b.waitStatus(t, ids[res], sub["job_key"].(string))
	}
	code, st, _ := b.do(t, "GET", "/status", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "datapusher", st["name"])
	require.Equal(t, 0.1, st["version"])
	require.Equal(t, []any{"echo", "push_to_datastore"}, st["job_types"])
	require.Equal(t, map[string]any{"pending": 0.0, "running": 0.0, "complete": 2.0, "error": 1.0}, st["stats"])

	code, _, _ = b.do(t, "GET", "/job", "", nil)
	require.Equal(t, http.StatusForbidden, code)
	list := func(query string) []any {
		code, m, raw := b.do(t, "GET", "/job"+query, adminKey, nil)
		require.Equal(t, http.StatusOK, code, string(raw))
		return m["list"].([]any)
	}
	require.Equal(t, []any{"/ckan/job/" + ids["broken"], "/ckan/job/" + ids["b"], "/ckan/job/" + ids["a"]}, list(""), "newest first")
	require.Equal(t, []any{"/ckan/job/" + ids["broken"]}, list("?_status=error"))
	require.Equal(t, []any{"/ckan/job/" + ids["b"], "/ckan/job/" + ids["a"]}, list("?_status=complete"))
	require.Equal(t, []any{"/ckan/job/" + ids["b"]}, list("?_status=complete&_limit=1"))
	require.Equal(t, []any{"/ckan/job/" + ids["a"]}, list("?_status=complete&_limit=1&_offset=1"))
	require.Equal(t, []any{"/ckan/job/" + ids["a"]}, list("?resource_id=a"))
	code, m, _ := b.do(t, "GET", "/job?_status=sleeping", adminKey, nil)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, m["error"], "unknown _status")

	// Clearing keeps jobs younger than the days given, and removes the rest.
	code, _, _ = b.do(t, "DELETE", "/job?days=0", "", nil)
	require.Equal(t, http.StatusForbidden, code)
	code, _, _ = b.do(t, "DELETE", "/job?days=1", adminKey, nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, list(""), 3)
	code, m, _ = b.do(t, "DELETE", "/job?days=0", adminKey, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, m["success"])
	require.Empty(t, list(""))
	require.True(t, strings.HasPrefix(b.srv.URL, "http://127.0.0.1"))
}

type hook struct {
	header http.Header
	dict   map[string]any
}

// TestDatapusherResultURLCallback drives the API as CKAN's datapusher
// does (POST /job with api_key and result_url) and receives the callback
// as CKAN's datapusher_hook would: the job dict, POSTed with the api_key
// as the bare Authorization header.
func TestDatapusherResultURLCallback(t *testing.T) {
	hooks := make(chan hook, 8)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var d map[string]any
		_ = json.Unmarshal(raw, &d)
		hooks <- hook{r.Header.Clone(), d}
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	svc := solvekittest.Start(t, solvekittest.Options{Config: solvekit.Config{Redis: redistest.Client(t),
		CallbackAllowPrivate: true, CallbackInterval: 20 * time.Millisecond}}, pushJob(), echoSync())
	mux := http.NewServeMux()
	mux.Handle("/ckan/", http.StripPrefix("/ckan", ckanapi.New(svc, ckanapi.Options{Name: "datapusher", AdminKey: adminKey})))
	b := &bundle{srv: httptest.NewServer(mux)}
	defer b.srv.Close()

	next := func() hook {
		select {
		case h := <-hooks:
			return h
		case <-time.After(patience.Scale(30 * time.Second)):
			t.Fatal("no callback received")
		}
		return hook{}
	}

	body := datapusherSubmit("res-1")
	body["result_url"] = rcv.URL + "/api/3/action/datapusher_hook"
	code, sub, raw := b.do(t, "POST", "/job", "", body)
	require.Equal(t, http.StatusOK, code, string(raw))
	id, key := sub["job_id"].(string), sub["job_key"].(string)
	require.NotContains(t, string(raw), "ckan-user-api-key", "the api_key is never shown")

	h := next()
	require.Equal(t, "ckan-user-api-key", h.header.Get("Authorization"))
	require.Equal(t, "application/json", h.header.Get("Content-Type"))
	require.Equal(t, id, h.dict["job_id"])
	require.Equal(t, "complete", h.dict["status"])
	require.Equal(t, "loaded 3 rows", h.dict["data"])
	require.Equal(t, body["result_url"], h.dict["result_url"])
	require.NotContains(t, h.dict, "api_key")
	require.Equal(t, "res-1", h.dict["metadata"].(map[string]any)["resource_id"])
	require.NotEmpty(t, h.dict["logs"])
	require.Equal(t, id+":1", h.header.Get(solvekit.CallbackDeliveryHeader))

	_, d, raw := b.do(t, "GET", "/job/"+id, key, nil)
	require.Equal(t, body["result_url"], d["result_url"])
	require.NotContains(t, string(raw), "ckan-user-api-key")
	require.Eventually(t, func() bool {
		e, err := svc.Get(context.Background(), id)
		require.NoError(t, err)
		return e.CallbackState == job.CallbackDelivered
	}, patience.Scale(30*time.Second), 10*time.Millisecond)

	// A failed job is called back too, with its error; an api_key of the
	// form "Header:value" goes in that header, as ckan-service-provider
	// sends it.
	body = datapusherSubmit("broken")
	body["result_url"] = rcv.URL + "/hook"
	body["api_key"] = "X-CKAN-API-Key:secret-2"
	code, sub, raw = b.do(t, "POST", "/job", "", body)
	require.Equal(t, http.StatusOK, code, string(raw))
	h = next()
	require.Equal(t, sub["job_id"], h.dict["job_id"])
	require.Equal(t, "error", h.dict["status"])
	require.Equal(t, "Could not fetch the resource", h.dict["error"].(map[string]any)["message"])
	require.Equal(t, "secret-2", h.header.Get("X-CKAN-API-Key"))
	require.Empty(t, h.header.Get("Authorization"))

	// A sync job is called back as well.
	code, sub, raw = b.do(t, "POST", "/job", "", map[string]any{"job_type": "echo", "api_key": "k3",
		"data": map[string]any{"x": 1}, "result_url": rcv.URL + "/sync"})
	require.Equal(t, http.StatusOK, code, string(raw))
	h = next()
	require.Equal(t, sub["job_id"], h.dict["job_id"])
	require.Equal(t, "complete", h.dict["status"])
	require.Equal(t, "k3", h.header.Get("Authorization"))
}
