// Package servicecompare hands the dashboard a Service's comparison of
// experiment results it has already read with their baseline, so that an
// experiment's page reads its results once instead of twice, without
// making that a public method of the Service. The root package sets
// Compare when it loads.
package servicecompare

import (
	"context"

	"github.com/solvekit/solvekit/experiment"
)

// Compare compares cur (a *solvekit.ExperimentResults that svc, a
// *solvekit.Service, read) with its baseline as CompareExperiments does
// (baselineID "" picks the default one), and returns the comparison and
// the baseline's owner.
var Compare func(svc any, ctx context.Context, cur any, baselineID string, o experiment.CompareOptions) (c *experiment.Comparison, baselineOwner string, err error)
