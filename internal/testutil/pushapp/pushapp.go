// Package pushapp is a headless phone for Countersign's tests: a Go
// implementation of the app side of the push protocol, behaving as the
// privacyIDEA Authenticator app does in its poll-only mode (see
// /work/shared/spec/push-protocol.md). It scans the enrolment URI, registers
// its key, polls for challenges, verifies them as the app does (dropping
// what the app would drop, recorded in Token.Dropped), and answers them.
// Knobs for negative tests sign with another key, move the clock and replay
// the last poll or answer verbatim.
//
// Standard library only; it knows nothing of Countersign's server code.
package pushapp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Phone is one installation of the app: its tokens and the push requests it
// knows.
type Phone struct {
	key *rsa.PrivateKey

	mu     sync.Mutex
	tokens []*Token
	known  map[string]bool // nonces the app has seen (it ignores them again)
}

// New makes a phone with a 4096-bit RSA key, as the app generates.
func New() (*Phone, error) { return NewWithBits(4096) }

// NewWithBits makes a phone with a key of the given size (2048 for fast tests).
func NewWithBits(bits int) (*Phone, error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	return &Phone{key: k, known: map[string]bool{}}, nil
}

// Key is the phone's private key (its public half is what Register sends).
func (p *Phone) Key() *rsa.PrivateKey { return p.key }

// Tokens lists the phone's tokens.
func (p *Phone) Tokens() []*Token {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Token(nil), p.tokens...)
}

func (p *Phone) tokenBySerial(serial string) *Token {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tokens {
		if t.Serial == serial {
			return t
		}
	}
	return nil
}

func (p *Phone) remove(t *Token) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.tokens {
		if x == t {
			p.tokens = append(p.tokens[:i], p.tokens[i+1:]...)
			return
		}
	}
}

// Token is a push token on the phone.
type Token struct {
	phone *Phone

	Label, Issuer        string
	Serial               string
	URL                  string // the rollout and poll URL, as the app holds it
	SSLVerify            bool
	PollOnly             *bool
	EnrollmentCredential string // empty when the URI had none
	TTL                  time.Duration
	Expires              time.Time // rollout deadline on the phone

	// ServerKey is the server's key read at rollout; nil before.
	ServerKey *rsa.PublicKey

	// Now is the phone's clock (time.Now when nil): a test moves it to send a
	// stale timestamp or to let a rollout or a request expire.
	Now func() time.Time

	mu         sync.Mutex
	signer     *rsa.PrivateKey
	dropped    []string
	lastPoll   string
	lastAnswer *Answer
}

// Answer is what the phone posted in reply to a challenge.
type Answer struct {
	URL       string
	Body      string // the form body, fields in the app's order
	Signed    string // the string the phone signed
	SSLVerify bool
	Response  []byte // the raw response body
}

func (t *Token) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// RolledOut reports whether Register succeeded.
func (t *Token) RolledOut() bool { return t.ServerKey != nil }

// SignWith makes the token sign polls and answers with key instead of the
// phone's key (nil restores the phone's key).
func (t *Token) SignWith(key *rsa.PrivateKey) {
	t.mu.Lock()
	t.signer = key
	t.mu.Unlock()
}

// Dropped lists, one reason each, what the phone silently dropped while
// polling: whole answers and single challenges.
func (t *Token) Dropped() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.dropped...)
}

func (t *Token) drop(format string, a ...any) {
	t.mu.Lock()
	t.dropped = append(t.dropped, fmt.Sprintf(format, a...))
	t.mu.Unlock()
}

// LastAnswer is the last answer posted for a challenge of this token.
func (t *Token) LastAnswer() *Answer {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastAnswer
}

// LastPollURL is the URL of the last poll, as sent.
func (t *Token) LastPollURL() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastPoll
}

func (t *Token) sign(msg string) (string, error) {
	t.mu.Lock()
	k := t.signer
	t.mu.Unlock()
	if k == nil {
		k = t.phone.key
	}
	h := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
	if err != nil {
		return "", err
	}
	return b32(sig), nil
}

// ---------------------------------------------------------------- enrolment

// Scan reads an enrolment URI (otpauth://pipush/… or pia://pipush/…) as the
// app does and adds the token to the phone. Errors name the rule broken.
func (p *Phone) Scan(uri string) (*Token, error) {
	t, err := p.parse(strings.TrimSpace(uri))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.tokens = append(p.tokens, t)
	p.mu.Unlock()
	return t, nil
}

// ScanPNG decodes the QR code in a PNG with zbarimg, then Scan.
func (p *Phone) ScanPNG(path string) (*Token, error) {
	out, err := exec.Command("zbarimg", "--raw", "-q", path).Output()
	if err != nil {
		return nil, fmt.Errorf("pushapp: zbarimg %s: %w", path, err)
	}
	return p.Scan(strings.TrimRight(string(out), "\r\n"))
}

