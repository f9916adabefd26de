// Package outbox delivers SMS, calls and email durably. Enqueue writes a
// message, its payload sealed by the keyring, in the caller's transaction, so
// a message exists exactly when the state that caused it committed. Workers
// claim due messages atomically (several servers never hold one message at
// once), hand them to the tenant's provider, and retry with backoff; the
// payload is erased once delivered or given up. A provider outage or a
// restart loses nothing.
package outbox
