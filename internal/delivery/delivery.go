package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Channels.
const (
	SMS   = "sms"
	Voice = "voice"
	Email = "email"
)

// Message is one thing to deliver. ID is the outbox row's id: providers pass
// it on as an idempotency key where the provider supports one, so a retry
// after an uncertain failure is recognisable downstream.
type Message struct {
	ID       string
	TenantID string
	Channel  string
	// To is an E.164 phone number ("+15551234567") for SMS and voice, an
	// email address for email.
	To string
	// Extension is dialled after the call connects (voice only).
	Extension string
	Subject   string // email
	Text      string // SMS body, email text, or what a voicemail says
	HTML      string // email, optional
	// CallID names the call whose TwiML and status callbacks Countersign
	// serves (voice only).
	CallID string
}

// Result is what the provider said it did.
type Result struct {
	// Ref is the provider's id for the message or call (a Twilio SID, an SMTP
	// queue id), recorded for administrators.
	Ref string
}

// Sender delivers one message. Implementations must be safe for concurrent
// use and must honour ctx.
type Sender interface {
	Send(ctx context.Context, m Message) (Result, error)
}

// permanent marks a failure that retrying cannot fix (a rejected number, a
// refused address, bad credentials): the outbox stops retrying it.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so the outbox gives up on the message.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// E164 turns a 10-digit North American number (the form C11 stores) into
// E.164; numbers already in E.164 pass through.
func E164(phone string) (string, error) {
	if strings.HasPrefix(phone, "+") && len(phone) >= 8 && len(phone) <= 16 && digits(phone[1:]) {
		return phone, nil
	}
	if len(phone) == 10 && digits(phone) {
		return "+1" + phone, nil
	}
	return "", fmt.Errorf("phone number must be 10 digits or E.164")
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// SettingError is one invalid provider setting. Key is the setting's name in
// the configuration file (url, port), so the configuration can name the
// whole path the operator wrote (delivery.providers.gw.url) instead of a
// provider's own wording of it.
type SettingError struct {
	Key     string
	Problem string
}

func (e *SettingError) Error() string { return e.Key + ": " + e.Problem }

// Setting returns a SettingError for key.
func Setting(key, format string, args ...any) error {
	return &SettingError{Key: key, Problem: fmt.Sprintf(format, args...)}
}