func (p *Phone) parse(raw string) (*Token, error) {
	u, err := parseDartURI(raw)
	if err != nil {
		return nil, fmt.Errorf("pushapp: enrolment URI: %w", err)
	}
	if u.scheme != "otpauth" && u.scheme != "pia" {
		return nil, fmt.Errorf("pushapp: enrolment URI: scheme %q is not supported (otpauth or pia)", u.scheme)
	}
	q, err := decodeQuery(u.query)
	if err != nil {
		return nil, fmt.Errorf("pushapp: enrolment URI: query: %w", err)
	}
	typ := u.host
	if v, ok := q["tokentype"]; ok {
		typ = v
	}
	if lt := strings.ToLower(typ); lt != "pipush" && lt != "push" || !isPushHost(u.host) {
		return nil, fmt.Errorf("pushapp: enrolment URI: token type %q is not a push token (pipush)", typ)
	}
	t := &Token{phone: p, SSLVerify: true, TTL: 3 * time.Minute}
	// Label: the path without its '/', decoded; "issuer:label" wins over issuer=.
	label, err := decodePercent(strings.TrimPrefix(u.path, "/"), false)
	if err != nil {
		return nil, fmt.Errorf("pushapp: enrolment URI: label: %w", err)
	}
	// The issuer parameter is decoded a second time (Uri.decodeFull on the
	// already decoded value), falling back to the value itself.
	issuer := q["issuer"]
	if d, err := decodePercent(issuer, false); err == nil {
		issuer = d
	}
	if issuer == "Steam" {
		return nil, errors.New("pushapp: enrolment URI: issuer Steam makes a Steam token, not a push token (pipush)")
	}
	if parts := strings.Split(label, ":"); len(parts) > 1 {
		t.Issuer, t.Label = parts[0], parts[1]
	} else {
		t.Label, t.Issuer = label, issuer
	}
	serial, ok := q["serial"]
	if !ok {
		return nil, errors.New("pushapp: enrolment URI: serial is required")
	}
	t.Serial = serial
	if v, ok := q["sslverify"]; ok {
		if b, err := dartBool(v); err == nil {
			t.SSLVerify = b
		}
	}
	if v, ok := q["poll_only"]; ok {
		// Optional: an unreadable value is silently no value.
		if b, err := dartBool(v); err == nil {
			t.PollOnly = &b
		}
	}
	if v, ok := q["ttl"]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			if n <= 0 {
				return nil, fmt.Errorf("pushapp: enrolment URI: ttl %q must be more than 0 minutes", v)
			}
			t.TTL = time.Duration(n) * time.Minute
		}
	}
	t.EnrollmentCredential = q["enrollment_credential"]
	rawURL, ok := q["url"]
	if !ok {
		return nil, errors.New("pushapp: enrolment URI: url is required")
	}
	ru, err := parseDartURI(rawURL)
	if err != nil && !strings.Contains(rawURL, "://") {
		// A missing scheme silently becomes https.
		ru, err = parseDartURI("https://" + rawURL)
	}
	if err != nil {
		return nil, fmt.Errorf("pushapp: enrolment URI: url %q is invalid: %v", rawURL, err)
	}
	if ru.scheme != "http" && ru.scheme != "https" || ru.host == "" {
		return nil, fmt.Errorf("pushapp: enrolment URI: url %q must be http or https with a host", rawURL)
	}
	t.URL = ru.String()
	v, ok := q["v"]
	if !ok {
		return nil, errors.New("pushapp: enrolment URI: v is required")
	}
	if v != "1" {
		return nil, fmt.Errorf("pushapp: enrolment URI: the piauth version [%s] is not supported (v must be 1)", v)
	}
	t.Expires = t.now().Add(t.TTL)
	return t, nil
}

func isPushHost(h string) bool {
	// The app's otpauth processor accepts any known token type as host; the
	// type then comes from tokentype= or the host. Only push types make a
	// push token.
	switch strings.ToUpper(h) {
	case "HOTP", "TOTP", "PIPUSH", "PUSH", "DAYPASSWORD", "STEAM":
		return true
	}
	return false
}

func dartBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q", v)
}

// decodeQuery decodes as Dart's Uri.queryParameters ('+' is a space, the
// last of repeated keys wins).
func decodeQuery(q string) (map[string]string, error) {
	m := map[string]string{}
	if q == "" {
		return m, nil
	}
	for _, pair := range strings.Split(q, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dk, err := decodePercent(k, true)
		if err != nil {
			return nil, err
		}
		dv, err := decodePercent(v, true)
		if err != nil {
			return nil, err
		}
		m[dk] = dv
	}
	return m, nil
}

func decodePercent(s string, plus bool) (string, error) {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("invalid percent-escape in %q", s)
			}
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
		case c == '+' && plus:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// ---------------------------------------------------------------- rollout

// Capabilities is what the phone announces: canonical JSON of the names.
const Capabilities = `["decline_reason"]`

// NoFirebaseToken is the fbtoken a poll-only phone sends.
const NoFirebaseToken = "no_firebase_token"

