package ckanapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/patience"
	"github.com/solvekit/solvekit/internal/redistest"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
	"github.com/solvekit/solvekit/transport/ckanapi"
)

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
