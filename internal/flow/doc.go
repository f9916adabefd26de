// Package flow is the login flow engine: every front door (the REST API today,
// the portal, OIDC and RADIUS later) calls it, and none re-implements a rule.
// It checks the password, decides from the tenant's policy whether a second
// factor is needed, runs the login transaction to allow or deny, and enrols
// authenticators. Each guess is charged against the user's counter before it
// is evaluated, and the charge, the evaluation's effects and the audit record
// commit in one transaction.
package flow
