package httpapi

var pageQuery = []qparam{
	{"limit", "integer", "page size, 1 to 1000 (default 25)"},
	{"offset", "integer", "entries to skip (default 0)"},
}

// routeTable is the single source of truth: New registers exactly these
// routes and the OpenAPI document describes exactly these routes.
func (h *handler) routeTable() []*route {
	rs := []*route{
		// service
		{method: "GET", path: "/health", op: "getHealth", summary: "Liveness and Redis reachability (no credentials)", tag: "service",
			access: accOpen, handle: h.health, status: 200, resp: Health{}},
		{method: "GET", path: "/version", op: "getVersion", summary: "solvekit version", tag: "service",
			access: accRead, handle: h.version, status: 200, resp: Version{}},
		{method: "GET", path: "/status", op: "getStatus", summary: "Service name, version, job types and execution counts by state", tag: "service",
			access: accRead, handle: h.status, status: 200, resp: ServiceStatus{}},
		{method: "GET", path: "/openapi.json", op: "getOpenAPI", summary: "This API's OpenAPI 3.1 document, with every job type's schemas", tag: "service",
			access: accRead, handle: h.openAPI, status: 200, kind: "any-json"},

		// auth
		{method: "POST", path: "/login", op: "login", summary: "Exchange username and password for a bearer token (throttled per username and IP)", tag: "auth",
			access: accOpen, handle: h.login, body: &LoginRequest{}, status: 200, resp: TokenResponse{}},
		{method: "GET", path: "/token", op: "getToken", summary: "Check the presented credentials", tag: "auth",
			access: accAny, handle: h.tokenInfo, status: 200, resp: TokenInfo{}},
		{method: "GET", path: "/user", op: "getCurrentUser", summary: "The current user", tag: "auth",
			access: accAny, handle: h.currentUser, status: 200, resp: User{}},
		{method: "PUT", path: "/user/password", op: "changePassword", summary: "Change the current user's password (older tokens stop working)", tag: "auth",
			access: accAny, handle: h.changePassword, body: &PasswordChange{}, status: 204},

		// users and API keys
		{method: "GET", path: "/users", op: "listUsers", summary: "List users", tag: "users",
			access: accAdmin, handle: h.listUsers, status: 200, resp: UserList{}, query: pageQuery},
		{method: "POST", path: "/users", op: "createUser", summary: "Create a user (also with the one-time bootstrap token)", tag: "users",
			access: accAdmin, bootstrap: true, handle: h.createUser, body: &UserCreate{}, status: 201, resp: User{}},
		{method: "GET", path: "/users/{id}", op: "getUser", summary: "Get a user", tag: "users",
			access: accAdmin, handle: h.getUser, status: 200, resp: User{}},
		{method: "PATCH", path: "/users/{id}", op: "patchUser", summary: "Update a user", tag: "users",
			access: accAdmin, handle: h.patchUser, body: &UserPatch{}, status: 200, resp: User{},
			query: []qparam{{"update_mask", "string", "comma-separated fields to update: username, email, role, disabled, password"}}},
		{method: "DELETE", path: "/users/{id}", op: "deleteUser", summary: "Delete a user and its API keys", tag: "users",
			access: accAdmin, handle: h.deleteUser, status: 204},
		{method: "POST", path: "/apiKeys", op: "createAPIKey", summary: "Create an API key (its secret is shown once)", tag: "users",
			access: accAny, handle: h.createAPIKey, body: &APIKeyCreate{}, status: 201, resp: APIKeyCreated{}},
		{method: "GET", path: "/apiKeys", op: "listAPIKeys", summary: "List your API keys (admins: all, or ?user_id=)", tag: "users",
			access: accAny, handle: h.listAPIKeys, status: 200, resp: APIKeyList{},
			query: append([]qparam{{"user_id", "string", "admins: one user's keys"}}, pageQuery...)},
		{method: "DELETE", path: "/apiKeys/{id}", op: "deleteAPIKey", summary: "Revoke an API key", tag: "users",
			access: accAny, handle: h.deleteAPIKey, status: 204},

		// job types
		{method: "GET", path: "/jobTypes", op: "listJobTypes", summary: "List job types", tag: "jobTypes",
			access: accRead, handle: h.listJobTypes, status: 200, resp: JobTypeList{}, query: pageQuery},
		{method: "GET", path: "/jobTypes/{name}", op: "getJobType", summary: "A job type with its instance, config and solution schemas and solvers", tag: "jobTypes",
			access: accRead, handle: h.getJobType, status: 200, resp: JobTypeDetail{}},
		{method: "PATCH", path: "/jobTypes/{name}", op: "patchJobType", summary: "Pause or resume a job type (update_mask=is_paused)", tag: "jobTypes",
			access: accAdmin, handle: h.patchJobType, body: &JobTypePatch{}, status: 200, resp: JobTypeDetail{},
			query: []qparam{{"update_mask", "string", "is_paused"}}},

		// instances
		{method: "POST", path: "/instances", op: "createInstance", summary: "Store an instance (JSON, or a multipart .json/.mps/.lp file)", tag: "instances",
			access: accWrite, handle: h.createInstance, body: &InstanceCreate{}, multipart: true, status: 201, resp: Instance{}},
		{method: "GET", path: "/instances", op: "listInstances", summary: "List instances", tag: "instances",
			access: accRead, handle: h.listInstances, status: 200, resp: InstanceList{}, query: pageQuery},
		{method: "GET", path: "/instances/{id}", op: "getInstance", summary: "Get an instance's record", tag: "instances",
			access: accRead, handle: h.getInstance, status: 200, resp: Instance{}},
		{method: "PATCH", path: "/instances/{id}", op: "patchInstance", summary: "Update an instance's name, description or metadata", tag: "instances",
			access: accWrite, handle: h.patchInstance, body: &InstancePatch{}, status: 200, resp: Instance{},
			query: []qparam{{"update_mask", "string", "comma-separated: name, description, metadata"}}},
		{method: "DELETE", path: "/instances/{id}", op: "deleteInstance", summary: "Delete an instance", tag: "instances",
			access: accWrite, handle: h.deleteInstance, status: 204},
		{method: "GET", path: "/instances/{id}/data", op: "getInstanceData", summary: "An instance's data", tag: "instances",
			access: accRead, handle: h.instanceData, status: 200, kind: "any-json"},
		{method: "POST", path: "/instances/{id}/checks", op: "checkInstance", summary: "Validate an instance and run its job type's checks", tag: "instances",
			access: accRead, handle: h.checkInstance, body: &CheckRequest{}, status: 200, resp: CheckReport{}},

		// executions
		{method: "POST", path: "/executions", op: "createExecution", summary: "Submit an execution (sync job types answer with the result; ?wait= long-polls async ones)", tag: "executions",
			access: accWrite, handle: h.createExecution, body: &ExecutionCreate{}, status: 201, resp: Execution{},
			query: []qparam{{"wait", "string", "wait up to this long (e.g. 30s) for an async execution to finish"}}},
		{method: "GET", path: "/executions", op: "listExecutions", summary: "List executions, newest first", tag: "executions",
			access: accRead, handle: h.listExecutions, status: 200, resp: ExecutionList{},
			query: append([]qparam{
				{"status", "string", "state: queued, running, succeeded, failed, stopped, timed_out"},
				{"job_type", "string", "job type name"},
				{"instance_id", "string", "instance id"},
				{"owner", "string", "owner id"},
				{"created_after", "string", "RFC 3339 time"},
				{"created_before", "string", "RFC 3339 time"},
			}, pageQuery...)},
		{method: "DELETE", path: "/executions", op: "cleanupExecutions", summary: "Delete executions finished before a time", tag: "executions",
			access: accAdmin, handle: h.cleanupExecutions, status: 200, resp: CleanupResult{},
			query: []qparam{{"finished_before", "string", "RFC 3339 time (required)"}}},
		{method: "GET", path: "/executions/{id}", op: "getExecution", summary: "Get an execution", tag: "executions",
			access: accRead, jobKey: true, handle: h.getExecution, status: 200, resp: Execution{}},
		{method: "PATCH", path: "/executions/{id}", op: "patchExecution", summary: "Update an execution's name or metadata", tag: "executions",
			access: accWrite, handle: h.patchExecution, body: &ExecutionPatch{}, status: 200, resp: Execution{},
			query: []qparam{{"update_mask", "string", "comma-separated: name, metadata"}}},
		{method: "DELETE", path: "/executions/{id}", op: "deleteExecution", summary: "Delete a finished execution", tag: "executions",
			access: accWrite, handle: h.deleteExecution, status: 204},
		{method: "GET", path: "/executions/{id}/status", op: "getExecutionStatus", summary: "An execution's state and progress", tag: "executions",
			access: accRead, jobKey: true, handle: h.getStatus, status: 200, resp: ExecutionStatus{}},
		{method: "PUT", path: "/executions/{id}/status", op: "stopExecution", summary: "Stop an execution ({\"state\":\"stopped\"})", tag: "executions",
			access: accWrite, jobKey: true, handle: h.putStatus, body: &StatusUpdate{}, status: 200, resp: ExecutionStatus{}},
		{method: "GET", path: "/executions/{id}/data", op: "getExecutionData", summary: "An execution's solution (?part=instance or incumbent for the others)", tag: "executions",
			access: accRead, jobKey: true, handle: h.executionData, status: 200, kind: "any-json",
			query: []qparam{{"part", "string", "solution (default), instance or incumbent"}}},
		{method: "GET", path: "/executions/{id}/log", op: "getExecutionLog", summary: "An execution's log records, oldest first", tag: "executions",
			access: accRead, jobKey: true, handle: h.executionLog, status: 200, resp: LogPage{},
			query: append([]qparam{{"after", "string", "cursor: the next of the previous page"}}, pageQuery...)},
		{method: "GET", path: "/executions/{id}/events", op: "getExecutionEvents", summary: "Server-Sent Events: status, progress, incumbent and log; ends after the final status", tag: "executions",
			access: accRead, jobKey: true, handle: h.events, status: 200, kind: "sse",
			query: []qparam{{"last_event_id", "string", "resume after this event id (or send Last-Event-ID)"}}},
		{method: "POST", path: "/executions/{id}/relaunch", op: "relaunchExecution", summary: "Run a finished execution again, optionally with a new config", tag: "executions",
			access: accWrite, handle: h.relaunch, body: &RelaunchRequest{}, status: 200, resp: Execution{}},
		{method: "GET", path: "/executions/{id}/files", op: "listExecutionFiles", summary: "List an execution's files", tag: "executions",
			access: accRead, jobKey: true, handle: h.listFiles, status: 200, resp: FileList{}},
		{method: "POST", path: "/executions/{id}/files", op: "uploadExecutionFiles", summary: "Attach files (multipart parts named \"file\")", tag: "executions",
			access: accWrite, jobKey: true, handle: h.uploadFiles, multipart: true, status: 201, resp: FileList{}},
		{method: "GET", path: "/executions/{id}/files/{name}", op: "getExecutionFile", summary: "Download one file", tag: "executions",
			access: accRead, jobKey: true, handle: h.downloadFile, status: 200, kind: "binary"},

		// operations
		{method: "GET", path: "/queues", op: "listQueues", summary: "Queues with counts, latency and paused flag", tag: "operations",
			access: accOps, handle: h.listQueues, status: 200, resp: QueueList{}},
		{method: "POST", path: "/queues/{name}/pause", op: "pauseQueue", summary: "Pause a queue", tag: "operations",
			access: accAdmin, handle: h.pauseQueue(true), status: 200, resp: Queue{}},
		{method: "POST", path: "/queues/{name}/resume", op: "resumeQueue", summary: "Resume a queue", tag: "operations",
			access: accAdmin, handle: h.pauseQueue(false), status: 200, resp: Queue{}},
		{method: "GET", path: "/workers", op: "listWorkers", summary: "Running worker processes", tag: "operations",
			access: accOps, handle: h.listWorkers, status: 200, resp: WorkerList{}},
	}
	if h.opts.AllowSignup && !h.opts.DisableBuiltinAuth {
		rs = append(rs, &route{method: "POST", path: "/signup", op: "signup", summary: "Create an account and get a token", tag: "auth",
			access: accOpen, handle: h.signup, body: &SignupRequest{}, status: 201, resp: TokenResponse{}})
	}
	return rs
}
