package client_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientLinksNoServer: the client depends on the wire types
// (transport/api) and job/record, never on the server (nor the rest of
// job, which links validator and x/crypto): not httpapi, not the root
// package, not Redis or asynq, not bcrypt.
func TestClientLinksNoServer(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/solvekit/solvekit/transport/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/hibiken/asynq",
		"github.com/redis/go-redis",
		"github.com/alicebob/miniredis",
		"golang.org/x/crypto/", // (Go's own vendor/golang.org/x/crypto for TLS is fine)
		"github.com/go-playground/validator",
		"github.com/solvekit/solvekit/transport/httpapi",
		"github.com/solvekit/solvekit/internal/",
		"github.com/solvekit/solvekit/registry",
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/solvekit/solvekit" || dep == "github.com/solvekit/solvekit/job" {
			t.Errorf("the client depends on %s", dep)
		}
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the client depends on %s", dep)
			}
		}
	}
}

// TestClientBinarySize: a program that imports only the client (and the
// standard library) builds to less than 10 MB with a plain go build.
func TestClientBinarySize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	bin := filepath.Join(t.TempDir(), "clientonly")
	if out, err := exec.Command(goTool, "build", "-o", bin, "./testdata/clientonly").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a program that imports only the client: %d bytes", fi.Size())
	if fi.Size() >= 10<<20 {
		t.Errorf("a program that imports only the client is %d bytes, not under 10 MB", fi.Size())
	}
}
