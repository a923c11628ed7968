package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit/transport/api"
)

// TestExperimentRunPrintsTable runs an experiment from a directory of
// instance files and prints the comparison table; against a baseline,
// a variant that got worse makes the exit code 4.
func TestExperimentRunPrintsTable(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	for i := range 3 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("i%d.json", i)), fmt.Appendf(nil, `{"n": %d}`, i), 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not an instance"), 0o600))

	out := s.ok(t, "", "experiment", "run", "--job-type", "echo", "--name", "echoes", "--mark-baseline",
		"--variant", "label=instant,config={\"seconds\": 0}", "--variant", `label=steady,config={"seconds": 0.02, "fail": false}`, dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	require.Contains(t, lines[0], "6 cells, finished")
	require.Regexp(t, `^VARIANT\s+CELLS\s+SOLVED\s+SGM TIME \(s\)\s+MEAN GAP\s+MEAN OBJECTIVE\s+WINS\s+PRIMAL INTEGRAL$`, lines[1])
	require.Regexp(t, `^instant\s+3\s+3\s+\S+\s+-\s+-\s+0\s+\S+$`, lines[2])
	require.Regexp(t, `^steady\s+3\s+3\s`, lines[3])

	sets := decode[api.InstanceSetList](t, s.ok(t, "", "instance-set", "list", "-o", "json"))
	require.Len(t, sets.InstanceSets, 1)
	require.Len(t, sets.InstanceSets[0].InstanceIDs, 3, "README.txt is not imported")

	// The same variants against the baseline: nothing worse.
	out = s.ok(t, "", "experiment", "run", "--job-type", "echo", "--instance-set", sets.InstanceSets[0].ID,
		"--variant", "label=instant", "--baseline", "auto", "--tolerance", "1000")
	require.Contains(t, out, "baseline ")
	require.Regexp(t, `instant\s+solved_share\s+1\s+1\s+same`, out)

	// A variant that fails where the baseline succeeded: exit code 4.
	r := s.run(t, "", "experiment", "run", "--job-type", "echo", "--instance-set", sets.InstanceSets[0].ID,
		"--variant", `label=steady,config={"fail": true}`, "--baseline", "auto", "--tolerance", "1000")
	require.Equal(t, exitWorse, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Regexp(t, `steady\s+solved_share\s+1\s+0\s+worse`, r.stdout)
	require.Contains(t, r.stderr, "got worse")

	list := decode[api.ExperimentList](t, s.ok(t, "", "experiment", "list", "-o", "json"))
	require.Len(t, list.Experiments, 3)
	csv := s.ok(t, "", "experiment", "results", list.Experiments[2].ID, "--csv")
	require.Len(t, strings.Split(strings.TrimSpace(csv), "\n"), 7)

	r = s.run(t, "", "experiment", "run", "--job-type", "echo", dir)
	require.Equal(t, exitUsage, r.code, "no variant")
}
