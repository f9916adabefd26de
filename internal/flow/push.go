package flow

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/push"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/pushproto"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
)

// The Mobile App method (A9, X3): the engine's side of the phone app's
// protocol (package pushproto) and of the person's pages.

// PurposePushActivation is an activation code's challenge: the credential
// the app presents once to register.
const PurposePushActivation = "push_activation"

var (
	// ErrPushGone: an activation, push or factor the phone named is unknown,
	// used, answered or expired.
	ErrPushGone = errors.New("push activation or challenge unknown, used or expired")
	// ErrPushRefused: the phone's request is not signed by the factor's key,
	// or its timestamp is stale or replayed.
	ErrPushRefused = errors.New("push request not signed by the registered app, or stale")
	// ErrPushCooldown: a push was declined a moment ago, or the person's
	// pushes for the window are spent (X3).
	ErrPushCooldown = &RateLimitedError{Scope: "push", Wait: time.Minute}
)

// PushEnrolment is an activation code: what the person scans, or types.
type PushEnrolment struct {
	Factor    *store.Factor
	URI       string // otpauth://pipush/… for the QR code
	Code      string // the activation code in the URI
	URL       string // where the app registers
	ExpiresAt time.Time
}

// pushURL is where a tenant's phone apps register, poll and answer.
func (e *Engine) pushURL(t *store.Tenant) string { return e.PushBase + "/push/" + t.Slug }

// BeginPushEnrolment makes a new activation code for the Mobile App (A9):
// a pending push factor and its one-time credential, valid for the
// policy's activation_ttl. A new one replaces the last (C4).
func (e *Engine) BeginPushEnrolment(ctx context.Context, c Caller, txnID string) (*PushEnrolment, error) {
	t, p, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	return e.beginPush(ctx, c, t, p, u)
}

// AdminBeginPushEnrolment makes an activation code for a user on an
// administrator's word (the help desk sets up a person's phone app).
func (e *Engine) AdminBeginPushEnrolment(ctx context.Context, c Caller, userID string) (*PushEnrolment, error) {
	t, p, u, err := e.tenantUser(ctx, c, userID)
	if err != nil {
		return nil, err
	}
	return e.beginPush(ctx, c, t, p, u)
}

func (e *Engine) beginPush(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User) (*PushEnrolment, error) {
	if !p.Allows(policy.FactorPush) {
		return nil, ErrFactorNotAllowed
	}
	if err := canManageMFA(u.Status); err != nil {
		return nil, err
	}
	now := e.now()
	expires := now.Add(time.Duration(p.Push.ActivationTTL))
	f := &store.Factor{ID: store.NewID("fac"), TenantID: t.ID, UserID: u.ID, Kind: policy.FactorPush, CreatedAt: now, ExpiresAt: &expires, Config: `{"registered":false}`}
	code := pushproto.NewCredential()
	ch := &store.Challenge{ID: store.NewID("chl"), TenantID: t.ID, UserID: u.ID, Purpose: PurposePushActivation, Channel: "push", Destination: f.ID,
		CodeHash: e.Keys.MAC("push-activation", []byte(code)), CreatedAt: now, ExpiresAt: expires}
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreatePendingFactor(ctx, f, now); err != nil {
			return err
		}
		if _, err := q.ConsumeAllChallenges(ctx, u.ID, PurposePushActivation, now); err != nil {
			return err
		}
		if err := q.CreateChallenge(ctx, ch); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "factor.enrolment_started", Outcome: "success", Detail: map[string]any{"factor": f.ID, "kind": f.Kind}})
	})
	if err != nil {
		return nil, err
	}
	uri := pushproto.EnrolmentURI(pushproto.EnrolmentOptions{Label: u.LoginID, Issuer: e.issuer(t, p), URL: e.pushURL(t), Serial: f.ID, Credential: code,
		TTLMinutes: max(1, int(time.Duration(p.Push.ActivationTTL).Minutes())), SSLVerify: isHTTPS(e.PushBase), ForceUnlock: p.Push.RequireUnlock})
	return &PushEnrolment{Factor: f, URI: uri, Code: code, URL: e.pushURL(t), ExpiresAt: expires}, nil
}

