package external_test

import (
	"os"
	"testing"

	"github.com/solvekit/solvekit/internal/redistest"
)

// The Service tests (integration_test.go) run on a private Redis.
func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
