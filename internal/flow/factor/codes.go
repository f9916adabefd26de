package factor

import (
	"crypto/rand"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
)

// Digits returns n random decimal digits.
func Digits(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

// tokenAlphabet leaves out look-alikes (0/O, 1/I/L) so a token read aloud or
// copied by hand survives.
const tokenAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// Token returns n random characters a person can copy by hand.
func Token(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(int64(len(tokenAlphabet))))
		b.WriteByte(tokenAlphabet[d.Int64()])
	}
	return b.String()
}

// NormalizeToken accepts a token typed in groups or lower case.
func NormalizeToken(s string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s)))
}

// CodeHash is the keyed hash a sent code or token is stored as: bound to
// the user and the purpose, so a code for one thing never opens another.
func CodeHash(keys *keyring.Keyring, userID, purpose, code string) []byte {
	return keys.MAC("challenge", []byte(userID+"\x00"+purpose+"\x00"+code))
}

// MaskPhone shows only the last four digits.
func MaskPhone(p string) string {
	if len(p) < 4 {
		return "****"
	}
	return "***-***-" + p[len(p)-4:]
}

// MaskEmail shows the first letter and the domain.
func MaskEmail(a string) string {
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" {
		return "***"
	}
	_, size := utf8.DecodeRuneInString(local)
	return local[:size] + "***@" + domain
}

// Mask hides a destination of channel.
func Mask(channel, to string) string {
	if channel == delivery.Email {
		return MaskEmail(to)
	}
	return MaskPhone(to)
}

// Destination returns the user's verified contact point of a channel:
// codes and tokens go only where the person proved they receive them (C7).
func Destination(u *store.User, channel string) (string, bool) {
	switch channel {
	case delivery.SMS:
		return u.Phone, u.Phone != "" && u.PhoneVerifiedAt != nil
	case delivery.Email:
		return u.Email, u.Email != "" && u.EmailVerifiedAt != nil
	}
	return "", false
}