// httpClient returns a client that follows the app's transport rules: no
// certificate check when sslverify is off, no redirects for a POST.
func httpClient(c *http.Client, sslVerify, post bool) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cc := *c
	if !sslVerify {
		var tr *http.Transport
		switch x := c.Transport.(type) {
		case nil:
			tr = http.DefaultTransport.(*http.Transport).Clone()
		case *http.Transport:
			tr = x.Clone()
		}
		if tr != nil {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true
			cc.Transport = tr
		}
	}
	if post {
		cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &cc
}

func (t *Token) post(ctx context.Context, client *http.Client, url string, sslVerify bool, body string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "privacyIDEA-App/4.8.0 countersign-pushapp")
	resp, err := httpClient(client, sslVerify, true).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Register sends the rollout POST as the app does and reads the server's key
// from detail.public_key only, failing where the app fails. An expired
// rollout removes the token from the phone, as the app does.
func (t *Token) Register(ctx context.Context, client *http.Client) error {
	if t.RolledOut() {
		return nil
	}
	if t.now().After(t.Expires) {
		t.phone.remove(t)
		return fmt.Errorf("pushapp: rollout of %s not possible anymore: the token expired (ttl %v) and was deleted", t.Serial, t.TTL)
	}
	if t.EnrollmentCredential == "" {
		return errors.New("pushapp: rollout: enrollment_credential is missing (the app cannot send a null body value)")
	}
	spki, err := x509.MarshalPKIXPublicKey(&t.phone.key.PublicKey)
	if err != nil {
		return err
	}
	body := encodeForm([]kv{
		{"enrollment_credential", t.EnrollmentCredential},
		{"serial", t.Serial},
		{"fbtoken", NoFirebaseToken},
		{"pubkey", base64.StdEncoding.EncodeToString(spki)},
		{"capabilities", Capabilities},
	})
	status, resp, err := t.post(ctx, client, t.URL, t.SSLVerify, body)
	if err != nil {
		return fmt.Errorf("pushapp: rollout: %w", err)
	}
	if status >= 400 {
		var e struct {
			Result struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			} `json:"result"`
		}
		_ = json.Unmarshal(resp, &e)
		return fmt.Errorf("pushapp: rollout failed: HTTP %d: %s", status, e.Result.Error.Message)
	}
	var r struct {
		Detail map[string]any `json:"detail"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return fmt.Errorf("pushapp: rollout: response is not JSON: %w", err)
	}
	s, ok := r.Detail["public_key"].(string)
	if !ok {
		return errors.New("pushapp: rollout: detail.public_key is not a string")
	}
	key, err := parsePKCS1(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		return fmt.Errorf("pushapp: rollout: detail.public_key: %w", err)
	}
	t.ServerKey = key
	return nil
}

// parsePKCS1 reads base64 of SEQUENCE{INTEGER n, INTEGER e} as the app does.
func parsePKCS1(s string) (*rsa.PublicKey, error) {
	der, err := dartBase64Decode(s)
	if err != nil {
		return nil, err
	}
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(der, &seq); err != nil {
		return nil, fmt.Errorf("not DER: %w", err)
	}
	if seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence {
		return nil, errors.New("not a SEQUENCE")
	}
	var ints []*big.Int
	rest := seq.Bytes
	for len(rest) > 0 && len(ints) < 2 {
		var el asn1.RawValue
		r, err := asn1.Unmarshal(rest, &el)
		if err != nil {
			return nil, fmt.Errorf("bad element: %w", err)
		}
		if el.Class != asn1.ClassUniversal || el.Tag != asn1.TagInteger {
			return nil, fmt.Errorf("element %d is not an INTEGER (an RSAPublicKey is expected, not SubjectPublicKeyInfo)", len(ints))
		}
		var n *big.Int
		if _, err := asn1.Unmarshal(el.FullBytes, &n); err != nil {
			return nil, err
		}
		ints = append(ints, n)
		rest = r
	}
	if len(ints) < 2 {
		return nil, errors.New("RSAPublicKey needs two INTEGERs")
	}
	if !ints[1].IsInt64() || ints[1].Int64() > 1<<31-1 {
		return nil, errors.New("public exponent too large")
	}
	return &rsa.PublicKey{N: ints[0], E: int(ints[1].Int64())}, nil
}

// NewWithKey makes a phone with a key it had before (a phone whose state
// was saved between runs, as the development phone command does).
func NewWithKey(k *rsa.PrivateKey) *Phone { return &Phone{key: k, known: map[string]bool{}} }

// Restore puts back a token that was rolled out before: what the app keeps
// of it after the rollout.
func (p *Phone) Restore(label, issuer, serial, url string, sslVerify bool, serverKey *rsa.PublicKey) *Token {
	t := &Token{phone: p, Label: label, Issuer: issuer, Serial: serial, URL: url, SSLVerify: sslVerify, ServerKey: serverKey}
	p.mu.Lock()
	p.tokens = append(p.tokens, t)
	p.mu.Unlock()
	return t
}
