package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/validate"
)

// Who must present a second factor.
const (
	MFAEveryone = "everyone"
	MFAGroups   = "groups"
	MFANobody   = "nobody"
)

// Factor kinds known to the policy. Only those with an implementation may be allowed.
const (
	FactorTOTP  = "totp"
	FactorSMS   = "sms"
	FactorEmail = "email"
	FactorVoice = "voice"
	// FactorPush is the Mobile App method: a push approved in the phone app.
	FactorPush = "push"
)

// KnownFactors lists the factor kinds a tenant may allow today.
var KnownFactors = []string{FactorTOTP, FactorSMS, FactorEmail, FactorVoice, FactorPush}

// Limit is at most Count events per Window.
type Limit struct {
	Count  int      `json:"count"`
	Window Duration `json:"window"`
}

// SendLimits bound how many messages may be sent, against SMS pumping and
// toll fraud (X4) and against flooding a person.
type SendLimits struct {
	PerUser        Limit `json:"per_user"`
	PerDestination Limit `json:"per_destination"`
	PerTenant      Limit `json:"per_tenant"`
}

// Duration is a time.Duration written as "15m" in JSON so policy documents stay readable.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is written as a string such as \"15m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"15m\"", s)
	}
	*d = Duration(v)
	return nil
}

// Policy is one tenant's authentication policy. The zero values of a decoded
// document are filled from Default, so a tenant states only what differs.
type Policy struct {
	// MFARequired is everyone, groups (only members of MFAGroups) or nobody.
	MFARequired string   `json:"mfa_required"`
	MFAGroups   []string `json:"mfa_groups,omitempty"`
	// AllowedFactors are the factor kinds users may enrol and log in with.
	AllowedFactors []string `json:"allowed_factors"`
	// MFAAttempts is the number of failed second-factor attempts, counted per user
	// across every application, after which the user is locked (B5).
	MFAAttempts int `json:"mfa_attempts"`
	// PasswordAttempts is counted separately so that a stranger guessing passwords
	// cannot lock someone out of their second factor.
	PasswordAttempts int `json:"password_attempts"`
	// LockoutRelease of zero means only a tenant administrator can unlock (B6);
	// otherwise a lockout ends by itself after this long.
	LockoutRelease Duration `json:"lockout_release"`
	// TOTPDrift is how many 30-second steps either side of now are accepted (C5).
	TOTPDrift int `json:"totp_drift"`
	// Issuer names the tenant in authenticator apps; empty means the tenant name.
	Issuer string `json:"issuer,omitempty"`
	// TransactionTTL bounds a login transaction from password to second factor.
	TransactionTTL Duration `json:"transaction_ttl"`
	// EnrolmentTTL bounds a pending authenticator secret (C4).
	EnrolmentTTL Duration `json:"enrolment_ttl"`
	// EnrolmentAttempts bounds wrong codes against one pending secret.
	EnrolmentAttempts int `json:"enrolment_attempts"`
	// LoginIDMaxLength is C11's limit on login IDs (15 in the seeds); raise it
	// where login IDs are email addresses.
	LoginIDMaxLength int `json:"login_id_max_length"`
	// CodeTTL is how long an SMS or email code stays valid (B8).
	CodeTTL Duration `json:"code_ttl"`
	// SendLimits bound SMS, call and email sends.
	SendLimits SendLimits `json:"send_limits"`
	// TrustedDeviceTTL is how long a remembered device skips the second
	// factor (B4); zero turns remembering off.
	TrustedDeviceTTL Duration `json:"trusted_device_ttl"`
	// TrustedDeviceBindIP asks the second factor again from another address.
	TrustedDeviceBindIP bool `json:"trusted_device_bind_ip"`
	// OTATTL and OTAMaxConsecutive govern one-time access tokens (C8).
	OTATTL            Duration `json:"one_time_token_ttl"`
	OTAMaxConsecutive int      `json:"one_time_token_max_consecutive"`
	// VoicePINRequired makes the person enter their PIN before # (A4).
	VoicePINRequired bool `json:"voice_pin_required"`
	// AlertEmails receive fraud reports (X5) and other security alerts.
	AlertEmails []string `json:"alert_emails,omitempty"`
	// DisableAfterInactive disables Active accounts with no login (or, for
	// those who never logged in, no change since they were created) for this
	// long (C10); the person re-enables through the portal with a code sent
	// by email or SMS. Zero turns it off.
	DisableAfterInactive Duration `json:"disable_after_inactive"`
	// Password is the password policy; the default follows NIST SP 800-63B.
	Password password.Policy `json:"password"`
	// Portal governs the self-service portal.
	Portal Portal `json:"portal"`
	// HelpDesk is whom people are told to contact wherever a message sends
	// them to someone (a lockout, a disabled account); when empty they are
	// told to contact their organisation's help desk.
	HelpDesk HelpDesk `json:"help_desk"`
	// Push governs the Mobile App method (A9, X3).
	Push Push `json:"push"`
	// SupportMayChangeContacts lets the help desk (admin keys of role
	// support) change a person's phone number or email address, which
	// decides where their codes go; by default only role admin may.
	SupportMayChangeContacts bool `json:"support_may_change_contacts"`

	// Phases are the tenant's phased enforcement (A1), kept beside the
	// policy document rather than in it: the engine loads them with the
	// policy, so deciding who must present a second factor reads nothing more.
	Phases []Phase `json:"-"`
}

