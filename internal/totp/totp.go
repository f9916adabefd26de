package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// The parameters are fixed rather than configurable because Google and
// Microsoft Authenticator silently ignore anything other than these.
const (
	SecretSize = 20 // bytes: the 160 bits RFC 4226 recommends
	Digits     = 6
	Period     = 30 * time.Second
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateSecret returns a fresh random shared secret.
func GenerateSecret() ([]byte, error) {
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("totp: generate secret: %w", err)
	}
	return secret, nil
}

// HOTP computes the RFC 4226 one-time password. digits must be between 1 and
// 10: the truncated value has 31 bits, so more digits would only add zeros.
func HOTP(secret []byte, counter uint64, digits int) string {
	if digits < 1 || digits > 10 {
		panic(fmt.Sprintf("totp: HOTP digits %d out of range 1..10", digits))
	}
	mac := hmac.New(sha1.New, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)

	offset := sum[len(sum)-1] & 0x0f
	value := uint64(binary.BigEndian.Uint32(sum[offset:]) & 0x7fffffff)
	mod := uint64(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, value%mod)
}

// Step returns the RFC 6238 time step containing t. Go's division truncates
// toward zero, so times before 1970 are adjusted to keep the floor semantics
// the RFC specifies.
func Step(t time.Time) int64 {
	sec := t.Unix()
	period := int64(Period / time.Second)
	step := sec / period
	if sec%period < 0 {
		step--
	}
	return step
}

// CodeAt returns the code an authenticator app shows during step.
func CodeAt(secret []byte, step int64) string {
	return HOTP(secret, uint64(step), Digits)
}

// asciiSpace is what a browser form or a copy-paste typically wraps around a
// code; Unicode spaces are deliberately not trimmed so that the accepted
// alphabet stays exactly what a person can type on a plain keypad.
const asciiSpace = " \t\n\v\f\r"

// NormalizeCode returns the code if it is exactly Digits ASCII digits once
// leading and trailing ASCII whitespace is removed.
func NormalizeCode(s string) (code string, ok bool) {
	s = strings.Trim(s, asciiSpace)
	if len(s) != Digits {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// Match reports the smallest step in now-drift..now+drift, strictly greater
// than after, whose code equals code. after is the last step already accepted
// for this secret (or -1), so a code can never be used twice and an older code
// cannot be used once a newer one has been.
//
// Every step in the window is compared, matching or not, so the time taken
// does not reveal which step (if any) matched.
func Match(secret []byte, code string, now time.Time, drift int, after int64) (step int64, ok bool) {
	code, ok = NormalizeCode(code)
	if !ok {
		return 0, false
	}
	if drift < 0 {
		drift = 0
	}
	current := Step(now)
	found := int64(-1)
	for s := current - int64(drift); s <= current+int64(drift); s++ {
		// Steps before the epoch have no counter value; skipping them keeps
		// the uint64 conversion in CodeAt from wrapping around.
		if s < 0 {
			continue
		}
		eq := subtle.ConstantTimeCompare([]byte(CodeAt(secret, s)), []byte(code)) == 1
		if eq && s > after && found < 0 {
			found = s
		}
	}
	if found < 0 {
		return 0, false
	}
	return found, true
}

// URI returns the otpauth:// key URI understood by Google and Microsoft
// Authenticator. The issuer appears both as the label prefix (for old apps)
// and as a parameter (which newer apps prefer).
func URI(issuer, account string, secret []byte) string {
	label := labelEscape(account)
	if issuer != "" {
		label = labelEscape(issuer) + ":" + label
	}
	q := "secret=" + EncodeSecret(secret)
	if issuer != "" {
		q += "&issuer=" + queryEscape(issuer)
	}
	q += fmt.Sprintf("&algorithm=SHA1&digits=%d&period=%d", Digits, int(Period/time.Second))
	return "otpauth://totp/" + label + "?" + q
}

// labelEscape also escapes ':' (which url.PathEscape keeps) because the label
// colon separates issuer from account, and an unescaped one inside either
// would make the apps split the label in the wrong place.
func labelEscape(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// queryEscape writes spaces as %20: some authenticator apps show a literal '+'
// for the form-encoding that url.QueryEscape produces.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// EncodeSecret returns the secret in the unpadded upper-case Base32 that
// authenticator apps expect.
func EncodeSecret(secret []byte) string {
	return b32.EncodeToString(secret)
}

// FormatSecret returns EncodeSecret in groups of four, which is how the apps'
// "enter a setup key" screens show it and far easier to type without error.
func FormatSecret(secret []byte) string {
	enc := EncodeSecret(secret)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/4)
	for i := 0; i < len(enc); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(enc[i:min(i+4, len(enc))])
	}
	return b.String()
}

// QRPNG renders uri as a PNG QR code size pixels wide. Medium recovery keeps
// the code small enough to scan from a laptop screen while tolerating glare.
func QRPNG(uri string, size int) ([]byte, error) {
	png, err := qrcode.Encode(uri, qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	return png, nil
}
