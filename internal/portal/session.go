package portal

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
)

// levelVerify: the password is proven and the second factor is pending.
const levelVerify = "verify"

// sessionData is the page flow's state kept with the session (never a secret).
type sessionData struct {
	// PendingTOTP is the authenticator secret shown in this session: only it
	// can be confirmed here (C4).
	PendingTOTP string `json:"pending_totp,omitempty"`
	// PendingVoice is the phone-call factor being verified by a call.
	PendingVoice string `json:"pending_voice,omitempty"`
	// PendingPush is the Mobile App factor whose activation code this
	// session generated, waiting for the app and the test push (A9).
	PendingPush string `json:"pending_push,omitempty"`
	// Verification is the contact change waiting for its code (C7).
	Verification     string `json:"verification,omitempty"`
	VerificationKind string `json:"verification_kind,omitempty"`
	VerificationTo   string `json:"verification_to,omitempty"` // masked
	// VerificationValue is the number or address the person typed, so
	// "resend" can send a new code to it and "change" can show it again.
	VerificationValue string `json:"verification_value,omitempty"`
	// SentTo is where the latest sign-in code or token went (masked).
	SentTo     string `json:"sent_to,omitempty"`
	SentFactor string `json:"sent_factor,omitempty"`
	// CallLeg is the phone the person asked to be called on at sign-in.
	CallLeg string `json:"call_leg,omitempty"`
	// Wizard marks a first enrolment, which ends with the welcome page (A10).
	Wizard bool `json:"wizard,omitempty"`
	// Recovery marks a sign-in that began with identity validation (C6).
	Recovery bool `json:"recovery,omitempty"`
	// Next is where to go after signing in again.
	Next string `json:"next,omitempty"`
	// App is the application whose sign-in the session's login transaction
	// is (hosted login, X2); empty for the portal's own sign-in.
	App string `json:"app,omitempty"`
	// SignOn is the application's authorization request waiting for this
	// sign-in to finish.
	SignOn string `json:"sign_on,omitempty"`
	// Notice is a catalogue key shown once on the next page.
	Notice string `json:"notice,omitempty"`
}

func (p *Portal) cookieName() string {
	if p.Secure {
		return "__Secure-cs_portal"
	}
	return "cs_portal"
}

func (p *Portal) tokenHash(token string) []byte {
	return p.Engine.Keys.MAC("portal-session", []byte(token))
}

// loadSession finds the live session of the request's cookie, if any. A
// session of another tenant, ended, idle, expired, or outlived by a revoked
// factor is ignored.
func (rq *request) loadSession() error {
	c, err := rq.r.Cookie(rq.p.cookieName())
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	now := rq.p.now()
	s, u, err := rq.p.Engine.Session(rq.ctx(), rq.tenant.ID, rq.p.tokenHash(c.Value), time.Duration(rq.policy.Portal.SessionIdle))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.Level == levelConsole {
		// A console session's token is the console's alone.
		return nil
	}
	var d sessionData
	if s.Data != "" {
		if err := json.Unmarshal([]byte(s.Data), &d); err != nil {
			return err
		}
	}
	rq.sess, rq.user, rq.data = s, u, d
	// Activity keeps the session alive; writing at most every 30 seconds
	// keeps page loads from each costing a write.
	if now.Sub(s.LastSeenAt) > 30*time.Second {
		s.LastSeenAt = now
		return rq.saveSession()
	}
	return nil
}

// saveSession writes the session's state back.
func (rq *request) saveSession() error {
	if err := rq.encodeData(); err != nil {
		return err
	}
	return rq.p.Engine.ChangeSession(rq.ctx(), &flow.SessionChange{Save: rq.sess})
}

// encodeData puts the page flow's state into the session record.
func (rq *request) encodeData() error {
	b, err := json.Marshal(rq.data)
	if err != nil {
		return err
	}
	rq.sess.Data = string(b)
	return nil
}

// saving is the session change that writes this page's state with a step.
func (rq *request) saving() (*flow.SessionChange, error) {
	if err := rq.encodeData(); err != nil {
		return nil, err
	}
	return &flow.SessionChange{Save: rq.sess}, nil
}

// renewal is a new session prepared for a step: the engine writes it in
// the step's own transaction, then install hands the browser its cookie.
type renewal struct {
	change *flow.SessionChange
	token  string
	s      *store.PortalSession
	u      *store.User
	d      sessionData
}

// renew prepares a session that replaces the current one with a new token:
// every change of who is signed in, or how strongly, renews the cookie, so
// a token seen before sign-in is worth nothing after.
func (rq *request) renew(u *store.User, level, txnID string, d sessionData) (*renewal, error) {
	now := rq.p.now()
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	ua := storableHeader(rq.r.UserAgent(), 200)
	s := &store.PortalSession{
		ID: store.NewID("pss"), TokenHash: rq.p.tokenHash(token), TenantID: rq.tenant.ID, UserID: u.ID, Level: level, TxnID: txnID,
		AuthAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Duration(rq.policy.Portal.SessionMax)),
		IP: rq.caller.IP, UserAgent: ua, Data: string(b),
	}
	sc := &flow.SessionChange{Start: s}
	if rq.sess != nil {
		sc.End = rq.sess.ID
	}
	return &renewal{change: sc, token: token, s: s, u: u, d: d}, nil
}

// newToken is a session cookie's value: 256 random bits; only its keyed
// hash is stored.
func newToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// install makes a renewal, written by the engine, this request's session.
func (rq *request) install(rn *renewal) {
	rq.sess, rq.user, rq.data = rn.s, rn.u, rn.d
	http.SetCookie(rq.w, &http.Cookie{
		Name: rq.p.cookieName(), Value: rn.token, Path: "/portal/" + rq.tenant.Slug + "/",
		HttpOnly: true, Secure: rq.p.Secure, SameSite: http.SameSiteLaxMode,
		MaxAge: int(time.Duration(rq.policy.Portal.SessionMax).Seconds()),
	})
}

// startSession ends the current session and begins a new one.
func (rq *request) startSession(u *store.User, level, txnID string, d sessionData) error {
	rn, err := rq.renew(u, level, txnID, d)
	if err != nil {
		return err
	}
	if err := rq.p.Engine.ChangeSession(rq.ctx(), rn.change); err != nil {
		return err
	}
	rq.install(rn)
	return nil
}

// endSession signs the browser out.
func (rq *request) endSession() error {
	if rq.sess != nil {
		if err := rq.p.Engine.ChangeSession(rq.ctx(), &flow.SessionChange{End: rq.sess.ID}); err != nil {
			return err
		}
	}
	rq.sess, rq.user, rq.data = nil, nil, sessionData{}
	http.SetCookie(rq.w, &http.Cookie{Name: rq.p.cookieName(), Value: "", Path: "/portal/" + rq.tenant.Slug + "/", MaxAge: -1,
		HttpOnly: true, Secure: rq.p.Secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// notice takes the one-time notice for the page being shown.
func (rq *request) notice() string {
	if rq.sess == nil || rq.data.Notice == "" {
		return ""
	}
	key := rq.data.Notice
	rq.data.Notice = ""
	if err := rq.saveSession(); err != nil {
		rq.p.Log.Warn("portal: clear notice", "err", err)
	}
	return rq.text.T(key)
}
