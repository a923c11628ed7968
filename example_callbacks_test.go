package solvekit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
)

// A receiver checks a callback's signature on the raw body before it
// trusts it.
func ExampleVerifyCallback() {
	secret := []byte("shared-secret")
	body := []byte(`{"id":"0193","state":"succeeded"}`)
	header := solvekit.SignCallback(secret, time.Now(), body) // what the Service sends

	fmt.Println(solvekit.VerifyCallback(secret, header, body, 5*time.Minute))
	fmt.Println(solvekit.VerifyCallback(secret, header, []byte(`{"id":"0193","state":"failed"}`), 5*time.Minute) != nil)
	// Output:
	// <nil>
	// true
}

// An execution with a result URL is POSTed to it, signed, when it ends.
func ExampleSubmitRequest_resultURL() {
	secret := []byte("shared-secret")
	got := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := solvekit.VerifyCallback(secret, r.Header.Get(solvekit.CallbackSignatureHeader), body, 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e job.Execution
		_ = json.Unmarshal(body, &e)
		got <- string(e.State)
	}))
	defer receiver.Close()

	ctx := context.Background()
	svc, err := solvekit.New(ctx, solvekit.Config{
		CallbackSecret:       secret,
		CallbackAllowPrivate: true, // the receiver is on loopback
		CallbackInterval:     50 * time.Millisecond,
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	_ = svc.Register(job.Sync("hello", func(ctx context.Context, jc *job.Context) (any, error) {
		return "hi", nil
	}))
	e, err := svc.Submit(ctx, solvekit.SubmitRequest{JobType: "hello", Instance: json.RawMessage(`{}`),
		ResultURL: receiver.URL + "/hook"})
	if err != nil {
		panic(err)
	}
	fmt.Println("called back:", <-got)
	atts, _ := svc.Callbacks(ctx, e.ID)
	for len(atts) == 0 { // the attempt is recorded once the receiver answered
		time.Sleep(10 * time.Millisecond)
		atts, _ = svc.Callbacks(ctx, e.ID)
	}
	fmt.Println("attempts:", len(atts), atts[0].StatusCode)
	// Output:
	// called back: succeeded
	// attempts: 1 200
}
