// Package server assembles a running Countersign from its configuration: it
// opens the keyring and the database, builds the flow engine and the
// directory, mounts the REST API with the operational endpoints (/healthz,
// /readyz, /metrics) and serves until its context ends, then drains requests.
package server
