// Package phonecall is the phone-call factor (kind "voice", A4–A6): a
// required primary number and an optional backup, each with an optional
// extension; the person answers and presses # (or enters a PIN then #), and
// 0 then # reports fraud. The engine places the calls and runs their state
// machine (flow/calls.go); this package holds what is the factor's own: its
// numbers, its PIN, what a call says and what a key press means.
package phonecall

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/text"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Factor is the phone call.
type Factor struct{}

var _ factor.Reacher = Factor{}

func (Factor) Kind() string { return policy.FactorVoice }

// Reaches is the primary number and the backup, masked.
func (Factor) Reaches(f *store.Factor, _ *store.User) (string, string) {
	n, err := Config(f)
	if err != nil {
		return "", ""
	}
	backup := ""
	if n.Backup != "" {
		backup = factor.MaskPhone(n.Backup)
	}
	return factor.MaskPhone(n.Primary), backup
}

// Numbers are a voice factor's phones: mobile or landline.
type Numbers struct {
	Primary    string `json:"primary"`
	PrimaryExt string `json:"primary_ext,omitempty"`
	Backup     string `json:"backup,omitempty"`
	BackupExt  string `json:"backup_ext,omitempty"`
}

// Call purposes and legs.
const (
	CallLogin  = "login"
	CallEnrol  = "enrol"
	LegPrimary = "primary"
	LegBackup  = "backup"
	// FraudPrefix then # reports fraud (X5).
	FraudPrefix = "0"
)

// Leg returns the number and extension a leg calls.
func (n Numbers) Leg(leg string) (number, ext string) {
	if leg == LegBackup {
		return n.Backup, n.BackupExt
	}
	return n.Primary, n.PrimaryExt
}

// Config reads a factor's numbers.
func Config(f *store.Factor) (Numbers, error) {
	var n Numbers
	if err := json.Unmarshal([]byte(f.Config), &n); err != nil {
		return n, fmt.Errorf("voice factor %s config: %w", f.ID, err)
	}
	return n, nil
}

// Validate checks the numbers and, when policy asks for one, the PIN.
func Validate(p policy.Policy, n Numbers, pin string) (Numbers, error) {
	var errs validate.Errors
	typedBackup := strings.TrimSpace(n.Backup) != ""
	n.Primary = validate.Phone(&errs, "primary", n.Primary, true)
	n.PrimaryExt = validate.Extension(&errs, "primary_ext", n.PrimaryExt)
	n.Backup = validate.Phone(&errs, "backup", n.Backup, false)
	n.BackupExt = validate.Extension(&errs, "backup_ext", n.BackupExt)
	// Only when no backup was typed: a mistyped one has its own message.
	if !typedBackup && n.BackupExt != "" {
		errs.Add("backup_ext", "invalid", "An extension needs a backup number.")
	}
	// A PIN given is kept and asked for on every call, so it must be one a
	// keypad can enter, whether or not policy requires one.
	if p.VoicePINRequired || pin != "" {
		if len(pin) < 4 || len(pin) > 8 || !allDigits(pin) || pin[0] == '0' {
			errs.Add("pin", "invalid", "PIN must be 4 to 8 digits and must not start with 0 (0 then # reports fraud).")
		}
	}
	return n, errs.Err()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// PINHash is the keyed hash a PIN is kept as; nil for no PIN.
func PINHash(keys *keyring.Keyring, userID, pin string) []byte {
	if pin == "" {
		return nil
	}
	return keys.MAC("voice-pin", []byte(userID+"\x00"+pin))
}

// Script is what the phone call does next; a front door (Twilio's TwiML, the
// development page) renders it.
type Script struct {
	Say string
	// Lang is the language Say is written in ("en", "es"), for the voice
	// that reads it; empty means English.
	Lang string
	// Gather collects keys after Say: NumDigits 1 with no finishing key
	// submits every key at once; FinishOnKey "#" collects a PIN.
	Gather      bool
	NumDigits   int
	FinishOnKey string
	Timeout     int // seconds
}

// Say is a script that speaks the message key in lang.
func Say(lang, key string, args ...any) Script {
	return Script{Say: text.Words(lang, key, args...), Lang: lang}
}

// Prompt is what an answered call says and gathers: # alone, or a PIN then #.
func Prompt(lang, issuer, purpose string, pinMode bool) Script {
	what := text.Words(lang, "voice.what.login")
	if purpose == CallEnrol {
		what = text.Words(lang, "voice.what.enrol")
	}
	if pinMode {
		s := Say(lang, "voice.prompt.pin", issuer, what)
		s.Gather, s.FinishOnKey, s.Timeout = true, "#", 10
		return s
	}
	s := Say(lang, "voice.prompt", issuer, what)
	s.Gather, s.NumDigits, s.Timeout = true, 1, 10
	return s
}

// Action is what a key press means.
type Action int

const (
	Approve Action = iota
	Refuse
	Fraud
	// AwaitHash: 0 was pressed; # next reports fraud.
	AwaitHash
)

// Press interprets the keys pressed on an answered call. pinHash is the
// factor's (nil without a PIN), pending the keys kept from before (the
// fraud prefix). Keys are gathered one at a time without a PIN, so "#",
// "another key" and "0 then #" are told apart exactly. refused is the call
// state of a refusal.
func Press(keys *keyring.Keyring, userID string, pinHash []byte, pending, digits string) (a Action, refused string) {
	if len(pinHash) > 0 {
		switch {
		case digits == FraudPrefix:
			return Fraud, ""
		case subtle.ConstantTimeCompare(PINHash(keys, userID, digits), pinHash) == 1:
			return Approve, ""
		default:
			return Refuse, store.CallWrongPIN
		}
	}
	switch {
	case digits == "#" && pending == FraudPrefix:
		return Fraud, ""
	case digits == "#":
		return Approve, ""
	case digits == FraudPrefix && pending == "":
		return AwaitHash, ""
	default:
		return Refuse, store.CallWrongKey
	}
}
