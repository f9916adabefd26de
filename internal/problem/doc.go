// Package problem is Countersign's one error vocabulary: every public error
// has a stable code, an HTTP status, a name and a message in each language
// people use, and every front door (the REST API, the portal, the command
// line, and the hosted login and RADIUS to come) renders the same entry in
// its own form. Domain packages name their sentinels' entries with Domain,
// so this package imports none of them.
package problem