// Phase brings members of Groups or Units into MFA's scope from StartsAt (A1).
type Phase struct {
	Groups   []string
	Units    []string
	StartsAt time.Time
}

// Covers reports whether the phase names one of the groups or units.
func (ph Phase) Covers(groups, units []string) bool {
	for _, g := range groups {
		if slices.Contains(ph.Groups, g) {
			return true
		}
	}
	for _, u := range units {
		if slices.Contains(ph.Units, u) {
			return true
		}
	}
	return false
}

// Push governs the Mobile App method: the activation code, the pushes and
// what stands against MFA fatigue (X3).
type Push struct {
	// ActivationTTL bounds an activation code (A9: 10 minutes).
	ActivationTTL Duration `json:"activation_ttl"`
	// ChallengeTTL bounds how long a push may be answered.
	ChallengeTTL Duration `json:"challenge_ttl"`
	// NumberMatching shows a number on the sign-in page that the person
	// picks among several in the app (X3).
	NumberMatching bool `json:"number_matching"`
	// Limit bounds the pushes one person gets in a window.
	Limit Limit `json:"limit"`
	// Cooldown is how long after a declined push no new one is sent.
	Cooldown Duration `json:"cooldown"`
	// BlockOnFraud stops pushes to a person who declined one with "I
	// didn't request this" until an administrator clears it.
	BlockOnFraud bool `json:"block_on_fraud"`
	// RequireUnlock asks the app to require the phone's PIN or biometrics
	// before answering.
	RequireUnlock bool `json:"require_unlock"`
	// AppLinks are where people get the app, shown at enrolment.
	AndroidApp string `json:"android_app,omitempty"`
	IOSApp     string `json:"ios_app,omitempty"`
}

// HelpDesk names the tenant's help desk and how to reach it; every part is
// optional. Its fields match problem.HelpDesk so a front door converts one
// to the other.
type HelpDesk struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Portal is the self-service portal's part of the policy.
type Portal struct {
	// SecurityQuestions is how many distinct questions a person answers at
	// enrolment (A8); zero turns security questions off.
	SecurityQuestions int `json:"security_questions"`
	// QuestionsSignIn lets the answers replace the second factor when signing
	// in to the portal (never an application), for a lost or stolen phone.
	QuestionsSignIn bool `json:"questions_sign_in"`
	// SessionIdle ends a portal session after this long without a request;
	// SessionMax ends it whatever the activity.
	SessionIdle Duration `json:"session_idle"`
	SessionMax  Duration `json:"session_max"`
	// FreshAuth is how long after signing in a person may change factors and
	// contact points before the portal asks them to confirm it is them again.
	FreshAuth Duration `json:"fresh_auth"`
	// IdentityAttempts bounds identity validations (email, date of birth,
	// SSN) per email address and per client address in IdentityWindow (C6).
	IdentityAttempts int      `json:"identity_attempts"`
	IdentityWindow   Duration `json:"identity_window"`
	// RecoveryTTL is how long a password-reset, re-enable or recovery code lives.
	RecoveryTTL Duration `json:"recovery_ttl"`
	// SupportEmail, when set, receives a copy of every reported MFA issue (A13).
	SupportEmail string `json:"support_email,omitempty"`
}