func isHTTPS(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "https"
}

// pushFactor loads the factor a phone names (its serial) in the tenant
// the request came to.
func (e *Engine) pushFactor(ctx context.Context, tenantID, serial string) (*pushCtx, error) {
	if serial == "" || len(serial) > 64 {
		return nil, ErrPushGone
	}
	f, err := e.Store.FactorByID(ctx, tenantID, serial)
	if err != nil {
		return nil, notFoundAs(err, ErrPushGone)
	}
	if f.Kind != policy.FactorPush || f.State == store.FactorRevoked {
		return nil, ErrPushGone
	}
	t, p, err := e.Policy(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	u, err := e.Store.UserByID(ctx, tenantID, f.UserID)
	if err != nil {
		return nil, notFoundAs(err, ErrPushGone)
	}
	return &pushCtx{t: t, p: p, u: u, f: f}, nil
}

// pushCtx is what a phone's request is about: the factor it names, its
// person, tenant and policy.
type pushCtx struct {
	t *store.Tenant
	p policy.Policy
	u *store.User
	f *store.Factor
}

// RegisterPushApp is the app's registration with an activation code: the
// code is used once, the app's key is kept, and the server's key for this
// factor is made and returned in the app's format. The factor stays
// pending until a test push is approved (A9: "Authenticate me now").
func (e *Engine) RegisterPushApp(ctx context.Context, tenantID, serial, credential, appKey string) (string, error) {
	pc, err := e.pushFactor(ctx, tenantID, serial)
	if err != nil {
		return "", err
	}
	f, u := pc.f, pc.u
	now := e.now()
	if f.State != store.FactorPending || f.ExpiresAt == nil || !now.Before(*f.ExpiresAt) {
		return "", ErrPushGone
	}
	app, err := pushproto.ParseAppPublicKey(appKey)
	if err != nil {
		return "", err
	}
	c := Caller{TenantID: tenantID, Actor: "app:push", ApplicationID: PortalApplication}
	// The code is used first: nobody without it makes the server spend a
	// key generation.
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		ch, err := q.ConsumeChallenge(ctx, u.ID, PurposePushActivation, e.Keys.MAC("push-activation", []byte(credential)), now)
		if err != nil {
			return err
		}
		if ch == nil || ch.Destination != f.ID {
			return ErrPushGone
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	server, err := pushproto.GenerateServerKey()
	if err != nil {
		return "", err
	}
	sealed, err := push.Seal(e.Keys, f.ID, push.Keys{App: app, Server: server})
	if err != nil {
		return "", err
	}
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		ok, err := q.SetPendingFactorSecret(ctx, f.ID, sealed, `{"registered":true}`)
		if err != nil {
			return err
		}
		if !ok {
			return ErrPushGone
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "push.registered", Outcome: "success", Detail: map[string]any{"factor": f.ID}})
	})
	if err != nil {
		return "", err
	}
	return pushproto.EncodeServerPublicKey(&server.PublicKey), nil
}

// SendTestPush sends the push that activates a registered factor (A9:
// "Authenticate me now").
func (e *Engine) SendTestPush(ctx context.Context, c Caller, txnID, factorID string) (*store.PushChallenge, error) {
	t, p, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	return e.testPush(ctx, c, t, p, u, factorID)
}

// AdminSendTestPush sends the activating push of a factor an administrator
// began (AdminBeginPushEnrolment).
func (e *Engine) AdminSendTestPush(ctx context.Context, c Caller, factorID string) (*store.PushChallenge, error) {
	f, err := e.Store.FactorByID(ctx, c.TenantID, factorID)
	if err != nil {
		return nil, notFoundAs(err, ErrEnrolmentGone)
	}
	t, p, u, err := e.tenantUser(ctx, c, f.UserID)
	if err != nil {
		return nil, err
	}
	return e.testPush(ctx, c, t, p, u, factorID)
}

