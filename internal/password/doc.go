// Package password hashes passwords with argon2id and checks them against a
// tenant's password policy.
//
// Argon2id is deliberately memory-hard, so every hash costs Params.Memory of
// RAM. A Hasher therefore runs at most a fixed number of hashes at once and
// makes the rest wait briefly, then answers ErrBusy: a burst of logins turns
// into 503 responses instead of exhausting the server's memory. At most a
// bounded number of callers wait; one more is answered ErrBusy at once.
//
// A Hasher may compute in a worker process (Options.Process, RunWorker) at
// a lower CPU priority, so that a flood of password logins cannot take the
// CPU from everything else the server does; it still gets every core when
// nothing else wants them. The worker speaks length-prefixed frames with
// request ids over its standard input and output (frame.go), and its
// failures are ErrBusy to callers.
//
// Stored hashes use the PHC string format, so they carry their own
// parameters; raising the parameters later keeps old hashes verifiable and
// Verify reports when one should be replaced.
package password
