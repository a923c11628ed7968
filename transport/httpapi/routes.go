package httpapi

import (
	"strings"

	"github.com/solvekit/solvekit/transport/api"
)

// The fields a PATCH's ?update_mask= may name: its handler accepts these
// and its route documents them.
var (
	instanceMask   = []string{"name", "description", "metadata", "tags"}
	executionMask  = []string{"name", "metadata", "tags"}
	scheduleMask   = []string{"name", "cron", "time_zone", "job_type", "instance_id", "instance", "config", "metadata", "enabled", "catch_up"}
	experimentMask = []string{"baseline"}
)

// maskQuery documents ?update_mask= naming some of fields.
func maskQuery(fields []string) []qparam {
	return []qparam{{"update_mask", "string", "comma-separated: " + strings.Join(fields, ", ")}}
}

// limitQuery is the page size of every paged listing.
var limitQuery = qparam{"limit", "integer", "page size, 1 to 1000 (default 25)"}

var pageQuery = []qparam{
	limitQuery,
	{"offset", "integer", "entries to skip (default 0)"},
}

// tagPageQuery pages the tags routes, with tokens only.
var tagPageQuery = []qparam{
	limitQuery,
	{"page_token", "string", "continue after the page that returned this next_page_token"},
}

// tokenPageQuery pages the listings of executions and instances: a page
// token at any depth, or a bounded offset.
var tokenPageQuery = []qparam{
	limitQuery,
	{"page_token", "string", "continue after the page that returned this next_page_token (newest first; stable while executions are added or deleted); not with offset"},
	{"offset", "integer", "entries to skip (default 0), at most 1000 and only for filters one index serves (400 otherwise): prefer page_token"},
}

