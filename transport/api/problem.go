package api

import (
	"fmt"
	"strings"

	"github.com/solvekit/solvekit/job/record"
)

// ProblemTypeBase starts the type URI of every problem; the code follows
// the '#'.
const ProblemTypeBase = "https://github.com/solvekit/solvekit/blob/main/docs/rest.md#problem-"

// Problem is an RFC 9457 problem details body (application/problem+json).
type Problem struct {
	// Type identifies the kind of problem (a URI ending in its code).
	Type string `json:"type"`
	// Title is a short summary of the kind (the HTTP status text).
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
	// Code is solvekit's error code (invalid, not_found, ...).
	Code string `json:"code"`
	// Errors lists validation failures, each located by a JSON pointer
	// into the request body (or, for query parameters, "?name").
	Errors []record.Violation `json:"errors,omitempty"`
}

// Error makes a Problem an error (the client returns it as one).
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	for _, v := range p.Errors {
		fmt.Fprintf(&b, "; %s: %s", v.Pointer, v.Message)
	}
	return b.String()
}
