// Package registry keeps the job types a solvekit service knows: it
// registers job.Definitions, compiles their instance, config and solution
// JSON Schemas once, and offers the validation entry points every other
// layer uses (ValidateInstance, PrepareConfig, ValidateSolution).
//
// Schemas may be written in draft-07 or 2020-12 ("$schema" decides; 2020-12
// is the default). They are compiled without any network or disk access: a
// "$ref" must point inside the schema itself ("#/$defs/...",
// "#/definitions/...").
//
// Validation failures come back as a *job.Error with code job.CodeInvalid
// and one job.Violation per failing leaf, each located by an RFC 6901 JSON
// pointer, so the REST layer can answer with an RFC 9457 problem whose
// errors[] point at every offending value at once. At most 1000 violations
// are listed: a document with more lists 1000 of them (see Schema.Validate)
// and its message says so ("instance is invalid (only the first 1000
// violations are listed)").
// Malformed JSON is a job.CodeBadRequest error instead.
//
// Numbers are compared by their exact value as written: an integer beyond
// 2^53 against "maximum", 0.1 against "minimum" or "multipleOf" give the
// answers of exact arithmetic, not of float64. A document is decoded once
// into a compact tree (integers as int64, other numbers kept as written)
// and checked by a fast path that decides the keywords most schemas use,
// with float64 or int64 comparisons where those are exact and big.Rat
// where they are not. A document it finds valid is accepted. The
// violations of any other document are those
// github.com/santhosh-tekuri/jsonschema lists, but the library is run only
// on the members and items the fast path finds invalid (and on those
// whose schema reads a value as a whole: "anyOf", "enum", "contains",
// ...), so that an invalid document costs about what a valid one does, not
// many times more. Every schema using "unevaluated*", "$dynamicRef",
// "$recursiveRef" or "content*" goes to the library for every document. A
// valid 10 MB instance costs about as much as decoding it twice with
// encoding/json (see the README's Performance section).
package registry
