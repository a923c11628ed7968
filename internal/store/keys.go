package store

import (
	"strconv"

	"github.com/solvekit/solvekit/job"
)

// keys builds the Redis key names under one prefix.
type keys struct{ p string }

func (k keys) meta(id string) string      { return k.p + ":x:" + id }
func (k keys) input(id string) string     { return k.p + ":x:" + id + ":in" }
func (k keys) solution(id string) string  { return k.p + ":x:" + id + ":sol" }
func (k keys) incumbent(id string) string { return k.p + ":x:" + id + ":inc" }
func (k keys) log(id string) string       { return k.p + ":x:" + id + ":log" }
func (k keys) events(id string) string    { return k.p + ":x:" + id + ":ev" }
func (k keys) files(id string) string     { return k.p + ":x:" + id + ":files" }
func (k keys) cancelChannel() string      { return k.p + ":cancel" }
func (k keys) done(id string) string      { return k.p + ":done:" + id }
func (k keys) lock(name string) string    { return k.p + ":lock:" + name }

// cbLog is the list of an execution's callback attempts (JSON each), and
// cbDue the set of executions whose callback is due, scored by the time
// it is due or its claim ends (ms); lib/callbacks.lua builds the same name.
func (k keys) cbLog(id string) string { return k.p + ":x:" + id + ":cb" }
func (k keys) cbDue() string          { return k.p + ":cb:due" }

// Execution indexes: sorted sets of ids scored by creation time (ms), so
// that every listing reads one set, or merges a few (list.go). Those that
// depend on the state move with it in the state-change scripts
// (lua/lib/index.lua builds the same names). Job type names hold no ':'
// (registry) and states are fixed words, so each name reads one way.
//
// There is no set per state alone nor of all executions: each would cost
// every execution another entry (about 145 bytes); a state's executions
// are the union of its sets per job type, merged when read (stateSets).

// ixState was 0.1.0's index of one state. Nothing is written there now;
// scripts are given its name to learn the prefix (lib/index's ix_prefix).
func (k keys) ixState(s job.State) string { return k.p + ":ix:st:" + string(s) }

// ixJobTypes is the set of job types that have executions stored.
func (k keys) ixJobTypes() string { return k.p + ":ix:jts" }

// ixStateType holds the executions of one job type in one state.
func (k keys) ixStateType(s job.State, t string) string {
	return k.p + ":ix:sj:" + string(s) + ":" + t
}

// ixStateOwner holds one owner's executions in one state.
func (k keys) ixStateOwner(s job.State, o string) string {
	return k.p + ":ix:os:" + string(s) + ":" + o
}

// ixTypeOwner holds one owner's executions of one job type, any state.
func (k keys) ixTypeOwner(t, o string) string { return k.p + ":ix:oj:" + t + ":" + o }

// ixInstance holds the executions that ran on one stored instance.
func (k keys) ixInstance(i string) string { return k.p + ":ix:inst:" + i }

// ixLabel holds the executions whose metadata has key = value (the key's
// length first, so that a key holding "=" reads one way).
func (k keys) ixLabel(key, value string) string {
	return k.p + ":ix:md:" + strconv.Itoa(len(key)) + ":" + key + "=" + value
}

// The indexes of the layout of 0.1.0: one set per dimension, intersected
// per request. Only Reindex and delete read them now.
func (k keys) oldIxAll() string { return k.p + ":ix:all" }

// instance keys
func (k keys) inst(id string) string       { return k.p + ":i:" + id }
func (k keys) instData(id string) string   { return k.p + ":i:" + id + ":data" }
func (k keys) ixInstAll() string           { return k.p + ":ix:i:all" }
func (k keys) ixInstOwner(o string) string { return k.p + ":ix:i:own:" + o }
