// Package storetest is the behaviour every store.Store must show, written once
// and run against each backend (SQLite and PostgreSQL), in the manner of dex's
// storage/conformance. The security invariants are tested with goroutines
// that really race, because a rule that only holds one request at a time does
// not hold at all.
package storetest
