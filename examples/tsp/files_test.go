package main

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/job"
	"github.com/solvekit/solvekit/solvekittest"
)

// TestImportTSPLIBFiles: TSPLIB files import as TSP instances; a file the
// parser refuses stores nothing and says which file.
func TestImportTSPLIBFiles(t *testing.T) {
	svc := solvekittest.Start(t, solvekittest.Options{NoWorker: true}, tspDefinition())
	ctx := context.Background()
	berlin, err := os.ReadFile("testdata/berlin52.tsp")
	require.NoError(t, err)
	set, err := svc.ImportInstanceSet(ctx, solvekit.InstanceSetRequest{Name: "tsplib", JobType: "tsp"},
		[]solvekit.InstanceFile{{Name: "berlin52.tsp", Data: berlin}, {Name: "square.json", Data: []byte(`{"points": [[0,0],[0,1],[1,1],[1,0]]}`)}})
	require.NoError(t, err)
	require.Len(t, set.InstanceIDs, 2)
	in, err := svc.GetInstance(ctx, set.InstanceIDs[0])
	require.NoError(t, err)
	require.Equal(t, "tsp", in.Format)
	var data Instance
	b, err := svc.InstanceData(ctx, in.ID)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &data))
	require.Len(t, data.Points, 52)

	_, err = svc.ImportInstanceSet(ctx, solvekit.InstanceSetRequest{Name: "bad", JobType: "tsp"},
		[]solvekit.InstanceFile{{Name: "geo.tsp", Data: []byte("TYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: GEO\n")}})
	var je *job.Error
	require.ErrorAs(t, err, &je)
	require.Equal(t, job.CodeInvalid, je.Code)
	require.Equal(t, "/files/0", je.Violations[0].Pointer)
	require.Contains(t, je.Message, "geo.tsp")
}
