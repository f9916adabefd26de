// Package policy holds a tenant's authentication policy: who must use a second
// factor, which factors are allowed, how many guesses are tolerated and how a
// lockout ends. Every front door reads the same policy through the flow engine,
// so a rule set here holds for the REST API, the portal and every later door.
package policy
