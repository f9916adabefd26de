// Package api is Countersign's REST front door under /api/v1: the login API
// that applications call with their API key, and the admin API that tenant
// administrators call with an admin key. Handlers decode and validate input,
// call the flow engine or the directory, and return an error; one function
// turns every error into a JSON body with a stable code from the shared
// catalogue (package problem, docs/errors.md), in the language the request
// asks for, and logs the cause, so no input produces a stack trace.
package api
