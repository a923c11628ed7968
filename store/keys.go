package store

import "github.com/solvekit/solvekit/job"

// keys builds the Redis key names under one prefix.
type keys struct{ p string }

func (k keys) meta(id string) string      { return k.p + ":x:" + id }
func (k keys) input(id string) string     { return k.p + ":x:" + id + ":in" }
func (k keys) solution(id string) string  { return k.p + ":x:" + id + ":sol" }
func (k keys) incumbent(id string) string { return k.p + ":x:" + id + ":inc" }
func (k keys) log(id string) string       { return k.p + ":x:" + id + ":log" }
func (k keys) events(id string) string    { return k.p + ":x:" + id + ":ev" }
func (k keys) files(id string) string     { return k.p + ":x:" + id + ":files" }
func (k keys) ixAll() string              { return k.p + ":ix:all" }
func (k keys) ixState(s job.State) string { return k.p + ":ix:st:" + string(s) }
func (k keys) ixType(t string) string     { return k.p + ":ix:jt:" + t }
func (k keys) ixOwner(o string) string    { return k.p + ":ix:own:" + o }
func (k keys) ixInstance(i string) string { return k.p + ":ix:inst:" + i }
func (k keys) cancelChannel() string      { return k.p + ":cancel" }
func (k keys) done(id string) string      { return k.p + ":done:" + id }
func (k keys) lock(name string) string    { return k.p + ":lock:" + name }

// instance keys
func (k keys) inst(id string) string       { return k.p + ":i:" + id }
func (k keys) instData(id string) string   { return k.p + ":i:" + id + ":data" }
func (k keys) ixInstAll() string           { return k.p + ":ix:i:all" }
func (k keys) ixInstOwner(o string) string { return k.p + ":ix:i:own:" + o }
