// Package auditchain makes the audit log tamper-evident (X6, G5).
//
// Every event is stamped when it is appended, inside the business
// transaction and without any lock: the SHA-256 of its canonical content
// and an HMAC of that content under a key derived from the master key
// (Stamp). A Sealer, run by every server, then chains each tenant's events
// in order under the tenant's chain head lock: seq, the previous hash and
// SHA-256(prev ‖ content hash ‖ seq). From time to time it signs the head
// with an Ed25519 key derived from the master key (a checkpoint). Verify
// walks a tenant's chain and checkpoints in pages and reports the first
// event altered, inserted, deleted, reordered or truncated.
//
// docs/audit.md says what this protects against and what it cannot.
package auditchain
