// Command ckan serves ckan-service-provider's API (transport/ckanapi) on a
// solvekit Service, so that a CKAN site's datapusher setting can point at
// it. Its one job type, "push_to_datastore", counts the rows of the CSV
// text given in the job's data ({"csv": "..."}) or of a metadata
// "original_url" it may not fetch (this example fetches nothing: it logs
// and fails with job.Fail, as a datapusher does when a download fails).
//
//	SOLVEKIT_CKAN_ADMIN_KEY=secret go run ./examples/ckan   # serve on :8800 until Ctrl-C
//	go run ./examples/ckan -smoke                            # submit and follow one job, then exit
//
// In CKAN's configuration: ckan.datapusher.url = http://this-host:8800/
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/transport/ckanapi"
)

// push counts the rows of the CSV text in the job's data.
func push(ctx context.Context, jc *job.Context, in struct {
	CSV string `json:"csv"`
}) (string, error) {
	if in.CSV == "" {
		jc.Logger.Info("Fetching from: " + jc.Metadata["original_url"])
		return "", job.Fail("this example fetches nothing: send the CSV text as data.csv", nil)
	}
	rows := strings.Count(strings.TrimSpace(in.CSV), "\n") + 1
	jc.Logger.Info(fmt.Sprintf("Determined %d rows", rows))
	return fmt.Sprintf("pushed %d rows", rows), nil
}

func main() {
	smoke := flag.Bool("smoke", false, "submit and follow one job through the API, then exit")
	addr := flag.String("addr", ":8800", "address to serve on (datapusher's usual port)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	svc, err := solvekit.New(ctx, solvekit.Config{Logger: logger}) // embedded Redis: no set-up
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer svc.Close()
	if err := svc.Register(job.AsyncOf("push_to_datastore", push)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		if err := svc.Work(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
	}()

	h := ckanapi.New(svc, ckanapi.Options{Name: "datapusher", AdminKey: os.Getenv("SOLVEKIT_CKAN_ADMIN_KEY"), Logger: logger})
	if *smoke {
		srv := httptest.NewServer(h)
		defer srv.Close()
		if err := smokeTest(srv.URL); err != nil {
			fmt.Fprintln(os.Stderr, "smoke:", err)
			os.Exit(1)
		}
		return
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	fmt.Println("ckan-service-provider API on", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// smokeTest submits a job as CKAN does and polls it with its job key.
func smokeTest(base string) error {
	body, _ := json.Marshal(map[string]any{"api_key": "ckan-api-key", "job_type": "push_to_datastore",
		"data": map[string]string{"csv": "a,b\n1,2\n3,4"}, "metadata": map[string]any{"resource_id": "r1", "ignore_hash": false}})
	var sub struct {
		JobID  string `json:"job_id"`
		JobKey string `json:"job_key"`
	}
	res, err := http.Post(base+"/job", "application/json", bytes.NewReader(body))
	if err := decode(res, err, &sub); err != nil {
		return err
	}
	fmt.Println("submitted", sub.JobID)
	for range 200 {
		req, _ := http.NewRequest("GET", base+"/job/"+sub.JobID, nil)
		req.Header.Set("Authorization", sub.JobKey) // the job key, bare, as CKAN sends it
		var d struct {
			Status string `json:"status"`
			Data   any    `json:"data"`
		}
		res, err := http.DefaultClient.Do(req)
		if err := decode(res, err, &d); err != nil {
			return err
		}
		if d.Status == "complete" || d.Status == "error" {
			fmt.Println(d.Status, d.Data)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("job %s did not finish", sub.JobID)
}

// decode reads a JSON answer into v, or the error that stopped it.
func decode(res *http.Response, err error, v any) error {
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", res.Status, raw)
	}
	return json.Unmarshal(raw, v)
}
