package solvekittest_test

import (
	"os"
	"testing"

	"github.com/solvekit/solvekit/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