// Default is the policy of a new tenant.
func Default() Policy {
	return Policy{
		MFARequired:       MFAEveryone,
		AllowedFactors:    []string{FactorTOTP},
		MFAAttempts:       7,
		PasswordAttempts:  10,
		TOTPDrift:         1,
		TransactionTTL:    Duration(5 * time.Minute),
		EnrolmentTTL:      Duration(10 * time.Minute),
		EnrolmentAttempts: 7,
		LoginIDMaxLength:  15,
		CodeTTL:           Duration(15 * time.Minute),
		SendLimits: SendLimits{
			PerUser:        Limit{Count: 5, Window: Duration(15 * time.Minute)},
			PerDestination: Limit{Count: 10, Window: Duration(time.Hour)},
			PerTenant:      Limit{Count: 1000, Window: Duration(time.Hour)},
		},
		TrustedDeviceTTL:     Duration(7 * 24 * time.Hour),
		TrustedDeviceBindIP:  true,
		OTATTL:               Duration(10 * time.Minute),
		OTAMaxConsecutive:    3,
		DisableAfterInactive: Duration(180 * 24 * time.Hour),
		Password:             password.DefaultPolicy(),
		Push: Push{
			ActivationTTL:  Duration(10 * time.Minute),
			ChallengeTTL:   Duration(2 * time.Minute),
			NumberMatching: true,
			Limit:          Limit{Count: 5, Window: Duration(15 * time.Minute)},
			Cooldown:       Duration(time.Minute),
			BlockOnFraud:   true,
		},
		Portal: Portal{
			SecurityQuestions: 4,
			QuestionsSignIn:   true,
			SessionIdle:       Duration(15 * time.Minute),
			SessionMax:        Duration(8 * time.Hour),
			FreshAuth:         Duration(15 * time.Minute),
			IdentityAttempts:  5,
			IdentityWindow:    Duration(time.Hour),
			RecoveryTTL:       Duration(15 * time.Minute),
		},
	}
}

// Parse decodes a stored or submitted policy document on top of the defaults
// and validates it. Unknown keys are refused so a typo cannot silently weaken policy.
func Parse(b []byte) (Policy, error) {
	p := Default()
	if len(b) == 0 {
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("policy: %w", err)
	}
	return p, p.Validate()
}

