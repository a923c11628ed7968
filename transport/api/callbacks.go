package api

import "github.com/solvekit/solvekit/job/record"

// CallbackList is the answer of GET /executions/{id}/callbacks: the
// attempts to deliver the execution's result_url callbacks, oldest first.
type CallbackList struct {
	Attempts     []record.CallbackAttempt `json:"attempts"`
	TotalEntries int64                    `json:"total_entries"`
}
