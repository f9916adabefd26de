package directory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// The help desk's work on people: search, terminate a compromised account,
// the reported-issues queue and messages sent again (issue 13). Each method
// asks flow.Allow itself, whichever front door calls it.

// Limits of what the help desk types.
const (
	MaxSearchQuery = 100 // also an assignee's length
	MaxNote        = 2000
	MaxReason      = 500
)

// UserSearch is the help desk's search of people: Query matches the start
// of the login ID or email address, the start of any word of the name, or
// a phone number (all 10 digits, or its last 4 or more); Status, when set,
// must match. Results are in login ID order, after After.
type UserSearch struct {
	Query, Status, After string
	Limit                int
}

// SearchUsers finds people for the help desk (ReadPeople).
func (s *Service) SearchUsers(ctx context.Context, c flow.Caller, q UserSearch) ([]store.User, error) {
	if err := s.Allow(ctx, c, flow.ReadPeople); err != nil {
		return nil, err
	}
	var errs validate.Errors
	f := store.UserFilter{TenantID: c.TenantID, Limit: q.Limit}
	f.Query = searchText(&errs, "q", q.Query)
	if q.Status != "" && !slices.Contains(store.Statuses, q.Status) && q.Status != store.StatusTerminated {
		errs.Add("status", "invalid", "Status must be one of "+strings.Join(append(slices.Clone(store.Statuses), store.StatusTerminated), ", ")+".")
	}
	f.Status = q.Status
	f.After = searchText(&errs, "after", q.After)
	if q.Limit < 0 || q.Limit > 1000 {
		errs.AddLimit("limit", "invalid", "limit must be a whole number from 1 to 1000.", 1000)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s.Store.SearchUsers(ctx, f)
}

// searchText checks one line of search text: usable, printable, at most
// MaxSearchQuery characters.
func searchText(errs *validate.Errors, field, v string) string {
	if !validate.Usable(v) {
		validate.Unusable(errs, field)
		return ""
	}
	v = validate.Text(errs, field, v, false, MaxSearchQuery)
	if strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) {
		errs.Add(field, "invalid_chars", validate.Label(field)+" must be one line of text. Remove line breaks and special characters.")
	}
	return v
}

// TerminateResult is what terminating an account ended (C14).
type TerminateResult struct {
	UserID         string    `json:"user_id"`
	LoginID        string    `json:"login_id"`
	TerminatedAt   time.Time `json:"terminated_at"`
	Factors        int       `json:"factors_revoked"`
	PortalSessions int       `json:"portal_sessions_ended"`
	TrustedDevices int       `json:"trusted_devices_revoked"`
	LoginTxns      int       `json:"logins_denied"`
	OutboxMessages int       `json:"messages_cancelled"`
	PushChallenges int       `json:"pushes_ended"`
	Challenges     int       `json:"codes_ended"`
	OIDCTokens     int       `json:"oidc_tokens_revoked"`
	OIDCCodes      int       `json:"oidc_codes_ended"`
}

