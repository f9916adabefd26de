package pushproto

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Key sizes. The app makes 4096-bit keys; a smaller key than MinAppKeyBits is
// refused, and so is one larger than MaxAppKeyBits (whose checks would only
// cost time).
const (
	ServerKeyBits = 4096
	MinAppKeyBits = 2048
	MaxAppKeyBits = 8192
)

// Decline reasons as the app sends them in decline_reason (and signs them).
const (
	// DeclineReasonUnknownTrigger is the app's "decline": the person did not
	// ask to sign in ("I didn't request this").
	DeclineReasonUnknownTrigger = "unknown_trigger"
	// DeclineReasonCancelled is the app's "cancel": the person asked to sign
	// in but changed their mind.
	DeclineReasonCancelled = "cancelled"
)

// PollOnlyFirebaseToken is what the app sends as fbtoken when it polls.
const PollOnlyFirebaseToken = "no_firebase_token"

// ForceUnlockValue is the app_force_unlock value EnrolmentURI writes when
// EnrolmentOptions.ForceUnlock is set: the app then asks for the device's
// unlock (PIN or biometrics, whichever the person uses) before answering.
const ForceUnlockValue = "any"

// DefaultTTLMinutes is the ttl written when EnrolmentOptions.TTLMinutes is not
// positive (the app refuses a ttl of zero or less).
const DefaultTTLMinutes = 10

// EnrolmentOptions are the values of an activation barcode.
type EnrolmentOptions struct {
	Label      string // shown in the app; avoid ':' (the app reads "issuer:label")
	Issuer     string
	URL        string // where the app registers, polls and answers
	Serial     string // the factor's identifier, as the app will send it back
	Credential string // one-time registration credential (NewCredential)
	TTLMinutes int    // how long the app tries to register after scanning
	SSLVerify  bool
	// ForceUnlock makes the app ask for the device unlock before it answers.
	ForceUnlock bool
}

// EnrolmentURI returns the otpauth://pipush/ URI of an activation barcode, with
// its parameters in the reference server's order and quoted as Python's
// urllib.parse.quote does (safe "/"); poll_only is always True.
func EnrolmentURI(o EnrolmentOptions) string {
	ttl := o.TTLMinutes
	if ttl <= 0 {
		ttl = DefaultTTLMinutes
	}
	var b strings.Builder
	b.WriteString("otpauth://pipush/")
	b.WriteString(pyQuote(o.Label))
	b.WriteString("?url=" + pyQuote(o.URL))
	b.WriteString("&ttl=" + strconv.Itoa(ttl))
	b.WriteString("&issuer=" + pyQuote(o.Issuer))
	b.WriteString("&enrollment_credential=" + pyQuote(o.Credential))
	b.WriteString("&v=1")
	b.WriteString("&serial=" + pyQuote(o.Serial))
	b.WriteString("&sslverify=" + boolDigit(o.SSLVerify))
	b.WriteString("&poll_only=True")
	if o.ForceUnlock {
		b.WriteString("&app_force_unlock=" + ForceUnlockValue)
	}
	return b.String()
}

func boolDigit(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// pyQuote percent-encodes the UTF-8 bytes of s as Python's
// urllib.parse.quote(s) does: letters, digits, "_.-~" and "/" stay, every
// other byte becomes %XX with upper-case hex.
func pyQuote(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '_', c == '.', c == '-', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// NewCredential returns a registration credential: 20 random bytes as 40
// lower-case hex characters, as the reference server makes them.
func NewCredential() string {
	return hex.EncodeToString(randomBytes(20))
}

// NewNonce returns a challenge nonce: 20 random bytes in base32, 32
// upper-case characters without padding.
func NewNonce() string {
	return base32.StdEncoding.EncodeToString(randomBytes(20))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read does not fail on supported platforms.
		panic("pushproto: crypto/rand: " + err.Error())
	}
	return b
}

// GenerateServerKey makes a factor's server key pair (4096 bits).
func GenerateServerKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, ServerKeyBits)
}

// EncodeServerPublicKey returns the server's public key as the app reads it
// from detail.public_key: PKCS#1 RSAPublicKey DER in padded standard base64,
// "\n" after every 64 characters (none at the end), no PEM header lines.
func EncodeServerPublicKey(pub *rsa.PublicKey) string {
	s := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(pub))
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64])
		b.WriteByte('\n')
		s = s[64:]
	}
	b.WriteString(s)
	return b.String()
}

// ErrAppKey is returned (wrapped) for an unusable app public key.
var ErrAppKey = errors.New("pushproto: unusable app public key")

// maxAppKeyChars bounds the encoded app key (an 8192-bit key is ~1.4 KB).
const maxAppKeyChars = 4096

// ParseAppPublicKey reads the pubkey field of the registration: base64 of a DER
// SubjectPublicKeyInfo holding an RSA key of MinAppKeyBits to MaxAppKeyBits.
// It tolerates the URL-safe alphabet, '+' turned into ' ' by form decoding,
// line breaks and missing padding.
func ParseAppPublicKey(s string) (*rsa.PublicKey, error) {
	if len(s) > maxAppKeyChars {
		return nil, fmt.Errorf("%w: too long", ErrAppKey)
	}
	s = strings.TrimSpace(s)
	s = strings.NewReplacer("-", "+", "_", "/", " ", "+", "\r", "", "\n", "").Replace(s)
	der, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrAppKey)
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: not a SubjectPublicKeyInfo", ErrAppKey)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: not an RSA key", ErrAppKey)
	}
	if bits := pub.N.BitLen(); bits < MinAppKeyBits || bits > MaxAppKeyBits {
		return nil, fmt.Errorf("%w: %d bits", ErrAppKey, bits)
	}
	return pub, nil
}

// ErrSignature is returned (wrapped) when a signature does not verify.
var ErrSignature = errors.New("pushproto: signature does not verify")

// maxSignatureChars bounds an encoded signature (8192 bits → 1640 chars).
const maxSignatureChars = 2048

// Sign signs strings.Join(parts, "|") (UTF-8) with RSASSA-PKCS1-v1_5 and
// SHA-256 and returns the signature in upper-case padded base32.
func Sign(priv *rsa.PrivateKey, parts ...string) (string, error) {
	msg := strings.Join(parts, "|")
	if !utf8.ValidString(msg) {
		return "", errors.New("pushproto: signed data is not UTF-8")
	}
	digest := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("pushproto: sign: %w", err)
	}
	return base32.StdEncoding.EncodeToString(sig), nil
}

// Verify checks sig, upper-case RFC 4648 base32 with or without its padding,
// as an RSASSA-PKCS1-v1_5 SHA-256 signature of strings.Join(parts, "|").
func Verify(pub *rsa.PublicKey, sig string, parts ...string) error {
	if pub == nil {
		return fmt.Errorf("%w: no key", ErrSignature)
	}
	raw, err := decodeBase32(sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	msg := strings.Join(parts, "|")
	if !utf8.ValidString(msg) {
		return fmt.Errorf("%w: signed data is not UTF-8", ErrSignature)
	}
	digest := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], raw); err != nil {
		return ErrSignature
	}
	return nil
}

func decodeBase32(s string) ([]byte, error) {
	if s == "" || len(s) > maxSignatureChars {
		return nil, errors.New("bad signature length")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '2' <= c && c <= '7' || c == '=') {
			return nil, errors.New("signature is not upper-case base32")
		}
	}
	if r := len(s) % 8; r != 0 && !strings.Contains(s, "=") {
		s += strings.Repeat("=", 8-r)
	}
	return base32.StdEncoding.DecodeString(s)
}
