// Package portal is the self-service MFA portal: the server-rendered pages a
// person uses to sign in, enrol and manage their second factors, recover a
// lost device or account, and report an MFA issue (issue 4; A2–A13, C1–C13).
//
// Pages are html/template files embedded in the binary and parsed at start,
// every user-facing string comes from the catalogue in text/<language>/, and
// every rule is the flow engine's: the portal is one more front door.
// Sessions live in the database, so any server behind a load balancer can
// serve any request.
package portal
