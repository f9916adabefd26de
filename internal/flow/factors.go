package flow

import (
	"context"
	"errors"
	"slices"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/authenticator"
	"github.com/countersign/countersign/internal/flow/factor/onetime"
	"github.com/countersign/countersign/internal/flow/factor/phonecall"
	"github.com/countersign/countersign/internal/flow/factor/push"
	"github.com/countersign/countersign/internal/flow/factor/questions"
	"github.com/countersign/countersign/internal/flow/factor/sentcode"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// kinds are the second factors the engine knows, one line each: a new
// factor is its package and a line here (see docs/architecture.md).
var kinds = registry(
	authenticator.Factor{},
	sentcode.SMS,
	sentcode.Email,
	phonecall.Factor{},
	questions.Factor{},
	push.Factor{},
)

// oneTimeToken stands in for a lost authenticator app (C8); no factor row
// has its kind, so it is not in kinds.
var oneTimeToken factor.Verifier = onetime.Token{}

func registry(fs ...factor.Factor) map[string]factor.Factor {
	m := make(map[string]factor.Factor, len(fs))
	for _, f := range fs {
		if _, dup := m[f.Kind()]; dup {
			panic("flow: factor kind registered twice: " + f.Kind())
		}
		m[f.Kind()] = f
	}
	return m
}

// FactorQuestions is the security questions' kind.
const FactorQuestions = questions.Kind

// QuestionIDs is the catalogue of security questions.
var QuestionIDs = questions.IDs

// offered reports whether a factor row may finish a sign-in under p: its
// kind is registered and offered (to the portal when portal is set).
func offered(f store.Factor, p policy.Policy, portal bool) bool {
	k, ok := kinds[f.Kind]
	return ok && factor.Offered(k, p, portal)
}

// opensApplications reports whether a factor row is a sign-in method for
// applications, not only for the portal.
func opensApplications(f store.Factor) bool {
	k, ok := kinds[f.Kind]
	return ok && factor.OpensApplications(k)
}

// env is what a factor is lent for one request.
func (e *Engine) env(c Caller, p policy.Policy, u *store.User) factor.Env {
	return factor.Env{Now: e.now(), Policy: p, User: u, Keys: e.Keys, Hasher: e.Hasher, Lang: languageOf(c, u)}
}

func (e *Engine) usableFactors(ctx context.Context, p policy.Policy, u *store.User) ([]store.Factor, error) {
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return offeredOf(all, p), nil
}

// offeredOf keeps the active factors policy lets finish a login.
func offeredOf(all []store.Factor, p policy.Policy) []store.Factor {
	return slices.DeleteFunc(all, func(f store.Factor) bool { return !offered(f, p, false) })
}

// PortalFactors lists the factors that finish a portal sign-in: those policy
// allows, and the security questions when they may replace them.
func (e *Engine) PortalFactors(ctx context.Context, p policy.Policy, u *store.User) ([]store.Factor, error) {
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(f store.Factor) bool { return !offered(f, p, true) }), nil
}

// pickFactor finds the usable factor with this id, or the authenticator app
// when id is empty.
func (e *Engine) pickFactor(ctx context.Context, p policy.Policy, u *store.User, factorID string) (*store.Factor, error) {
	factors, err := e.usableFactors(ctx, p, u)
	if err != nil {
		return nil, err
	}
	return pickFrom(factors, factorID)
}

// pickFrom finds the factor with this id among usable factors, or the
// authenticator app when id is empty.
func pickFrom(factors []store.Factor, factorID string) (*store.Factor, error) {
	for i := range factors {
		f := &factors[i]
		if (factorID == "" && f.Kind == policy.FactorTOTP) || (factorID != "" && f.ID == factorID) {
			return f, nil
		}
	}
	if factorID != "" && len(factors) > 0 {
		return nil, ErrFactorNotAllowed
	}
	return nil, ErrNotRegistered
}

// verify runs a factor's check of what the person submitted through the
// guess runner. f is nil for a one-time access token.
func (e *Engine) verify(ctx context.Context, c Caller, p policy.Policy, u *store.User, v factor.Verifier, f *store.Factor, r factor.Response, txn *store.LoginTxn, then func(q store.Queries) error) error {
	a, err := v.Verify(ctx, e.env(c, p, u), f, r)
	if err != nil {
		return busyOr(err)
	}
	return e.guess(ctx, c, p, u, a, txn, then)
}

// verifier returns the factor that checks a typed response for a row.
func verifier(f *store.Factor) (factor.Verifier, error) {
	v, ok := kinds[f.Kind].(factor.Verifier)
	if !ok {
		return nil, ErrFactorNotAllowed
	}
	return v, nil
}

// FactorOfKind returns the user's active factor of a kind, or nil.
func (e *Engine) FactorOfKind(ctx context.Context, userID, kind string) (*store.Factor, error) {
	all, err := e.Store.ActiveFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Kind == kind {
			return &all[i], nil
		}
	}
	return nil, nil
}

// Factors lists a user's active factors, for the person's own pages.
func (e *Engine) Factors(ctx context.Context, userID string) ([]store.Factor, error) {
	return e.Store.ActiveFactors(ctx, userID)
}

func factorWhat(lang, kind string) string {
	if _, ok := kinds[kind]; ok {
		return words(lang, "what."+kind)
	}
	return words(lang, "what.other")
}

// refused reports whether err is a wrong response to a factor, of any kind.
func refused(err error) bool { return errors.Is(err, factor.ErrRefused) }

// Method is one of the person's active factors as their own pages show it.
type Method struct {
	Factor store.Factor
	// To and Backup say where the factor reaches the person, masked;
	// empty for a factor that reaches no number or address.
	To, Backup string
	// OpensApplications: a sign-in method for applications, not only for
	// the portal (the security questions are not).
	OpensApplications bool
	// Removable: the person may remove it themselves (RemoveOwnFactor's rule).
	Removable bool
}

// Reach says where a factor reaches the person, masked.
func Reach(f store.Factor, u *store.User) (to, backup string) {
	if r, ok := kinds[f.Kind].(factor.Reacher); ok {
		return r.Reaches(&f, u)
	}
	return "", ""
}

// Methods lists the person's active factors that policy lets them use, and
// those that open only the portal, with what their pages show of each.
func (e *Engine) Methods(ctx context.Context, p policy.Policy, u *store.User) ([]Method, error) {
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	openers := 0
	for _, f := range all {
		if opensApplications(f) && offered(f, p, false) {
			openers++
		}
	}
	var out []Method
	for _, f := range all {
		opens := opensApplications(f)
		if _, known := kinds[f.Kind]; !known || (opens && !offered(f, p, false)) {
			continue
		}
		m := Method{Factor: f, OpensApplications: opens}
		m.To, m.Backup = Reach(f, u)
		m.Removable = !opens || openers > 1 || !p.RequiresMFA(u.Groups, u.Units, e.now())
		out = append(out, m)
	}
	return out, nil
}
