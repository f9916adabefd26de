package pushproto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestEnrolmentURIGolden(t *testing.T) {
	got := EnrolmentURI(EnrolmentOptions{
		Label:       "alice@example.com",
		Issuer:      "Countersign Acme",
		URL:         "https://mfa.example.com:8443/push/v1?x=1",
		Serial:      "CSPU0001",
		Credential:  "00112233445566778899aabbccddeeff00112233",
		TTLMinutes:  10,
		SSLVerify:   true,
		ForceUnlock: true,
	})
	want := "otpauth://pipush/alice%40example.com" +
		"?url=https%3A//mfa.example.com%3A8443/push/v1%3Fx%3D1" +
		"&ttl=10&issuer=Countersign%20Acme" +
		"&enrollment_credential=00112233445566778899aabbccddeeff00112233" +
		"&v=1&serial=CSPU0001&sslverify=1&poll_only=True&app_force_unlock=any"
	if got != want {
		t.Fatalf("EnrolmentURI\n got %s\nwant %s", got, want)
	}

	got = EnrolmentURI(EnrolmentOptions{Label: "Zoë Müller/x", Issuer: "A&B", URL: "http://h/p", Serial: "S 1", Credential: "c"})
	want = "otpauth://pipush/Zo%C3%AB%20M%C3%BCller/x?url=http%3A//h/p&ttl=10&issuer=A%26B" +
		"&enrollment_credential=c&v=1&serial=S%201&sslverify=0&poll_only=True"
	if got != want {
		t.Fatalf("EnrolmentURI\n got %s\nwant %s", got, want)
	}
}

func TestNewCredentialAndNonce(t *testing.T) {
	hex40 := regexp.MustCompile(`^[0-9a-f]{40}$`)
	b32 := regexp.MustCompile(`^[A-Z2-7]{32}$`)
	seen := map[string]bool{}
	for range 50 {
		c, n := NewCredential(), NewNonce()
		if !hex40.MatchString(c) {
			t.Fatalf("credential %q", c)
		}
		if !b32.MatchString(n) {
			t.Fatalf("nonce %q", n)
		}
		if seen[c] || seen[n] {
			t.Fatal("repeated value")
		}
		seen[c], seen[n] = true, true
	}
}

func TestGenerateServerKeyAndEncoding(t *testing.T) {
	priv, err := GenerateServerKey()
	if err != nil {
		t.Fatal(err)
	}
	if priv.N.BitLen() != 4096 || priv.E != 65537 {
		t.Fatalf("key %d bits e=%d", priv.N.BitLen(), priv.E)
	}
	enc := EncodeServerPublicKey(&priv.PublicKey)
	if strings.Contains(enc, "-----") || strings.Contains(enc, "\r") || strings.HasSuffix(enc, "\n") {
		t.Fatalf("not a stripped PEM body: %q", enc)
	}
	lines := strings.Split(enc, "\n")
	for i, l := range lines {
		if len(l) > 64 || (i < len(lines)-1 && len(l) != 64) {
			t.Fatalf("line %d has %d chars", i, len(l))
		}
	}
	// As the app reads it (token_notifier.dart, rsa_utils.dart
	// deserializeRSAPublicKeyPKCS1): remove "\n", padded standard base64,
	// SEQUENCE{n, e}.
	flat := strings.ReplaceAll(enc, "\n", "")
	if len(flat)%4 != 0 {
		t.Fatalf("unpadded base64 (%d chars)", len(flat))
	}
	der, err := base64.StdEncoding.Strict().DecodeString(flat)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&priv.PublicKey) {
		t.Fatal("decoded key differs")
	}
	if _, err := x509.ParsePKIXPublicKey(der); err == nil {
		t.Fatal("encoded as SubjectPublicKeyInfo; the app wants PKCS#1")
	}
}

func spki(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func TestParseAppPublicKey(t *testing.T) {
	_, app, _ := testKeys(t)
	std := spki(t, &app.PublicKey)
	for name, s := range map[string]string{
		"standard":      std,
		"url-safe":      strings.NewReplacer("+", "-", "/", "_").Replace(std),
		"form-decoded":  strings.ReplaceAll(std, "+", " "),
		"unpadded":      strings.TrimRight(std, "="),
		"line breaks":   std[:64] + "\n" + std[64:],
		"outer spacing": " " + std + "\n",
	} {
		pub, err := ParseAppPublicKey(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !pub.Equal(&app.PublicKey) {
			t.Fatalf("%s: wrong key", name)
		}
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"1024 bits": spki(t, &small.PublicKey),
		"ecdsa":     spki(t, &ec.PublicKey),
		"pkcs1":     base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&app.PublicKey)),
		"garbage":   "not*base64",
		"empty":     "",
		"huge":      strings.Repeat("A", 5000),
	} {
		if _, err := ParseAppPublicKey(s); !errors.Is(err, ErrAppKey) {
			t.Fatalf("%s: got %v, want ErrAppKey", name, err)
		}
	}
}

func TestSignVerify(t *testing.T) {
	server, _, other := testKeys(t)
	sig, err := Sign(server, "NONCE", "https://h/p", "S1", "Sign in?", "Countersign", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Z2-7]+=*$`).MatchString(sig) || len(sig)%8 != 0 {
		t.Fatalf("not padded upper-case base32: %q", sig)
	}
	// The app checks it over the "|"-joined UTF-8 string.
	if err := appVerify(&server.PublicKey, sig, "NONCE|https://h/p|S1|Sign in?|Countersign|1"); err != nil {
		t.Fatalf("app would refuse: %v", err)
	}
	parts := []string{"NONCE", "https://h/p", "S1", "Sign in?", "Countersign", "1"}
	if err := Verify(&server.PublicKey, sig, parts...); err != nil {
		t.Fatal(err)
	}
	if err := Verify(&server.PublicKey, strings.TrimRight(sig, "="), parts...); err != nil {
		t.Fatalf("missing padding: %v", err)
	}
	for name, f := range map[string]func() error{
		"tampered part": func() error {
			return Verify(&server.PublicKey, sig, "NONCE", "https://h/p", "S1", "Sign in?", "Countersign", "0")
		},
		"other key":  func() error { return Verify(&other.PublicKey, sig, parts...) },
		"lower case": func() error { return Verify(&server.PublicKey, strings.ToLower(sig), parts...) },
		"flipped":    func() error { return Verify(&server.PublicKey, flip(sig), parts...) },
		"empty":      func() error { return Verify(&server.PublicKey, "", parts...) },
		"garbage":    func() error { return Verify(&server.PublicKey, "!!!!", parts...) },
		"no key":     func() error { return Verify(nil, sig, parts...) },
	} {
		if err := f(); !errors.Is(err, ErrSignature) {
			t.Fatalf("%s: got %v, want ErrSignature", name, err)
		}
	}
	if _, err := Sign(server, "\xff"); err == nil {
		t.Fatal("signed invalid UTF-8")
	}
	// Non-ASCII is signed as UTF-8, as the app's utf8.encode does.
	sig, err = Sign(server, "Zoë", "✓")
	if err != nil {
		t.Fatal(err)
	}
	if err := appVerify(&server.PublicKey, sig, "Zoë|✓"); err != nil {
		t.Fatal(err)
	}
}

// flip changes one base32 character in the middle of sig.
func flip(sig string) string {
	b := []byte(sig)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
