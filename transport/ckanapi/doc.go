// Package ckanapi serves ckan-service-provider's HTTP API on a
// solvekit.Service, so that clients written for ckan-service-provider
// (CKAN's datapusher among them) submit and follow solvekit executions
// unchanged.
//
// It speaks ckan-service-provider's wire format, not solvekit's: a job is
// a JSON "job dict" (job_id, job_type, status, sent_data, data, error,
// metadata, result_url, requested_timestamp, finished_timestamp, logs),
// errors are {"error": "..."} bodies with status 409 (bad input, a taken
// id), 403 (no credential) or 404 (unknown job), and a job is administered
// with its job key, sent bare in the Authorization header:
//
//	Authorization: 9c4b1a2e-...
//
// The routes, relative to where the handler is mounted:
//
//	GET    /                    help
//	GET    /status              name, version, job types and counts (no auth)
//	POST   /job                 submit; the answer carries job_id and job_key
//	POST   /job/{id}            submit under a chosen id (409 when taken)
//	GET    /job                 list job URLs (admin; _status, _limit, _offset, metadata keys)
//	DELETE /job?days=N          delete jobs finished more than N days ago (admin)
//	GET    /job/{id}            the job dict (job key or admin); ?limit=N keeps the N newest logs
//	GET    /job/{id}/data       the raw result, typed by metadata "mimetype"
//	GET    /job/{id}/resubmit   run a finished job again (job key or admin)
//	DELETE /job/{id}            delete a finished job (job key or admin)
//
// An execution's states read as ckan's statuses: queued is "pending",
// running (and lost, which is requeued) "running", succeeded "complete", and
// failed, stopped, timed_out and invalid "error", with the error's message
// in error.message (job.Fail's message reaches it as is).
//
// A job submitted with a result_url is called back when it ends, as
// ckan-service-provider does: its job dict POSTed with the api_key in the
// Authorization header (CallbackFormat; delivered and retried by the
// Service, see docs/callbacks.md). The api_key does not authorize reads:
// use the job key or an admin credential.
package ckanapi
