package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// FuzzHandler feeds methods, paths, bodies and credentials to the handler:
// it must never panic, never answer a client's mistake with a 5xx (503 for
// a paused job type is allowed), and every answer must match the OpenAPI
// document.
func FuzzHandler(f *testing.F) {
	// Blocking Redis reads do not end with the request's context, so keep
	// the event stream's blocking short here.
	httpapi.SetKeepAlive(100 * time.Millisecond)
	e := newEnv(f, envOpts{opts: httpapi.Options{MaxWait: 100 * time.Millisecond, AllowSignup: true}})
	ctx := context.Background()
	p := e.addUser("planner", api.RolePlanner)
	ex, err := p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{"a":1}`)}, 0)
	if err != nil {
		f.Fatal(err)
	}
	in, err := p.c.CreateInstance(ctx, api.InstanceCreate{JobType: "sum", Data: json.RawMessage(`{"values":[1]}`)})
	if err != nil {
		f.Fatal(err)
	}
	creds := []string{"", "Bearer " + mustLogin(f, e, "admin"), "Bearer " + mustLogin(f, e, "planner"), "Bearer " + ex.JobKey, "Bearer x.y.z", "Bearer sk_nope", "Bearer bt_nope"}
	seeds := []struct {
		method, path, body string
	}{
		{"GET", "/health", ""},
		{"POST", "/login", `{"username":"planner","password":"planner-password"}`},
		{"POST", "/executions", `{"job_type":"echo","instance":{"x":[1,2]}}`},
		{"POST", "/executions?wait=1s", `{"job_type":"sum","instance":{"values":[1,2]},"config":{"scale":2}}`},
		{"POST", "/executions", `{"job_type":"sum","instance_id":"` + in.ID + `"}`},
		{"GET", "/executions?status=succeeded&limit=5&offset=1&metadata.a=b", ""},
		{"GET", "/executions/" + ex.ID, ""},
		{"PATCH", "/executions/" + ex.ID + "?update_mask=name,metadata", `{"name":"n","metadata":{"k":"v"}}`},
		{"PUT", "/executions/" + ex.ID + "/status", `{"state":"stopped"}`},
		{"GET", "/executions/" + ex.ID + "/log?after=0-0&limit=3", ""},
		{"GET", "/executions/" + ex.ID + "/events", ""},
		{"GET", "/executions/" + ex.ID + "/data?part=instance", ""},
		{"POST", "/executions/" + ex.ID + "/relaunch", `{"config":{}}`},
		{"POST", "/executions/" + ex.ID + "/files", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhi\r\n--b--\r\n"},
		{"GET", "/executions/" + ex.ID + "/files/a.txt", ""},
		{"POST", "/instances", `{"job_type":"sum","data":{"values":[3]},"metadata":{"a":"b"}}`},
		{"PATCH", "/instances/" + in.ID, `{"description":"d"}`},
		{"POST", "/instances/" + in.ID + "/checks", `{"job_type":"sum"}`},
		{"GET", "/jobTypes/sum", ""},
		{"PATCH", "/jobTypes/sum?update_mask=is_paused", `{"is_paused":false}`},
		{"POST", "/users", `{"username":"u1","password":"long-enough","role":"viewer"}`},
		{"POST", "/apiKeys", `{"name":"k"}`},
		{"GET", "/queues", ""},
		{"POST", "/queues/default/pause", ""},
		{"POST", "/queues/default/resume", ""},
		{"DELETE", "/executions?finished_before=2000-01-01T00:00:00Z", ""},
		{"PUT", "/user/password", `{"current_password":"wrong","new_password":"planner-password"}`},
		{"POST", "/signup", `{"username":"s1","password":"long-enough"}`},
	}
	for _, s := range seeds {
		for i := range creds {
			f.Add(s.method, s.path, []byte(s.body), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte, cred uint8) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		// Clients never send a fragment ("#…"): drop what the URL parser
		// took as one, so the request is one that could arrive.
		req.URL.Fragment, req.URL.RawFragment = "", ""
		if c := creds[int(cred)%len(creds)]; c != "" {
			req.Header.Set("Authorization", c)
		}
		if bytes.HasPrefix(body, []byte("--b")) {
			req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		} else if len(body) > 0 {
			req.Header.Set("Content-Type", "application/json")
		}
		rctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req = req.WithContext(rctx)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q → %d %s", method, path, body, rec.Code, rec.Body.String())
		}
		// Every answer, to whatever input, is one the OpenAPI document allows.
		if err := e.checkResponse(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("%q: %v\n%s", body, err, rec.Body.String())
		}
	})
}
