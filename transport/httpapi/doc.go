// Package httpapi is solvekit's REST surface: an http.Handler that serves
// job types, instances, executions (with Server-Sent Events), execution
// files, users, API keys and queue operations for a *solvekit.Service.
//
// Mount it anywhere, giving the mount path as Options.Prefix:
//
//	h, err := httpapi.New(svc, httpapi.Options{Prefix: "/solver", JWTSecret: secret})
//	mux.Handle("/solver/", h)
//
// Behind http.StripPrefix (without Prefix) it works too: the handler finds
// the stripped part from the request line, so Location headers, problem
// instances and the OpenAPI servers entry carry it. Every route is declared
// once in a route table that both registers the handler on a private Go
// 1.22 ServeMux and produces the OpenAPI 3.1 document at /openapi.json, so
// the two cannot drift apart.
//
// Conventions follow Airflow's REST API: plural camelCase resources,
// snake_case fields, limit/offset paging with total_entries, 201 with the
// created body and a Location, 204 on delete, PATCH with update_mask, and
// errors as RFC 9457 application/problem+json with errors[] (JSON pointer +
// message) for validation failures. JSON bodies are decoded strictly:
// valid UTF-8 only, field names matched exactly, no unknown or repeated
// fields. Everything but /health, /login and (when enabled)
// /signup needs credentials: a bearer JWT from /login, an API key, a
// per-execution job key, or whatever the host application's Authenticator
// accepts.
package httpapi
