// Package factor holds what the login flow engine asks of a kind of second
// factor, and the small pieces several kinds share (random codes, keyed code
// hashes, masked destinations). Each kind lives in a package of its own
// below this one and is registered with the engine in one place
// (flow/factors.go). The engine keeps the rules every factor obeys: it
// charges each guess before the factor checks it, and commits the check's
// effects and the audit record in one write transaction.
package factor
