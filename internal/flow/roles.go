package flow

import (
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// Action is something an administrator does to a tenant or to a person.
// Allow is the one place that decides which role may do it; the admin API,
// the console and the command line all ask it (B6, B2, A12).
type Action string

const (
	// ReadPeople: search people, see a person's status, factors, contact
	// points, counters, trusted devices, messages and activity; read the
	// audit log and the reported issues.
	ReadPeople Action = "people.read"
	// WorkReports: take, annotate and close reported MFA issues.
	WorkReports Action = "reports.work"
	// ResendMessage: send a person their re-enable or enrolment message again.
	ResendMessage Action = "people.resend"
	// Unlock: end a person's lockout (B6: never the help desk).
	Unlock Action = "people.unlock"
	// ResetFactors: revoke a person's factors so they enrol again.
	ResetFactors Action = "people.reset_factors"
	// ChangeContacts: change where a person's codes and calls go (phone,
	// email, call numbers; B2, A12). Policy support_may_change_contacts
	// grants it to the help desk.
	ChangeContacts Action = "people.change_contacts"
	// EnrolForPerson: begin or test a factor on a person's behalf.
	EnrolForPerson Action = "people.enrol"
	// ChangeStatus: set a person's status (C1).
	ChangeStatus Action = "people.status"
	// Terminate: end a compromised account for good (C14).
	Terminate Action = "people.terminate"
	// ManagePeople: create people, groups and units, give console roles.
	ManagePeople Action = "people.manage"
	// ChangePolicy: the tenant's policy, its enablement (B1) and phases (A1).
	ChangePolicy Action = "policy.change"
	// ManageApplications: OpenID Connect clients, signing keys, admin keys.
	ManageApplications Action = "applications.manage"
)

// supportMay is what the help desk (role support) may do.
var supportMay = map[Action]bool{ReadPeople: true, WorkReports: true, ResendMessage: true}

// Allow says whether the caller's administrator role permits the action:
// role admin may do everything, role support what supportMay lists (and
// ChangeContacts when policy grants it); a caller without an administrator
// role (an application, a person in the portal) may do none of them. The
// command line acts with role admin. Refusals are ErrForbidden.
func Allow(c Caller, p policy.Policy, a Action) error {
	if Permits(c.Role, p, a) {
		return nil
	}
	return ErrForbidden
}

// Permits is Allow's rule for a role, for pages that show only what the
// viewer may do.
func Permits(role string, p policy.Policy, a Action) bool {
	switch role {
	case store.RoleAdmin:
		return true
	case store.RoleSupport:
		return supportMay[a] || (a == ChangeContacts && p.SupportMayChangeContacts)
	}
	return false
}