// Validate reports every problem with the policy at once.
func (p Policy) Validate() error {
	var errs []error
	switch p.MFARequired {
	case MFAEveryone, MFANobody:
	case MFAGroups:
		if len(p.MFAGroups) == 0 {
			errs = append(errs, errors.New("mfa_groups: name at least one group when mfa_required is \"groups\""))
		}
	default:
		errs = append(errs, fmt.Errorf("mfa_required: %q is not one of everyone, groups, nobody", p.MFARequired))
	}
	if len(p.AllowedFactors) == 0 {
		errs = append(errs, errors.New("allowed_factors: allow at least one factor"))
	}
	for _, f := range p.AllowedFactors {
		if !slices.Contains(KnownFactors, f) {
			errs = append(errs, fmt.Errorf("allowed_factors: %q is not a known factor (known: %v)", f, KnownFactors))
		}
	}
	if p.Push.ActivationTTL < Duration(time.Minute) || p.Push.ActivationTTL > Duration(24*time.Hour) {
		errs = append(errs, errors.New("push.activation_ttl: must be between 1m and 24h"))
	}
	if p.Push.ChallengeTTL < Duration(30*time.Second) || p.Push.ChallengeTTL > Duration(10*time.Minute) {
		errs = append(errs, errors.New("push.challenge_ttl: must be between 30s and 10m"))
	}
	if p.Push.Limit.Count < 1 || p.Push.Limit.Window <= 0 {
		errs = append(errs, errors.New("push.limit: count must be at least 1 and window positive"))
	}
	if p.Push.Cooldown < 0 || p.Push.Cooldown > Duration(time.Hour) {
		errs = append(errs, errors.New("push.cooldown: must be between 0 and 1h"))
	}
	for name, link := range map[string]string{"push.android_app": p.Push.AndroidApp, "push.ios_app": p.Push.IOSApp} {
		if link != "" && !strings.HasPrefix(link, "https://") {
			errs = append(errs, fmt.Errorf("%s: %q must be an https link", name, link))
		}
	}
	if p.MFAAttempts < 1 || p.MFAAttempts > 100 {
		errs = append(errs, fmt.Errorf("mfa_attempts: %d is outside 1..100", p.MFAAttempts))
	}
	if p.PasswordAttempts < 1 || p.PasswordAttempts > 100 {
		errs = append(errs, fmt.Errorf("password_attempts: %d is outside 1..100", p.PasswordAttempts))
	}
	if p.LockoutRelease < 0 {
		errs = append(errs, errors.New("lockout_release: must not be negative"))
	}
	if p.TOTPDrift < 0 || p.TOTPDrift > 10 {
		errs = append(errs, fmt.Errorf("totp_drift: %d is outside 0..10 steps", p.TOTPDrift))
	}
	if p.TransactionTTL < Duration(30*time.Second) || p.TransactionTTL > Duration(time.Hour) {
		errs = append(errs, errors.New("transaction_ttl: must be between 30s and 1h"))
	}
	if p.EnrolmentTTL < Duration(time.Minute) || p.EnrolmentTTL > Duration(24*time.Hour) {
		errs = append(errs, errors.New("enrolment_ttl: must be between 1m and 24h"))
	}
	if p.EnrolmentAttempts < 1 || p.EnrolmentAttempts > 100 {
		errs = append(errs, fmt.Errorf("enrolment_attempts: %d is outside 1..100", p.EnrolmentAttempts))
	}
	if p.LoginIDMaxLength < 1 || p.LoginIDMaxLength > 255 {
		errs = append(errs, fmt.Errorf("login_id_max_length: %d is outside 1..255", p.LoginIDMaxLength))
	}
	if p.CodeTTL < Duration(time.Minute) || p.CodeTTL > Duration(24*time.Hour) {
		errs = append(errs, errors.New("code_ttl: must be between 1m and 24h"))
	}
	for name, l := range map[string]Limit{"per_user": p.SendLimits.PerUser, "per_destination": p.SendLimits.PerDestination, "per_tenant": p.SendLimits.PerTenant} {
		if l.Count < 1 || l.Window < Duration(time.Second) || l.Window > Duration(31*24*time.Hour) {
			errs = append(errs, fmt.Errorf("send_limits.%s: count must be at least 1 and window between 1s and 31 days", name))
		}
	}
	if p.TrustedDeviceTTL < 0 || p.TrustedDeviceTTL > Duration(365*24*time.Hour) {
		errs = append(errs, errors.New("trusted_device_ttl: must be between 0 (off) and 365 days"))
	}
	if p.OTATTL < Duration(time.Minute) || p.OTATTL > Duration(24*time.Hour) {
		errs = append(errs, errors.New("one_time_token_ttl: must be between 1m and 24h"))
	}
	if p.OTAMaxConsecutive < 0 || p.OTAMaxConsecutive > 100 {
		errs = append(errs, errors.New("one_time_token_max_consecutive: must be between 0 (off) and 100"))
	}
	if p.DisableAfterInactive != 0 && (p.DisableAfterInactive < Duration(24*time.Hour) || p.DisableAfterInactive > Duration(3650*24*time.Hour)) {
		errs = append(errs, errors.New("disable_after_inactive: must be 0 (off) or between 24h and 87600h (10 years)"))
	}
	if err := p.Password.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("password: %w", err))
	}
	errs = append(errs, p.Portal.validate()...)
	errs = append(errs, p.HelpDesk.validate()...)
	return errors.Join(errs...)
}

