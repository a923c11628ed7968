package queue

import (
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// asynqModule is asynq's module path, as build info lists it.
const asynqModule = "github.com/hibiken/asynq"

// LayoutTested lists the asynq releases whose private Redis layout (task
// hash fields, key names, the TaskMessage encoding, the done script's
// arguments) NewTask, Completion and the store's scripts are written for.
// Each is checked by this package's tests: asynq's own Inspector and
// Server read and run tasks written this way, and count them processed.
// Add a release here only after running those tests against it.
var LayoutTested = []string{"v0.26.0"}

// LinkedVersion returns the asynq version linked into this binary (a
// replacement's version when go.mod replaces asynq), or "" when it cannot
// be told (a replacement by a local directory, a vendored asynq, a binary
// built without module information).
//
// The build info (runtime/debug) says it for a program. A test binary's
// build info lists no dependencies (golang/go#33976), so there the
// version is read from the path asynq's code was compiled from, which
// names the module version ("…/github.com/hibiken/asynq@v0.26.0/…", with
// or without -trimpath).
func LinkedVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if ok && len(bi.Deps) > 0 {
		for _, m := range bi.Deps {
			if m.Path != asynqModule {
				continue
			}
			if m.Replace != nil {
				return m.Replace.Version
			}
			return m.Version
		}
		return ""
	}
	return versionFromPath(asynqSourceFile())
}

// asynqSourceFile returns the file an asynq function was compiled from.
func asynqSourceFile() string {
	pc := reflect.ValueOf(asynq.NewClientFromRedisClient).Pointer()
	f := runtime.FuncForPC(pc)
	if f == nil {
		return ""
	}
	file, _ := f.FileLine(pc)
	return file
}

// versionFromPath returns the version in a module cache path of asynq's
// ("…/github.com/hibiken/asynq@v0.26.0/client.go"), or "".
func versionFromPath(file string) string {
	_, rest, ok := strings.Cut(filepath.ToSlash(file), asynqModule+"@")
	if !ok {
		return ""
	}
	v, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return v
}

// LayoutKnown reports whether version is one of LayoutTested.
func LayoutKnown(version string) bool { return slices.Contains(LayoutTested, version) }

// Path is how solvekit moves its tasks through asynq, chosen once when a
// Service starts (ChoosePath).
type Path struct {
	// Fused: tasks are created in the script that creates their execution
	// record (NewTask) and completed in the script that records the
	// attempt's end (Completion, ServerConfig.CompleteInScripts). Otherwise
	// tasks are enqueued with asynq's Client.EnqueueContext (with a TaskID)
	// and completed by asynq's Server when the handler returns.
	Fused bool
	// Layout: solvekit may use asynq's private Redis layout outside asynq's
	// API at all: to check in one round trip whether queued executions
	// still have tasks (HasTasks), and to retire the task of a dead worker
	// (Retire). Without it HasTasks asks asynq's Inspector and a dead
	// worker's task is left to asynq's own recovery (its lease expires and
	// asynq delivers it again, to a handler that finds nothing to run).
	Layout bool
	// Reason says why Fused is false ("" when it is true).
	Reason string
}

// Name is "fused" or "public", as New logs it.
func (p Path) Name() string {
	if p.Fused {
		return "fused"
	}
	return "public"
}

// ChoosePath decides how tasks move, from the linked asynq version (see
// LinkedVersion), whether Redis is a Cluster, and whether the
// configuration forces asynq's public API:
//
//   - forced, or a version not in LayoutTested: the public path, and no
//     use of asynq's layout at all (a forced public path behaves exactly
//     as an untested asynq release does, so tests of it cover that case);
//   - a tested version on Redis Cluster: the public path for creating and
//     completing tasks (asynq's keys and solvekit's hash to different
//     slots, so one script cannot write both), but Retire and the
//     one-round-trip HasTasks (single-slot, single-queue) are used;
//   - a tested version elsewhere: the fused path.
func ChoosePath(version string, cluster, forced bool) Path {
	switch {
	case forced:
		return Path{Reason: "Config.AsynqPublicAPI is set"}
	case !LayoutKnown(version):
		return Path{Reason: "asynq " + strconv.Quote(version) + " is not a release whose Redis layout solvekit's tests check (" + strings.Join(LayoutTested, ", ") + ")"}
	case cluster:
		return Path{Layout: true, Reason: "Redis Cluster keeps asynq's keys and solvekit's in different slots"}
	}
	return Path{Fused: true, Layout: true}
}
