package pushproto

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrMalformed is returned (wrapped) for a request that is not a well-formed
// app message.
var ErrMalformed = errors.New("pushproto: malformed request")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Field size limits (in bytes).
const (
	MaxSerialLen    = 128
	MaxNonceLen     = 128
	MaxReasonLen    = 64
	MaxPresenceLen  = 64
	MaxTimestampLen = 64
)

// Answer is the app's answer to a challenge.
type Answer struct {
	Serial         string
	Nonce          string
	Signature      string
	Decline        bool
	DeclineReason  string // only with Decline; see DeclineReasonUnknownTrigger, DeclineReasonCancelled
	PresenceAnswer string // the number-matching option the person picked
}

// field returns the single value of name ("" when it is absent and not
// required), refusing a repeated, over-long, non-UTF-8 or control-character
// value, and an absent or empty one when required.
func field(form url.Values, name string, max int, required bool) (v string, err error) {
	vs, ok := form[name]
	if !ok {
		if required {
			return "", malformed("%s missing", name)
		}
		return "", nil
	}
	if len(vs) != 1 {
		return "", malformed("%s given %d times", name, len(vs))
	}
	v = vs[0]
	if required && v == "" {
		return "", malformed("%s empty", name)
	}
	if len(v) > max {
		return "", malformed("%s too long", name)
	}
	if !utf8.ValidString(v) {
		return "", malformed("%s is not UTF-8", name)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return "", malformed("%s has a control character", name)
		}
	}
	return v, nil
}

// ParseAnswer reads an answer from the form the app POSTs: serial, nonce,
// signature, and optionally decline ("1"), decline_reason and presence_answer.
// A field given twice, over-long, not UTF-8 or holding control characters is
// refused, and so is a decline_reason without decline.
func ParseAnswer(form url.Values) (Answer, error) {
	var a Answer
	var err error
	if a.Serial, err = field(form, "serial", MaxSerialLen, true); err != nil {
		return Answer{}, err
	}
	if a.Nonce, err = field(form, "nonce", MaxNonceLen, true); err != nil {
		return Answer{}, err
	}
	if a.Signature, err = field(form, "signature", maxSignatureChars, true); err != nil {
		return Answer{}, err
	}
	decline, err := field(form, "decline", 8, false)
	if err != nil {
		return Answer{}, err
	}
	switch strings.ToLower(decline) {
	case "", "0", "false":
	case "1", "true":
		a.Decline = true
	default:
		return Answer{}, malformed("decline is %q", decline)
	}
	if a.DeclineReason, err = field(form, "decline_reason", MaxReasonLen, false); err != nil {
		return Answer{}, err
	}
	if a.DeclineReason != "" && !a.Decline {
		return Answer{}, malformed("decline_reason without decline")
	}
	if a.PresenceAnswer, err = field(form, "presence_answer", MaxPresenceLen, false); err != nil {
		return Answer{}, err
	}
	return a, nil
}

// SignedData returns the string the app signs for this answer:
// nonce|serial, then |decline, then |reason (declines only), then |answer.
func (a Answer) SignedData() string {
	s := a.Nonce + "|" + a.Serial
	if a.Decline {
		s += "|decline"
		if a.DeclineReason != "" {
			s += "|" + a.DeclineReason
		}
	}
	if a.PresenceAnswer != "" {
		s += "|" + a.PresenceAnswer
	}
	return s
}

// Verify checks the answer's signature with the app's public key. It says
// nothing about whether the nonce belongs to an open challenge of that factor
// or whether a presence answer is the right one; the caller checks those.
func (a Answer) Verify(pub *rsa.PublicKey) error {
	return Verify(pub, a.Signature, a.SignedData())
}