func (e *Engine) testPush(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, factorID string) (*store.PushChallenge, error) {
	f, err := e.Store.FactorByID(ctx, c.TenantID, factorID)
	if err != nil {
		return nil, notFoundAs(err, ErrEnrolmentGone)
	}
	if f.UserID != u.ID || f.Kind != policy.FactorPush || f.State != store.FactorPending {
		return nil, ErrEnrolmentGone
	}
	if cfg, err := push.ConfigOf(f); err != nil || !cfg.Registered {
		return nil, ErrPushNotRegistered
	}
	return e.newPush(ctx, c, t, p, u, f, store.PushEnrol, "")
}

// ErrPushNotRegistered: "Authenticate me now" before the app registered
// with the activation code (E47).
var ErrPushNotRegistered = problem.Domain("push_not_registered", "the phone app has not registered with the activation code yet")

// SendPush sends a sign-in push to the person's phone (X3): at most one
// open at a time, within the policy's limit and cool-down, never while the
// second factor is locked. With number matching the returned challenge's
// Answer is the number the sign-in page shows.
func (e *Engine) SendPush(ctx context.Context, c Caller, txnID, factorID string) (*store.PushChallenge, error) {
	pt, f, err := e.challenge(ctx, c, txnID, factorID)
	if err != nil {
		return nil, err
	}
	if f.Kind != policy.FactorPush {
		return nil, ErrFactorNotAllowed
	}
	return e.newPush(ctx, c, pt.tenant, pt.policy, pt.user, f, store.PushLogin, pt.txn.ID)
}

func (e *Engine) newPush(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, f *store.Factor, purpose, txnID string) (*store.PushChallenge, error) {
	now := e.now()
	n, declined, err := e.Store.CountPushChallenges(ctx, u.ID, now.Add(-time.Duration(p.Push.Limit.Window)))
	if err != nil {
		return nil, err
	}
	if declined != nil && now.Sub(*declined) < time.Duration(p.Push.Cooldown) {
		return nil, errors.Join(&RateLimitedError{Scope: "push", Wait: time.Duration(p.Push.Cooldown) - now.Sub(*declined)},
			e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "push.sent", Outcome: "refused", Detail: map[string]any{"reason": "cooldown"}}))
	}
	if n >= p.Push.Limit.Count {
		return nil, errors.Join(&RateLimitedError{Scope: "push", Wait: time.Duration(p.Push.Limit.Window)},
			e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "push.sent", Outcome: "refused", Detail: map[string]any{"reason": "limit"}}))
	}
	lang := languageOf(c, u)
	ch := &store.PushChallenge{Nonce: pushproto.NewNonce(), TenantID: t.ID, UserID: u.ID, FactorID: f.ID, TxnID: txnID, Purpose: purpose,
		Title: e.issuer(t, p), Question: words(lang, "push.question"), State: store.PushOpen, CreatedAt: now, ExpiresAt: now.Add(time.Duration(p.Push.ChallengeTTL))}
	if purpose == store.PushEnrol {
		ch.Question = words(lang, "push.question_test")
	}
	if p.Push.NumberMatching {
		ch.Options, ch.Answer, err = numberChoice(3)
		if err != nil {
			return nil, err
		}
	}
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreatePushChallenge(ctx, ch, now); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "push.sent", Outcome: "success", Detail: map[string]any{"factor": f.ID, "purpose": purpose, "txn": txnID}})
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// numberChoice picks n different two-digit numbers and the right one.
func numberChoice(n int) ([]string, string, error) {
	var opts []string
	for len(opts) < n {
		v, err := rand.Int(rand.Reader, big.NewInt(90))
		if err != nil {
			return nil, "", err
		}
		s := strconv.Itoa(10 + int(v.Int64()))
		if !slices.Contains(opts, s) {
			opts = append(opts, s)
		}
	}
	i, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return nil, "", err
	}
	return opts, opts[i.Int64()], nil
}

// LatestPush is the newest push of a login transaction (txnID) or of a
// factor being enrolled, for the page that waits for it.
func (e *Engine) LatestPush(ctx context.Context, c Caller, ref string) (*store.PushChallenge, error) {
	ch, err := e.Store.LatestPushChallenge(ctx, c.TenantID, ref)
	if err != nil {
		return nil, notFoundAs(err, ErrPushGone)
	}
	if ch.State == store.PushOpen && !e.now().Before(ch.ExpiresAt) {
		ch.State = store.PushExpired
	}
	return ch, nil
}

