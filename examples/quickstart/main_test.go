package main

import (
	"os"
	"testing"

	"github.com/solvekit/solvekit/internal/redistest"
)

// The knapsack Service tests run on a private Redis.
func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