// Terminate ends a compromised account for good (C14; administrators only):
// in one transaction its status becomes terminated (final: no path sets
// another), and every factor, portal session, trusted device, login under
// way, live code, open push, unsent message and OpenID Connect token or code
// of the person ends. The login ID stays taken; the person needs a new
// account with a new login ID. Nobody is notified (the account is
// compromised); the audit event user.terminated records who, why and what
// ended.
func (s *Service) Terminate(ctx context.Context, c flow.Caller, userID, reason string) (*TerminateResult, error) {
	if err := s.Allow(ctx, c, flow.Terminate); err != nil {
		return nil, errors.Join(err, s.Engine.Audit(ctx, s.Store, c, flow.Event{UserID: userID, Event: "user.terminated", Outcome: "refused", Detail: map[string]any{"reason": "role_" + c.Role}}))
	}
	var errs validate.Errors
	reason = validate.Text(&errs, "reason", reason, true, MaxReason)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	u, err := s.Store.UserByID(ctx, c.TenantID, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var t store.Termination
	err = s.Store.InTx(ctx, func(q store.Queries) error {
		var err error
		if t, err = q.TerminateUser(ctx, c.TenantID, u.ID, c.Actor, reason, now); err != nil {
			return err
		}
		return s.Engine.Audit(ctx, q, c, flow.Event{UserID: u.ID, Event: "user.terminated", Outcome: "success", Detail: map[string]any{
			"login_id": u.LoginID, "reason": reason, "factors": t.Factors, "portal_sessions": t.PortalSessions,
			"trusted_devices": t.TrustedDevices, "logins": t.LoginTxns, "messages": t.OutboxMessages, "pushes": t.PushChallenges,
			"codes": t.Challenges, "oidc_tokens": t.OIDCTokens, "oidc_codes": t.OIDCCodes,
		}})
	})
	if errors.Is(err, store.ErrTerminated) {
		return nil, errTerminated()
	}
	if err != nil {
		return nil, err
	}
	return &TerminateResult{UserID: u.ID, LoginID: u.LoginID, TerminatedAt: now, Factors: t.Factors, PortalSessions: t.PortalSessions,
		TrustedDevices: t.TrustedDevices, LoginTxns: t.LoginTxns, OutboxMessages: t.OutboxMessages, PushChallenges: t.PushChallenges,
		Challenges: t.Challenges, OIDCTokens: t.OIDCTokens, OIDCCodes: t.OIDCCodes}, nil
}

func errTerminated() error {
	return validate.Errors{{Field: "status", Code: "terminated",
		Message: "This account was terminated; nothing can change its status again. If the person needs access, create a new account with a new Login ID."}}
}

// SupportChange is the help desk's change to a reported issue: a new state,
// a new assignee ("" unassigns), an internal note; nil or empty leaves each
// as it is.
type SupportChange struct {
	State    *string
	Assignee *string
	Note     string
}

// supportMoves lists the states a reported issue may move to from each.
var supportMoves = map[string][]string{
	store.SupportOpen:       {store.SupportInProgress, store.SupportClosed},
	store.SupportInProgress: {store.SupportOpen, store.SupportClosed},
	store.SupportClosed:     {store.SupportOpen}, // reopened
}

// SupportQueue lists reported issues for the help desk, newest first
// (ReadPeople).
func (s *Service) SupportQueue(ctx context.Context, c flow.Caller, f store.SupportFilter) ([]store.SupportRequest, error) {
	if err := s.Allow(ctx, c, flow.ReadPeople); err != nil {
		return nil, err
	}
	var errs validate.Errors
	f.TenantID = c.TenantID
	if f.State != "" && !slices.Contains(store.SupportStates, f.State) {
		errs.Add("state", "invalid", "State must be one of "+strings.Join(store.SupportStates, ", ")+".")
	}
	f.Assignee = searchText(&errs, "assignee", f.Assignee)
	f.Query = searchText(&errs, "q", f.Query)
	f.Before = searchText(&errs, "before", f.Before)
	if f.Limit < 0 || f.Limit > 500 {
		errs.AddLimit("limit", "invalid", "limit must be a whole number from 1 to 500.", 500)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s.Store.SearchSupportRequests(ctx, f)
}

// SupportRequestDetail returns a reported issue and its internal notes,
// oldest first (ReadPeople).
func (s *Service) SupportRequestDetail(ctx context.Context, c flow.Caller, tracking string) (*store.SupportRequest, []store.SupportNote, error) {
	if err := s.Allow(ctx, c, flow.ReadPeople); err != nil {
		return nil, nil, err
	}
	r, err := s.Store.SupportRequestByTracking(ctx, c.TenantID, tracking)
	if err != nil {
		return nil, nil, err
	}
	notes, err := s.Store.SupportNotes(ctx, c.TenantID, r.ID)
	if err != nil {
		return nil, nil, err
	}
	return r, notes, nil
}

// WorkSupportRequest changes a reported issue's state or assignee and adds
// a note, in one transaction (WorkReports: help desk and administrators).
// A state change is made only from the state it was checked against, so of
// two people moving one request at once, the second is told to reload; a
// note is an insert, so none is ever lost. Each change is audited
// (support.updated, support.noted) with the actor; a note's text is not.
func (s *Service) WorkSupportRequest(ctx context.Context, c flow.Caller, tracking string, ch SupportChange) (*store.SupportRequest, error) {
	if err := s.Allow(ctx, c, flow.WorkReports); err != nil {
		return nil, err
	}
	var errs validate.Errors
	if ch.State != nil && !slices.Contains(store.SupportStates, *ch.State) {
		errs.Add("state", "invalid", "State must be one of "+strings.Join(store.SupportStates, ", ")+".")
	}
	if ch.Assignee != nil {
		a := searchText(&errs, "assignee", *ch.Assignee)
		ch.Assignee = &a
	}
	if !validate.Usable(ch.Note) {
		validate.Unusable(&errs, "note")
	} else {
		ch.Note = validate.Text(&errs, "note", ch.Note, false, MaxNote)
	}
	if ch.State == nil && ch.Assignee == nil && ch.Note == "" {
		errs.Add("state", "required", "Give a new state, an assignee or a note.")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var out *store.SupportRequest
	err := s.Store.InTx(ctx, func(q store.Queries) error {
		r, err := q.SupportRequestByTracking(ctx, c.TenantID, tracking)
		if err != nil {
			return err
		}
		now := s.now()
		upd := store.SupportUpdate{Assignee: ch.Assignee, From: r.State}
		if ch.State != nil && *ch.State != r.State {
			if !slices.Contains(supportMoves[r.State], *ch.State) {
				return validate.Errors{{Field: "state", Code: "transition", Message: "A request that is " + r.State + " cannot become " + *ch.State + ". Allowed: " + strings.Join(supportMoves[r.State], ", ") + "."}}
			}
			upd.State = ch.State
		}
		if ch.Assignee != nil && *ch.Assignee == r.Assignee {
			upd.Assignee = nil
		}
		out = r
		if upd.State != nil || upd.Assignee != nil {
			if out, err = q.UpdateSupportRequest(ctx, c.TenantID, tracking, upd, now); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return validate.Errors{{Field: "state", Code: "changed", Message: "Someone else changed this request meanwhile. Reload it and try again."}}
				}
				return err
			}
			detail := map[string]any{"tracking": tracking}
			if upd.State != nil {
				detail["from"], detail["to"] = r.State, *upd.State
			}
			if upd.Assignee != nil {
				detail["assignee"] = *upd.Assignee
			}
			if err := s.Engine.Audit(ctx, q, c, flow.Event{UserID: r.UserID, Event: "support.updated", Outcome: "success", Detail: detail}); err != nil {
				return err
			}
		}
		if ch.Note != "" {
			n := &store.SupportNote{ID: store.NewID("note"), TenantID: c.TenantID, RequestID: r.ID, Author: c.Actor, Body: ch.Note, CreatedAt: now}
			if err := q.AddSupportNote(ctx, n); err != nil {
				return err
			}
			out.UpdatedAt = now
			if err := s.Engine.Audit(ctx, q, c, flow.Event{UserID: r.UserID, Event: "support.noted", Outcome: "success",
				Detail: map[string]any{"tracking": tracking, "note": n.ID, "length": len([]rune(ch.Note))}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ResendMessage sends a person their enrolment invitation (kind
// "enrolment") or re-enable message ("reenable") again (ResendMessage: help
// desk and administrators); see flow.Engine.ResendMessage for when it is
// refused.
func (s *Service) ResendMessage(ctx context.Context, c flow.Caller, userID, kind string) error {
	if err := s.Allow(ctx, c, flow.ResendMessage); err != nil {
		return err
	}
	return s.Engine.ResendMessage(ctx, c, userID, kind)
}