// PushPoll answers a phone's poll with its open challenges, encoded and
// signed for the app; a poll not signed by the factor's app, outside the
// clock window, or not newer than the last one is refused.
func (e *Engine) PushPoll(ctx context.Context, tenantID string, poll pushproto.Poll) ([]map[string]any, error) {
	pc, err := e.pushFactor(ctx, tenantID, poll.Serial)
	if err != nil {
		return nil, err
	}
	f, t := pc.f, pc.t
	keys, err := push.Open(e.Keys, f)
	if err != nil {
		return nil, ErrPushGone
	}
	now := e.now()
	at, err := poll.Verify(keys.App, now)
	if err != nil {
		return nil, ErrPushRefused
	}
	fresh, err := e.Store.TouchPushPoll(ctx, f.ID, at)
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, ErrPushRefused
	}
	open, err := e.Store.OpenPushChallenges(ctx, f.ID, now)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(open))
	for _, ch := range open {
		m, err := pushproto.Challenge{Nonce: ch.Nonce, Serial: f.ID, URL: e.pushURL(t), Question: ch.Question, Title: ch.Title,
			SSLVerify: isHTTPS(e.PushBase), Presence: ch.Options}.Encode(keys.Server)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// PushAnswer is the phone's answer to a challenge: accepted once, only
// with the factor's signature, only while open. An approval with the right
// number completes the sign-in (or activates the factor); a wrong number, a
// decline or a cancel fails the attempt, and "I didn't request this"
// reports fraud (X3). It reports whether the answer was taken.
func (e *Engine) PushAnswer(ctx context.Context, tenantID string, a pushproto.Answer) (bool, error) {
	pc, err := e.pushFactor(ctx, tenantID, a.Serial)
	if err != nil {
		return false, err
	}
	t, p, u, f := pc.t, pc.p, pc.u, pc.f
	keys, err := push.Open(e.Keys, f)
	if err != nil {
		return false, ErrPushGone
	}
	if err := a.Verify(keys.App); err != nil {
		return false, ErrPushRefused
	}
	ch, err := e.Store.PushChallengeByNonce(ctx, tenantID, a.Nonce)
	if err != nil || ch.FactorID != f.ID || ch.State != store.PushOpen || !e.now().Before(ch.ExpiresAt) {
		return false, errors.Join(notFoundAs(err, ErrPushGone), ErrPushGone)
	}
	c := Caller{TenantID: tenantID, ApplicationID: PortalApplication, Actor: "user"}
	var txn *store.LoginTxn
	if ch.TxnID != "" {
		if txn, err = e.Store.LoginTxnByID(ctx, tenantID, ch.TxnID); err != nil {
			return false, notFoundAs(err, ErrPushGone)
		}
		c.ApplicationID = txn.ApplicationID
	}
	switch {
	case a.Decline && a.DeclineReason != pushproto.DeclineReasonCancelled:
		return e.pushFraud(ctx, c, t, p, u, f, ch)
	case a.Decline:
		return e.pushRefuse(ctx, c, p, u, f, ch, store.PushDeclined)
	case len(ch.Options) > 0 && a.PresenceAnswer != ch.Answer:
		return e.pushRefuse(ctx, c, p, u, f, ch, store.PushWrong)
	}
	return e.pushApprove(ctx, c, t, p, u, f, ch, txn)
}

var errPushRace = errors.New("push already answered")

func (e *Engine) pushApprove(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, f *store.Factor, ch *store.PushChallenge, txn *store.LoginTxn) (bool, error) {
	now := e.now()
	var before []store.Factor
	if ch.Purpose == store.PushEnrol {
		var err error
		if before, err = e.Store.ActiveFactors(ctx, u.ID); err != nil {
			return false, err
		}
	}
	err := e.guess(ctx, c, p, u, factor.Attempt{
		Kind: policy.FactorPush, Detail: map[string]any{"factor": f.ID, "push": ch.Nonce},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			moved, err := q.AnswerPushChallenge(ctx, f.ID, ch.Nonce, store.PushApproved, now)
			if err != nil || !moved {
				return false, "push_answered", errors.Join(err, errPushRace)
			}
			return true, "", nil
		},
		Success: func(ctx context.Context, q store.Queries) error {
			if ch.Purpose != store.PushEnrol {
				return nil
			}
			ok, err := q.ActivateFactor(ctx, f.ID, -1, now)
			if err != nil || !ok {
				return errors.Join(err, ErrEnrolmentGone)
			}
			return e.factorActivated(ctx, q, c, t, p, u, f, before, now)
		},
	}, txn, nil)
	if errors.Is(err, errPushRace) || errors.Is(err, ErrTxnGone) || errors.Is(err, ErrMFALocked) || refused(err) {
		// Answered already, the sign-in finished another way, or the
		// second factor is locked (B5): not taken, and the app is told so.
		return false, nil
	}
	return err == nil, err
}

