// Package password hashes passwords with argon2id and checks them against a
// tenant's password policy.
//
// Argon2id is deliberately memory-hard, so every hash costs Params.Memory of
// RAM. A Hasher therefore runs at most a fixed number of hashes at once and
// makes the rest wait briefly, then answers ErrBusy: a burst of logins turns
// into 503 responses instead of exhausting the server's memory.
//
// Stored hashes use the PHC string format, so they carry their own
// parameters; raising the parameters later keeps old hashes verifiable and
// Verify reports when one should be replaced.
package password
