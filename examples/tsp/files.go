package main

import (
	"bytes"
	"encoding/json"

	"github.com/solvekit/solvekit/job"
)

// tspDefinition is the TSP job type, which also imports TSPLIB files
// (.tsp) as instances: solvekit.Service.ImportInstanceSet, POST
// /instanceSets/import and `solvekit instance-set import` read a folder
// of them (docs/experiments.md).
func tspDefinition() *job.Definition {
	d := tspApp().Definition()
	job.WithInstanceFile(".tsp", readTSPLIB)(d)
	return d
}

// readTSPLIB is a TSPLIB file as the instance JSON.
func readTSPLIB(data []byte) (json.RawMessage, error) {
	in, err := parseTSPLIB(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return json.Marshal(in)
}