// pushRefuse records a declined push or a wrong number: a failed attempt
// that counts (B5).
func (e *Engine) pushRefuse(ctx context.Context, c Caller, p policy.Policy, u *store.User, f *store.Factor, ch *store.PushChallenge, state string) (bool, error) {
	now := e.now()
	err := e.guess(ctx, c, p, u, factor.Attempt{
		Kind: policy.FactorPush, Detail: map[string]any{"factor": f.ID, "push": ch.Nonce},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			moved, err := q.AnswerPushChallenge(ctx, f.ID, ch.Nonce, state, now)
			if err != nil || !moved {
				return false, "", errors.Join(err, errPushRace)
			}
			return false, state, nil
		},
		Wrong: func(string) error { return factor.ErrRefused },
	}, nil, nil)
	if errors.Is(err, errPushRace) || errors.Is(err, ErrMFALocked) {
		return false, nil
	}
	if err != nil && !refused(err) {
		return false, err
	}
	return true, nil
}

// pushFraud is a push declined as "I didn't request this" (X3), as a phone
// call's 0#: the sign-in is denied, fraud.reported is audited, the tenant's
// alert addresses are told, and with block_on_fraud the person's second
// factor is locked until an administrator unlocks it (B6): someone may know
// their password.
func (e *Engine) pushFraud(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, f *store.Factor, ch *store.PushChallenge) (bool, error) {
	now := e.now()
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		moved, err := q.AnswerPushChallenge(ctx, f.ID, ch.Nonce, store.PushFraud, now)
		if err != nil || !moved {
			return errors.Join(err, errPushRace)
		}
		if ch.TxnID != "" {
			if _, err := q.CompleteLoginTxn(ctx, ch.TxnID, store.TxnDenied, f.ID, now); err != nil {
				return err
			}
		}
		if ch.Purpose == store.PushEnrol {
			if _, err := q.RevokeFactor(ctx, f.ID, now); err != nil {
				return err
			}
		}
		if p.Push.BlockOnFraud {
			for range p.MFAAttempts {
				if c, err := q.ChargeMFA(ctx, u.ID, p.MFAAttempts, 0, now); err != nil || !c.Allowed {
					break
				}
			}
			if err := q.MarkMFALocked(ctx, u.ID, now); err != nil {
				return err
			}
		}
		if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "fraud.reported", Outcome: "blocked",
			Detail: map[string]any{"push": ch.Nonce, "factor": f.ID, "purpose": ch.Purpose, "txn": ch.TxnID, "blocked": p.Push.BlockOnFraud}}); err != nil {
			return err
		}
		return e.alertFraud(ctx, q, t, p, u, words(DefaultLanguage, "push.fraud_alert", u.LoginID, u.ID, ch.Nonce), now)
	})
	if errors.Is(err, errPushRace) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	e.observe(policy.FactorPush, "fraud")
	e.wake()
	return true, nil
}

// QR is the activation's QR code (PNG).
func (en *PushEnrolment) QR() ([]byte, error) { return totp.QRPNG(en.URI, QRSize) }
