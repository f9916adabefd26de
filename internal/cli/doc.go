// Package cli is the countersign command: serve, migrate, and the operator
// commands that create tenants, applications, keys and users, unlock users,
// reset factors and read the audit log. Every command takes --config and
// --json, so scripts get stable machine-readable output.
package cli
