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
// errors[] point at every offending value at once. Malformed JSON is a
// job.CodeBadRequest error instead.
package registry