// RequiresMFA reports whether a person in the given groups and units must
// present a second factor at now: mfa_required says so, or a phase that
// started by now names one of their groups or units (A1).
func (p Policy) RequiresMFA(userGroups, userUnits []string, now time.Time) bool {
	switch p.MFARequired {
	case MFAEveryone:
		return true
	case MFAGroups:
		for _, g := range userGroups {
			if slices.Contains(p.MFAGroups, g) {
				return true
			}
		}
	case MFANobody:
	default:
		// An unknown value never weakens the policy.
		return true
	}
	for _, ph := range p.Phases {
		if !now.Before(ph.StartsAt) && ph.Covers(userGroups, userUnits) {
			return true
		}
	}
	return false
}

// Allows reports whether the factor kind may be used.
func (p Policy) Allows(kind string) bool { return slices.Contains(p.AllowedFactors, kind) }

func (p Portal) validate() []error {
	var errs []error
	if p.SecurityQuestions < 0 || p.SecurityQuestions > 8 {
		errs = append(errs, fmt.Errorf("portal.security_questions: %d is outside 0 (off)..8", p.SecurityQuestions))
	}
	if p.QuestionsSignIn && p.SecurityQuestions == 0 {
		errs = append(errs, errors.New("portal.questions_sign_in: needs portal.security_questions above 0"))
	}
	if p.SessionIdle < Duration(time.Minute) || p.SessionIdle > Duration(24*time.Hour) {
		errs = append(errs, errors.New("portal.session_idle: must be between 1m and 24h"))
	}
	if p.SessionMax < p.SessionIdle || p.SessionMax > Duration(7*24*time.Hour) {
		errs = append(errs, errors.New("portal.session_max: must be between portal.session_idle and 7 days"))
	}
	if p.FreshAuth < Duration(time.Minute) || p.FreshAuth > p.SessionMax {
		errs = append(errs, errors.New("portal.fresh_auth: must be between 1m and portal.session_max"))
	}
	if p.IdentityAttempts < 1 || p.IdentityAttempts > 100 {
		errs = append(errs, fmt.Errorf("portal.identity_attempts: %d is outside 1..100", p.IdentityAttempts))
	}
	if p.IdentityWindow < Duration(time.Minute) || p.IdentityWindow > Duration(7*24*time.Hour) {
		errs = append(errs, errors.New("portal.identity_window: must be between 1m and 7 days"))
	}
	if p.RecoveryTTL < Duration(time.Minute) || p.RecoveryTTL > Duration(24*time.Hour) {
		errs = append(errs, errors.New("portal.recovery_ttl: must be between 1m and 24h"))
	}
	if p.SupportEmail != "" && !strings.Contains(p.SupportEmail, "@") {
		errs = append(errs, errors.New("portal.support_email: must be an email address"))
	}
	return errs
}

func (h HelpDesk) validate() []error {
	var errs []error
	if n := utf8.RuneCountInString(h.Name); n > 100 || strings.ContainsFunc(h.Name, unicode.IsControl) {
		errs = append(errs, errors.New("help_desk.name: must be at most 100 characters, without control characters"))
	}
	if h.Phone != "" {
		digits := 0
		for _, r := range h.Phone {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case r == '+' || r == ' ' || r == '-':
			default:
				digits = -1000
			}
		}
		if digits < 3 || digits > 20 || len(h.Phone) > 30 || strings.LastIndexByte(h.Phone, '+') > 0 {
			errs = append(errs, fmt.Errorf("help_desk.phone: %q must be 3 to 20 digits, with spaces, dashes and a leading + only", h.Phone))
		}
	}
	if h.Email != "" {
		var fe validate.Errors
		validate.Email(&fe, "email", h.Email, true)
		if len(fe) > 0 || len(h.Email) > 254 {
			errs = append(errs, fmt.Errorf("help_desk.email: %q must be an email address like help@example.com", h.Email))
		}
	}
	if h.URL != "" {
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(h.URL) > 300 || strings.ContainsAny(h.URL, " \t\n") {
			errs = append(errs, fmt.Errorf("help_desk.url: %q must be an http or https address of at most 300 characters", h.URL))
		}
	}
	return errs
}
