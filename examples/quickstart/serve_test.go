package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/redistest"
)

// TestServePrintsTokenOnce: serve prints the admin token once, as a
// TOKEN= line, and curl lines that use $TOKEN; pasted into bash (when
// curl is installed) they submit the knapsack, wait for it and read its
// optimal solution.
func TestServePrintsTokenOnce(t *testing.T) {
	t.Setenv("SOLVEKIT_JWT_SECRET", "serve-test-signing-secret-0123456789")
	quiet := slog.New(slog.DiscardHandler)
	svc, err := solvekit.New(context.Background(), solvekit.Config{Redis: redistest.Client(t), Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, svc.Register(knapsackJob(), echoJob()))
	ctx, cancel := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() { worked <- svc.Work(ctx) }()
	pr, pw := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, svc, "127.0.0.1:0", pw); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		pr.Close()
		require.NoError(t, <-served)
		require.NoError(t, <-worked)
		require.NoError(t, svc.Close())
	})

	var lines []string
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "OpenAPI: ") {
			break
		}
	}
	out := strings.Join(lines, "\n")
	t.Log(out)
	require.Contains(t, lines[1], "-addr", "the first line says how to pick another address")

	var token string
	var curls []string
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "TOKEN="); ok {
			require.Empty(t, token, "one TOKEN= line")
			token = v
		}
		if strings.Contains(l, "curl ") {
			curls = append(curls, l)
		}
	}
	require.Greater(t, len(token), 100, "the TOKEN= line holds the admin JWT")
	require.Equal(t, 1, strings.Count(out, token), "the token is printed once")
	require.Len(t, curls, 4, "submit, status, solution, OpenAPI")
	require.Regexp(t, `(?m)^Dashboard: http://127\.0\.0\.1:[0-9]+/ui/ `, out, "the dashboard's URL is printed")
	for _, l := range curls {
		require.Contains(t, l, `-H "Authorization: Bearer $TOKEN"`)
	}

	if _, err := exec.LookPath("curl"); err != nil {
		t.Log("no curl: the lines are not pasted here (.ci/quickstart-curl.sh pastes them)")
		return
	}
	script := "TOKEN=" + token + "\n" + curls[0] + "\necho STATUS $(" + curls[1] + ")\necho DATA $(" + curls[2] + ")\n"
	pctx, stop := context.WithTimeout(ctx, 2*time.Minute)
	defer stop()
	res, err := exec.CommandContext(pctx, "bash", "-c", script).CombinedOutput()
	require.NoError(t, err, "%s", res)
	require.Regexp(t, `(?m)^STATUS .*"state":"succeeded"`, string(res), "?wait=30s answered after the knapsack ended")
	require.Regexp(t, `(?m)^DATA .*"value":90`, string(res))
}
