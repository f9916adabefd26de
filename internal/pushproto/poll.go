package pushproto

import (
	"crypto/rsa"
	"errors"
	"net/url"
	"regexp"
	"time"
)

// PollWindow is how far the app's poll timestamp may lie from Countersign's
// clock, either way.
const PollWindow = time.Minute

// ErrStale is returned (wrapped) for a poll whose timestamp is outside PollWindow.
var ErrStale = errors.New("pushproto: poll timestamp not in valid range")

// Poll is the app's request for its open challenges.
type Poll struct {
	Serial    string
	Timestamp string // as sent; the signature covers it byte for byte
	Signature string
}

// ParsePoll reads serial, timestamp and signature from the poll's query. Other
// parameters (the app adds capabilities, unsigned) are ignored.
func ParsePoll(q url.Values) (Poll, error) {
	var p Poll
	var err error
	if p.Serial, err = field(q, "serial", MaxSerialLen, true); err != nil {
		return Poll{}, err
	}
	if p.Timestamp, err = field(q, "timestamp", MaxTimestampLen, true); err != nil {
		return Poll{}, err
	}
	if p.Signature, err = field(q, "signature", maxSignatureChars, true); err != nil {
		return Poll{}, err
	}
	return p, nil
}

// timestampRE matches what the app sends (Dart's toIso8601String of a UTC
// time, "2026-03-04T05:06:07.123456Z") and the ISO 8601 forms close to it:
// fraction optional, "Z", an offset or none (naive means UTC).
var timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$`)

// ParseTimestamp reads a poll timestamp; without a zone it is UTC.
func ParseTimestamp(s string) (time.Time, error) {
	m := timestampRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, malformed("timestamp %q is not ISO 8601", s)
	}
	layout := "2006-01-02T15:04:05.999999999"
	if m[2] != "" {
		layout += "Z07:00"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, malformed("timestamp %q: %v", s, err)
	}
	return t.UTC(), nil
}

// Verify checks the poll's signature over serial|timestamp with the app's
// public key and that the timestamp lies within PollWindow of now. It returns
// the timestamp, which a caller can use to refuse polls that are not newer
// than the last one it accepted.
func (p Poll) Verify(pub *rsa.PublicKey, now time.Time) (time.Time, error) {
	t, err := ParseTimestamp(p.Timestamp)
	if err != nil {
		return time.Time{}, err
	}
	if d := t.Sub(now); d > PollWindow || d < -PollWindow {
		return time.Time{}, ErrStale
	}
	if err := Verify(pub, p.Signature, p.Serial, p.Timestamp); err != nil {
		return time.Time{}, err
	}
	return t, nil
}