// routeTable is the single source of truth: New registers exactly these
// routes and the OpenAPI document describes exactly these routes.
func (h *handler) routeTable() []*route {
	rs := []*route{
		// service
		{method: "GET", path: "/health", op: "getHealth", summary: "Liveness and Redis reachability (no credentials)", tag: "service",
			access: accOpen, handle: h.health, status: 200, resp: api.Health{}},
		{method: "GET", path: "/version", op: "getVersion", summary: "solvekit version", tag: "service",
			access: accRead, handle: h.version, status: 200, resp: api.Version{}},
		{method: "GET", path: "/status", op: "getStatus", summary: "Service name, version, job types and execution counts by state", tag: "service",
			access: accRead, handle: h.status, status: 200, resp: api.ServiceStatus{}},
		{method: "GET", path: "/openapi.json", op: "getOpenAPI", summary: "This API's OpenAPI 3.1 document, with every job type's schemas", tag: "service",
			access: accRead, handle: h.openAPI, status: 200, kind: "any-json"},

		// auth
		{method: "POST", path: "/login", op: "login", summary: "Exchange username and password for a bearer token (throttled per username and IP)", tag: "auth",
			access: accOpen, handle: h.login, body: &api.LoginRequest{}, status: 200, resp: api.TokenResponse{}, errs: []int{401, 429}},
		{method: "GET", path: "/token", op: "getToken", summary: "Check the presented credentials", tag: "auth",
			access: accAny, handle: h.tokenInfo, status: 200, resp: api.TokenInfo{}},
		{method: "GET", path: "/user", op: "getCurrentUser", summary: "The current user", tag: "auth",
			access: accAny, handle: h.currentUser, status: 200, resp: api.User{}},
		{method: "PUT", path: "/user/password", op: "changePassword", summary: "Change the current user's password (older tokens stop working)", tag: "auth",
			access: accAny, handle: h.changePassword, body: &api.PasswordChange{}, status: 204},

		// users and API keys
		{method: "GET", path: "/users", op: "listUsers", summary: "List users", tag: "users",
			access: accAdmin, handle: h.listUsers, status: 200, resp: api.UserList{}, query: pageQuery},
		{method: "POST", path: "/users", op: "createUser", summary: "Create a user (also with the one-time bootstrap token)", tag: "users",
			access: accAdmin, bootstrap: true, handle: h.createUser, body: &api.UserCreate{}, status: 201, resp: api.User{}, errs: []int{409}},
		{method: "GET", path: "/users/{id}", op: "getUser", summary: "Get a user", tag: "users",
			access: accAdmin, handle: h.getUser, status: 200, resp: api.User{}},
		{method: "PATCH", path: "/users/{id}", op: "patchUser", summary: "Update a user", tag: "users",
			access: accAdmin, handle: h.patchUser, body: &api.UserPatch{}, status: 200, resp: api.User{},
			query: []qparam{{"update_mask", "string", "comma-separated fields to update: username, email, role, disabled, password"}}, errs: []int{409}},
		{method: "DELETE", path: "/users/{id}", op: "deleteUser", summary: "Delete a user and its API keys", tag: "users",
			access: accAdmin, handle: h.deleteUser, status: 204, errs: []int{409}},
		{method: "POST", path: "/apiKeys", op: "createAPIKey", summary: "Create an API key (its secret is shown once)", tag: "users",
			access: accAny, handle: h.createAPIKey, body: &api.APIKeyCreate{}, status: 201, resp: api.APIKeyCreated{}},
		{method: "GET", path: "/apiKeys", op: "listAPIKeys", summary: "List your API keys (admins: all, or ?user_id=)", tag: "users",
			access: accAny, handle: h.listAPIKeys, status: 200, resp: api.APIKeyList{},
			query: append([]qparam{{"user_id", "string", "admins: one user's keys"}}, pageQuery...)},
		{method: "GET", path: "/apiKeys/{id}", op: "getAPIKey", summary: "An API key (without its secret)", tag: "users",
			access: accAny, handle: h.getAPIKey, status: 200, resp: api.APIKey{}},
		{method: "DELETE", path: "/apiKeys/{id}", op: "deleteAPIKey", summary: "Revoke an API key", tag: "users",
			access: accAny, handle: h.deleteAPIKey, status: 204},

		// job types
		{method: "GET", path: "/jobTypes", op: "listJobTypes", summary: "List job types", tag: "jobTypes",
			access: accRead, handle: h.listJobTypes, status: 200, resp: api.JobTypeList{}, query: pageQuery},
		{method: "GET", path: "/jobTypes/{name}", op: "getJobType", summary: "A job type with its instance, config and solution schemas and solvers", tag: "jobTypes",
			access: accRead, handle: h.getJobType, status: 200, resp: api.JobTypeDetail{}},
		{method: "PATCH", path: "/jobTypes/{name}", op: "patchJobType", summary: "Pause or resume a job type (update_mask=is_paused)", tag: "jobTypes",
			access: accAdmin, handle: h.patchJobType, body: &api.JobTypePatch{}, status: 200, resp: api.JobTypeDetail{},
			query: []qparam{{"update_mask", "string", "is_paused"}}},

		// instances
		{method: "POST", path: "/instances", op: "createInstance", summary: "Store an instance (JSON, or a multipart .json/.mps/.lp file)", tag: "instances",
			access: accWrite, handle: h.createInstance, body: &api.InstanceCreate{}, multipart: true, status: 201, resp: api.Instance{}},
		{method: "GET", path: "/instances", op: "listInstances", summary: "List instances", tag: "instances",
			access: accRead, handle: h.listInstances, status: 200, resp: api.InstanceList{},
			query: append([]qparam{{"tag", "string", "keeps instances carrying this tag (its own index)"}}, tokenPageQuery...)},
		{method: "GET", path: "/instances/{id}", op: "getInstance", summary: "Get an instance's record", tag: "instances",
			access: accRead, handle: showOwned(h.instance), status: 200, resp: api.Instance{}},
		{method: "PATCH", path: "/instances/{id}", op: "patchInstance", summary: "Update an instance's name, description, metadata or tags", tag: "instances",
			access: accWrite, handle: h.patchInstance, body: &api.InstancePatch{}, status: 200, resp: api.Instance{},
			query: maskQuery(instanceMask)},
		{method: "DELETE", path: "/instances/{id}", op: "deleteInstance", summary: "Delete an instance (409 while an instance set holds it)", tag: "instances",
			access: accWrite, handle: h.deleteInstance, status: 204, errs: []int{409}},
		{method: "GET", path: "/instances/{id}/data", op: "getInstanceData", summary: "An instance's data", tag: "instances",
			access: accRead, handle: h.instanceData, status: 200, kind: "any-json"},
		{method: "POST", path: "/instances/{id}/checks", op: "checkInstance", summary: "Validate an instance and run its job type's checks", tag: "instances",
			access: accRead, handle: h.checkInstance, body: &api.CheckRequest{}, status: 200, resp: api.CheckReport{}},

		// executions
		{method: "POST", path: "/executions", op: "createExecution", summary: "Submit an execution (sync job types answer with the result; ?wait= long-polls async ones)", tag: "executions",
			access: accWrite, handle: h.createExecution, body: &api.ExecutionCreate{}, status: 201, replay: 200, resp: api.Execution{},
			query: []qparam{{"wait", "string", "wait up to this long (e.g. 30s) for an async execution to finish"}},
			headers: []qparam{{"Idempotency-Key", "string", "makes the submit safe to repeat: the same key (per user) with the same body within the idempotency window " +
				"answers 200 with the execution the first request created (without its job_key); with another body, 422"}},
			errs: []int{409, 503}},
		{method: "POST", path: "/executions:batch", op: "createExecutions", summary: "Submit up to 1000 async executions at once, all or none: each is checked first, then one Redis script stores them all", tag: "executions",
			access: accWrite, handle: h.createExecutions, body: &api.ExecutionBatch{}, status: 201, resp: api.ExecutionBatchResult{}, errs: []int{409}},
		{method: "GET", path: "/executions", op: "listExecutions", summary: "List executions, newest first", tag: "executions",
			access: accRead, handle: h.listExecutions, status: 200, resp: api.ExecutionList{},
			query: append([]qparam{
				{"status", "string", "state: scheduled, queued, running, succeeded, failed, stopped, timed_out; lost and invalid are accepted and match nothing (no record rests in them)"},
				{"job_type", "string", "job type name"},
				{"instance_id", "string", "instance id"},
				{"owner", "string", "owner id"},
				{"schedule_id", "string", "executions created by this periodic schedule"},
				{"created_after", "string", "RFC 3339 time"},
				{"created_before", "string", "RFC 3339 time"},
				{"metadata.{key}", "string", "keeps executions whose metadata has this key with this value (one parameter per label, e.g. metadata.team=ops)"},
				{"tag", "string", "keeps executions carrying this tag (its own index)"},
			}, tokenPageQuery...)},
		{method: "DELETE", path: "/executions", op: "cleanupExecutions", summary: "Delete executions finished before a time", tag: "executions",
			access: accAdmin, handle: h.cleanupExecutions, status: 200, resp: api.CleanupResult{},
			query: []qparam{{"finished_before", "string", "RFC 3339 time (required)"}}},
		{method: "GET", path: "/executions/{id}", op: "getExecution", summary: "Get an execution", tag: "executions",
			access: accRead, jobKey: true, handle: h.getExecution, status: 200, resp: api.Execution{},
			query: []qparam{{"wait", "string", "long poll: answer when the execution ends or after this long (e.g. 30s), whichever is first"}}},
		{method: "PATCH", path: "/executions/{id}", op: "patchExecution", summary: "Update an execution's name, metadata or tags", tag: "executions",
			access: accWrite, handle: h.patchExecution, body: &api.ExecutionPatch{}, status: 200, resp: api.Execution{},
			query: maskQuery(executionMask)},
		{method: "DELETE", path: "/executions/{id}", op: "deleteExecution", summary: "Delete a finished execution", tag: "executions",
			access: accWrite, handle: h.deleteExecution, status: 204, errs: []int{409}},
		{method: "GET", path: "/executions/{id}/status", op: "getExecutionStatus", summary: "An execution's state and progress", tag: "executions",
			access: accRead, jobKey: true, handle: h.getStatus, status: 200, resp: api.ExecutionStatus{}},
		{method: "PUT", path: "/executions/{id}/status", op: "stopExecution", summary: "Stop an execution ({\"state\":\"stopped\"})", tag: "executions",
			access: accWrite, jobKey: true, handle: h.putStatus, body: &api.StatusUpdate{}, status: 200, resp: api.ExecutionStatus{}, errs: []int{409}},
		{method: "GET", path: "/executions/{id}/data", op: "getExecutionData", summary: "An execution's solution (?part=instance or incumbent for the others)", tag: "executions",
			access: accRead, jobKey: true, handle: h.executionData, status: 200, kind: "any-json",
			query: []qparam{{"part", "string", "solution (default), instance or incumbent"}}},
		{method: "GET", path: "/executions/{id}/log", op: "getExecutionLog", summary: "An execution's log records, oldest first", tag: "executions",
			access: accRead, jobKey: true, handle: h.executionLog, status: 200, resp: api.LogPage{},
			query: append([]qparam{{"after", "string", "cursor: the next of the previous page"}}, pageQuery...)},
		{method: "GET", path: "/executions/{id}/events", op: "getExecutionEvents", summary: "Server-Sent Events: status, progress, incumbent and log; ends after the final status", tag: "executions",
			access: accRead, jobKey: true, handle: h.events, status: 200, kind: "sse",
			query: []qparam{{"last_event_id", "string", "resume after this event id (or send Last-Event-ID)"}}},
		{method: "POST", path: "/executions/{id}/relaunch", op: "relaunchExecution", summary: "Run a finished execution again, optionally with a new config", tag: "executions",
			access: accWrite, handle: h.relaunch, body: &api.RelaunchRequest{}, status: 200, resp: api.Execution{}, errs: []int{409, 422}},
		{method: "GET", path: "/executions/{id}/files", op: "listExecutionFiles", summary: "List an execution's files", tag: "executions",
			access: accRead, jobKey: true, handle: h.listFiles, status: 200, resp: api.FileList{}},
		{method: "POST", path: "/executions/{id}/files", op: "uploadExecutionFiles", summary: "Attach files (multipart parts named \"file\")", tag: "executions",
			access: accWrite, jobKey: true, handle: h.uploadFiles, multipart: true, status: 201, resp: api.FileList{}},
		{method: "GET", path: "/executions/{id}/files/{name}", op: "getExecutionFile", summary: "Download one file", tag: "executions",
			access: accRead, jobKey: true, handle: h.downloadFile, status: 200, kind: "binary"},

		{method: "GET", path: "/executions/{id}/callbacks", op: "listExecutionCallbacks", summary: "The attempts to deliver an execution's result_url callbacks, oldest first", tag: "executions",
			access: accRead, jobKey: true, handle: h.listCallbacks, status: 200, resp: api.CallbackList{}},

		// tags (pyfarm's tags API)
		{method: "GET", path: "/tags", op: "listTags", summary: "Tags carried by executions, instances or job types, by name, with counts", tag: "tags",
			access: accRead, handle: h.listTags, status: 200, resp: api.TagList{},
			query: tagPageQuery},
		{method: "POST", path: "/tags", op: "attachTag", summary: "Add a tag to executions and instances (all must exist and be yours to change, or nothing changes)", tag: "tags",
			access: accWrite, handle: h.attachTag, body: &api.TagAttach{}, status: 200, resp: api.Tag{}, errs: []int{422}},
		{method: "GET", path: "/tags/{tag}", op: "getTag", summary: "A tag's counts and job types, and a page of what carries it: executions newest first, then instances (ids listed to roles that see every owner's records)", tag: "tags",
			access: accRead, handle: h.getTag, status: 200, resp: api.TagDetail{},
			query: tagPageQuery},
		{method: "DELETE", path: "/tags/{tag}", op: "deleteTag", summary: "Remove a tag from every execution and instance (job types keep theirs: they are set in code)", tag: "tags",
			access: accAdmin, handle: h.deleteTag, status: 200, resp: api.TagRemoval{}},
		// schedules
		{method: "POST", path: "/schedules", op: "createSchedule", summary: "Create a periodic schedule (cron spec with time zone): each tick creates one execution", tag: "schedules",
			access: accWrite, handle: h.createSchedule, body: &api.ScheduleCreate{}, status: 201, resp: api.Schedule{}},
		{method: "GET", path: "/schedules", op: "listSchedules", summary: "List periodic schedules, oldest first", tag: "schedules",
			access: accRead, handle: h.listSchedules, status: 200, resp: api.ScheduleList{},
			query: append([]qparam{{"job_type", "string", "job type name"}, {"owner", "string", "owner id"}}, pageQuery...)},
		{method: "GET", path: "/schedules/{id}", op: "getSchedule", summary: "Get a periodic schedule with its next and last run", tag: "schedules",
			access: accRead, handle: showOwned(h.schedule), status: 200, resp: api.Schedule{}},
		{method: "PATCH", path: "/schedules/{id}", op: "patchSchedule", summary: "Update a periodic schedule (a new cron, time zone or enabled plans the next run from now)", tag: "schedules",
			access: accWrite, handle: h.patchSchedule, body: &api.SchedulePatch{}, status: 200, resp: api.Schedule{},
			query: maskQuery(scheduleMask)},
		{method: "DELETE", path: "/schedules/{id}", op: "deleteSchedule", summary: "Delete a periodic schedule (its executions stay)", tag: "schedules",
			access: accWrite, handle: h.deleteSchedule, status: 204},

		// operations
		{method: "GET", path: "/queues", op: "listQueues", summary: "Queues with counts, latency and paused flag", tag: "operations",
			access: accOps, handle: h.listQueues, status: 200, resp: api.QueueList{}},
		{method: "POST", path: "/queues/{name}/pause", op: "pauseQueue", summary: "Pause a queue", tag: "operations",
			access: accAdmin, handle: h.pauseQueue(true), status: 200, resp: api.Queue{}},
		{method: "POST", path: "/queues/{name}/resume", op: "resumeQueue", summary: "Resume a queue", tag: "operations",
			access: accAdmin, handle: h.pauseQueue(false), status: 200, resp: api.Queue{}},
		{method: "GET", path: "/workers", op: "listWorkers", summary: "Running worker processes", tag: "operations",
			access: accOps, handle: h.listWorkers, status: 200, resp: api.WorkerList{}},
	}
	rs = append(rs, h.experimentRoutes()...) // experiments.go
	if h.opts.AllowSignup && !h.opts.DisableBuiltinAuth {
		rs = append(rs, &route{method: "POST", path: "/signup", op: "signup", summary: "Create an account and get a token", tag: "auth",
			access: accOpen, handle: h.signup, body: &api.SignupRequest{}, status: 201, resp: api.TokenResponse{}, errs: []int{409}})
	}
	return rs
}
