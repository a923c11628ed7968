package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/httpapi"
)

// TestMountedURLs: mounted with Options.Prefix, behind the host's
// http.StripPrefix, or both, every URL the API hands out is right on the
// host: Location headers of each create (GET on them answers 200), the
// problem instance, and the OpenAPI servers entry.
func TestMountedURLs(t *testing.T) {
	for _, m := range []struct {
		name, prefix, strip string
	}{
		{"Options.Prefix", "/api/v1", ""},
		{"http.StripPrefix", "", "/solver"},
		{"StripPrefix and Options.Prefix", "/api", "/outer"},
	} {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, envOpts{opts: httpapi.Options{Prefix: m.prefix}})
			host := e.srv.URL
			if m.strip != "" {
				mux := http.NewServeMux()
				mux.Handle(m.strip+"/", http.StripPrefix(m.strip, e.h))
				host = serve(t, mux)
			}
			base := m.strip + m.prefix
			do := func(method, path, ct string, body io.Reader, tok string) (*http.Response, []byte) {
				req, err := http.NewRequest(method, host+path, body)
				require.NoError(t, err)
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return resp, b
			}
			resp, b := do("POST", base+"/login", "application/json", strings.NewReader(`{"username":"admin","password":"admin-password"}`), "")
			require.Equal(t, 200, resp.StatusCode, "%s", b)
			var tok api.TokenResponse
			require.NoError(t, json.Unmarshal(b, &tok))

			follow := func(what string, resp *http.Response, b []byte, wantPrefix string) {
				t.Helper()
				require.Equal(t, 201, resp.StatusCode, "%s: %s", what, b)
				loc := resp.Header.Get("Location")
				require.True(t, strings.HasPrefix(loc, wantPrefix), "%s: Location %q should start with %q", what, loc, wantPrefix)
				r2, b2 := do("GET", loc, "", nil, tok.Token)
				require.Equal(t, 200, r2.StatusCode, "%s: GET %s: %s", what, loc, b2)
			}
			resp, b = do("POST", base+"/executions", "application/json", strings.NewReader(`{"job_type":"echo","instance":{"a":1}}`), tok.Token)
			follow("execution", resp, b, base+"/executions/")
			var ex api.Execution
			require.NoError(t, json.Unmarshal(b, &ex))
			resp, b = do("POST", base+"/instances", "application/json", strings.NewReader(`{"data":{"a":1}}`), tok.Token)
			follow("instance", resp, b, base+"/instances/")
			resp, b = do("POST", base+"/apiKeys", "application/json", strings.NewReader(`{"name":"k"}`), tok.Token)
			follow("API key", resp, b, base+"/apiKeys/")
			resp, b = do("POST", base+"/users", "application/json", strings.NewReader(`{"username":"u1","password":"long-enough","role":"viewer"}`), tok.Token)
			follow("user", resp, b, base+"/users/")
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			fw, _ := mw.CreateFormFile("file", "report.txt")
			fw.Write([]byte("hello"))
			mw.Close()
			resp, b = do("POST", base+"/executions/"+ex.ID+"/files", mw.FormDataContentType(), &buf, tok.Token)
			follow("file", resp, b, base+"/executions/"+ex.ID+"/files/report.txt")

			// problem instance: the path as requested on the host
			const unknown = "0190a4d2-7a52-7c2e-8000-000000000000"
			resp, b = do("GET", base+"/executions/"+unknown, "", nil, tok.Token)
			require.Equal(t, 404, resp.StatusCode)
			var prob api.Problem
			require.NoError(t, json.Unmarshal(b, &prob))
			require.Equal(t, base+"/executions/"+unknown, prob.Instance)

			// OpenAPI servers
			resp, b = do("GET", base+"/openapi.json", "", nil, tok.Token)
			require.Equal(t, 200, resp.StatusCode)
			var doc struct {
				Servers []struct{ URL string } `json:"servers"`
			}
			require.NoError(t, json.Unmarshal(b, &doc))
			require.Len(t, doc.Servers, 1)
			require.Equal(t, base, doc.Servers[0].URL)
		})
	}
}

// TestMultiFileUploadAllOrNothing: an upload whose parts together pass
// MaxFileBytes answers 413 and keeps none of them; a name given twice is
// 422; files already stored stay as they were.
func TestMultiFileUploadAllOrNothing(t *testing.T) {
	e, p, _ := plannerEnv(t, envOpts{opts: httpapi.Options{MaxFileBytes: 100, MaxUploadBytes: 4096}})
	ctx := t.Context()
	ex, err := p.c.CreateExecution(ctx, api.ExecutionCreate{JobType: "echo", Instance: json.RawMessage(`{}`)}, 0)
	require.NoError(t, err)
	upload := func(files ...string) (int, []byte) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, f := range files {
			name, content, _ := strings.Cut(f, "=")
			fw, _ := mw.CreateFormFile("file", name)
			fw.Write([]byte(content))
		}
		mw.Close()
		hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "planner")}, "Content-Type": {mw.FormDataContentType()}}
		status, _, b := e.raw("POST", "/executions/"+ex.ID+"/files", &buf, hdr)
		return status, b
	}
	names := func() []string {
		l, err := p.c.ListFiles(ctx, ex.ID)
		require.NoError(t, err)
		var out []string
		for _, f := range l.Files {
			out = append(out, f.Name)
		}
		return out
	}
	forty := strings.Repeat("x", 40)
	status, b := upload("a.txt="+forty, "b.txt="+forty, "c.txt="+forty)
	require.Equal(t, 413, status, "%s", b)
	require.Empty(t, names(), "a refused upload keeps none of its parts")

	status, b = upload("a.txt=" + forty)
	require.Equal(t, 201, status, "%s", b)
	status, b = upload("b.txt="+forty, "c.txt="+forty)
	require.Equal(t, 413, status, "%s", b)
	require.Equal(t, []string{"a.txt"}, names())
	// replacing a.txt frees its 40 bytes: 10 + 40 + 40 fits
	status, b = upload("a.txt=small", "b.txt="+forty, "c.txt="+forty)
	require.Equal(t, 201, status, "%s", b)
	require.Equal(t, []string{"a.txt", "b.txt", "c.txt"}, names())

	status, b = upload("d.txt=1", "d.txt=2")
	require.Equal(t, 422, status, "%s", b)
	require.Equal(t, []string{"a.txt", "b.txt", "c.txt"}, names())

	// Past MaxUploadBytes the body is refused while it is read: nothing
	// stored either, for files and for multipart instances.
	status, b = upload("d.txt=1", "e.txt="+strings.Repeat("y", 5000))
	require.Equal(t, 413, status, "%s", b)
	require.Equal(t, []string{"a.txt", "b.txt", "c.txt"}, names())
	before := storedCounts(t, e)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("name", "big")
	fw, _ := mw.CreateFormFile("file", "big.json")
	fw.Write([]byte(`{"pad":"` + strings.Repeat("z", 5000) + `"}`))
	mw.Close()
	hdr := http.Header{"Authorization": {"Bearer " + mustLogin(t, e, "planner")}, "Content-Type": {mw.FormDataContentType()}}
	status, _, b = e.raw("POST", "/instances", &buf, hdr)
	require.Equal(t, 413, status, "%s", b)
	require.Equal(t, before, storedCounts(t, e))
}
