// Package typedinput carries a typed job's input type from package job to
// the registry, so that the registry can decode an instance it has already
// parsed for its schema straight into that type, without a second parse
// and without making the hook part of job's public API.
package typedinput

// New, set by package job at init, returns a pointer to a new zero value
// of a typed definition's input type (def is a *job.Definition) and the
// check of its validator struct tags to run once it is filled; ok is
// false for an untyped definition.
var New func(def any) (in any, check func() error, ok bool)
