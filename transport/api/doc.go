// Package api holds the wire types of solvekit's REST API: every JSON
// request and response body that transport/httpapi serves and
// transport/client sends and reads. It imports only the standard library
// and package job/record (the records package job re-exports), so a
// program that only calls the API links no server, Redis, asynq or
// validation code.
//
// # Shapes
//
// Field names are snake_case; times are RFC 3339 strings in UTC; a field
// tagged omitempty is left out when empty, every other field is always
// present (null for a nil pointer or slice). The OpenAPI 3.1 document at
// GET /openapi.json is generated from these types by reflection, so the
// two cannot disagree.
//
//   - Requests are the types named after what they do: ExecutionCreate
//     (POST /executions), InstanceCreate, UserCreate, APIKeyCreate,
//     LoginRequest, SignupRequest, PasswordChange, StatusUpdate,
//     RelaunchRequest, CheckRequest. Their validate tags say what the
//     server checks; it refuses unknown, repeated or differently-cased
//     fields.
//   - Updates (ExecutionPatch, InstancePatch, UserPatch, JobTypePatch) are
//     sent with PATCH and ?update_mask=a,b; their fields are pointers, so
//     that a field left out differs from one set to its zero value.
//   - Records are Execution (a job.Execution plus timeout_seconds, and the
//     job key and solution where POST /executions gives them), Instance
//     (a job.Instance), User, APIKey, JobType and JobTypeDetail (with the
//     JSON Schemas), Queue and Worker.
//   - Lists are a page of records and the total across pages:
//     {"executions": [...], "total_entries": n} (ExecutionList,
//     InstanceList, UserList, APIKeyList, JobTypeList, QueueList,
//     WorkerList, FileList). LogPage adds "next", the cursor of the
//     following page (?after=).
//
// # Errors
//
// Every answer that is not 2xx is a Problem (RFC 9457,
// application/problem+json): status, title, detail, the request path as
// instance, solvekit's code (invalid, not_found, conflict, unavailable,
// ...; see job.Code) and, for validation failures, errors[], each a
// job.Violation located by a JSON pointer into the request body ("?name"
// for a query parameter). Its type is ProblemTypeBase followed by the
// code. *Problem is an error, which is how the client returns it:
//
//	var p *api.Problem
//	if errors.As(err, &p) && p.Code == "invalid" {
//		for _, v := range p.Errors {
//			fmt.Println(v.Pointer, v.Message)
//		}
//	}
//
// # Roles
//
// Role names what a principal may do: RoleViewer reads, RolePlanner
// creates and manages its own objects, RoleService runs automation,
// RoleAdmin does everything. GET /token answers with a TokenInfo holding
// the caller's Principal.
package api
