// Package directory manages what administrators and operators own: tenants,
// their units and groups, application and administrator keys, users and their
// statuses, unlocks, factor resets and policy. The REST admin API and the
// command line both call it, so a rule (only a tenant administrator may
// unlock, B6) is written once. Every change is audited.
package directory
