package pushapp

// These tests run the headless phone against a tiny fake server written
// here from the protocol notes (/work/shared/spec/push-protocol.md), not
// from Countersign's server code.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	keyOnce   sync.Once
	serverKey *rsa.PrivateKey
	otherKey  *rsa.PrivateKey
	testPhone *rsa.PrivateKey
)

func keys(t *testing.T) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&serverKey, &otherKey, &testPhone} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
}

func newPhone(t *testing.T) *Phone {
	keys(t)
	return &Phone{key: testPhone, known: map[string]bool{}}
}

// fakeServer plays the server side as the notes describe it.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	keyFormat   string // pkcs1 (default), spki, pem, unpadded
	phoneKey    *rsa.PublicKey
	rolloutBody string
	pollQuery   string
	pollBody    string // when set, the raw poll answer
	challenges  []map[string]any
	answers     []url.Values
	answerRaw   []string
	answered    map[string]bool
	answerBody  string // when set, the raw answer response
}

func newFakeServer(t *testing.T) *fakeServer {
	keys(t)
	f := &fakeServer{t: t, answered: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) url() string { return f.srv.URL + "/ttype/push" }

func (f *fakeServer) enrolURI(serial string) string {
	return "otpauth://pipush/Countersign%3Aalice?url=" + url.QueryEscape(f.url()) +
		"&ttl=10&issuer=Countersign&enrollment_credential=0123456789abcdef0123456789abcdef01234567&v=1&serial=" +
		serial + "&sslverify=0&poll_only=True"
}

func sign(k *rsa.PrivateKey, msg string) string {
	h := sha256.Sum256([]byte(msg))
	s, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	return base32.StdEncoding.EncodeToString(s)
}

func verifySig(k *rsa.PublicKey, msg, sig string) bool {
	b, err := base32.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	h := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], b) == nil
}

func result(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	result(w, code, map[string]any{"result": map[string]any{"status": false, "error": map[string]any{"code": 905, "message": msg}}})
}

func (f *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodGet {
		f.poll(w, r)
		return
	}
	raw := make([]byte, 1<<16)
	n, _ := r.Body.Read(raw)
	body := string(raw[:n])
	form, err := url.ParseQuery(body)
	if err != nil {
		fail(w, 400, "bad form")
		return
	}
	if form.Has("pubkey") {
		f.rolloutBody = body
		f.rollout(w, form)
		return
	}
	f.answerRaw = append(f.answerRaw, body)
	f.answers = append(f.answers, form)
	if f.answerBody != "" {
		_, _ = w.Write([]byte(f.answerBody))
		return
	}
	msg := form.Get("nonce") + "|" + form.Get("serial")
	if form.Get("decline") == "1" {
		msg += "|decline"
	}
	if form.Has("decline_reason") {
		msg += "|" + form.Get("decline_reason")
	}
	if form.Has("presence_answer") {
		msg += "|" + form.Get("presence_answer")
	}
	ok := verifySig(f.phoneKey, msg, form.Get("signature")) && !f.answered[form.Get("nonce")]
	if ok {
		f.answered[form.Get("nonce")] = true
	}
	result(w, 200, map[string]any{"result": map[string]any{"status": true, "value": ok}})
}

func (f *fakeServer) rollout(w http.ResponseWriter, form url.Values) {
	der, err := base64.StdEncoding.DecodeString(form.Get("pubkey"))
	if err != nil {
		fail(w, 400, "pubkey is not base64")
		return
	}
	pk, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		fail(w, 400, "pubkey is not SubjectPublicKeyInfo")
		return
	}
	f.phoneKey = pk.(*rsa.PublicKey)
	var key string
	switch f.keyFormat {
	case "spki":
		b, _ := x509.MarshalPKIXPublicKey(&serverKey.PublicKey)
		key = base64.StdEncoding.EncodeToString(b)
	case "pem":
		key = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&serverKey.PublicKey)}))
	case "unpadded":
		// A 4-byte exponent makes the DER length need padding (a 2048-bit
		// key with e=65537 does not).
		k := &rsa.PublicKey{N: serverKey.N, E: 1<<31 - 1}
		key = base64.RawStdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(k))
		if len(key)%4 == 0 {
			panic("unpadded test key needs no padding")
		}
	default: // PKCS#1 PEM with the header lines stripped: \n every 64 chars
		p := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&serverKey.PublicKey)}))
		lines := strings.Split(strings.TrimSpace(p), "\n")
		key = strings.Join(lines[1:len(lines)-1], "\n") + "\n"
	}
	result(w, 200, map[string]any{
		"result": map[string]any{"status": true, "value": true},
		"detail": map[string]any{"public_key": key, "rollout_state": "enrolled", "serial": form.Get("serial")},
	})
}

func (f *fakeServer) poll(w http.ResponseWriter, r *http.Request) {
	f.pollQuery = r.URL.RawQuery
	q := r.URL.Query()
	ts, err := time.Parse(time.RFC3339Nano, q.Get("timestamp"))
	if err != nil || time.Since(ts) > time.Minute || time.Until(ts) > time.Minute {
		fail(w, 400, "Timestamp "+q.Get("timestamp")+" not in valid range.")
		return
	}
	if !verifySig(f.phoneKey, q.Get("serial")+"|"+q.Get("timestamp"), q.Get("signature")) {
		fail(w, 400, "Could not verify signature!")
		return
	}
	if f.pollBody != "" {
		_, _ = w.Write([]byte(f.pollBody))
		return
	}
	list := f.challenges
	if list == nil {
		list = []map[string]any{}
	}
	result(w, 200, map[string]any{"result": map[string]any{"status": true, "value": list}})
}

// challenge builds a signed challenge as the notes describe.
func (f *fakeServer) challenge(serial, nonce string, presence []string, caps bool) map[string]any {
	c := map[string]any{
		"nonce": nonce, "question": "Sign in to Countersign?", "serial": serial,
		"title": "Countersign", "sslverify": "0", "url": f.url(),
	}
	msg := nonce + "|" + f.url() + "|" + serial + "|Sign in to Countersign?|Countersign|0"
	if presence != nil {
		c["require_presence"] = strings.Join(presence, ",")
		c["version"] = "2"
		msg += "|" + strings.Join(presence, ",")
	}
	c["signature"] = sign(serverKey, msg)
	if caps {
		c["capabilities"] = `{"decline_reason": true}`
		c["capabilities_signature"] = sign(serverKey, `{"capabilities":{"decline_reason":true},"nonce":"`+nonce+`"}`)
	}
	return c
}

func enrolled(t *testing.T) (*fakeServer, *Phone, *Token) {
	f := newFakeServer(t)
	p := newPhone(t)
	tok, err := p.Scan(f.enrolURI("PIPU0001"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Register(context.Background(), f.srv.Client()); err != nil {
		t.Fatal(err)
	}
	return f, p, tok
}

func TestScanValidation(t *testing.T) {
	p := newPhone(t)
	good := "otpauth://pipush/Countersign%3Aalice?url=https%3A//cs.example/ttype/push&ttl=10&issuer=Other&enrollment_credential=abc&v=1&serial=PIPU1&sslverify=0&poll_only=True"
	tok, err := p.Scan(good)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Label != "alice" || tok.Issuer != "Countersign" || tok.Serial != "PIPU1" || tok.SSLVerify || tok.PollOnly == nil || !*tok.PollOnly ||
		tok.TTL != 10*time.Minute || tok.URL != "https://cs.example/ttype/push" || tok.EnrollmentCredential != "abc" {
		t.Fatalf("parsed %+v", tok)
	}
	if tok, err = p.Scan("pia://PIPUSH/bob?url=cs.example/push&v=1&serial=S2&sslverify=junk&ttl=x&issuer=Acme&poll_only=maybe"); err != nil {
		t.Fatal(err)
	}
	if tok.Label != "bob" || tok.Issuer != "Acme" || !tok.SSLVerify || tok.TTL != 3*time.Minute || tok.URL != "https://cs.example/push" || tok.PollOnly != nil {
		t.Fatalf("defaults: %+v", tok)
	}
	for _, c := range []struct{ uri, want string }{
		{"otpauth://pipush/a?url=https%3A//h/p&serial=S", "v is required"},
		{"otpauth://pipush/a?url=https%3A//h/p&serial=S&v=2", "version [2] is not supported"},
		{"otpauth://pipush/a?url=https%3A//h/p&v=1", "serial is required"},
		{"otpauth://pipush/a?serial=S&v=1", "url is required"},
		{"otpauth://pipush/a?url=ftp%3A//h/p&serial=S&v=1", "http or https"},
		{"otpauth://pipush/a?url=https%3A//h/p&serial=S&v=1&ttl=0", "ttl"},
		{"otpauth://pipush/a?url=https%3A//h/p&serial=S&v=1&issuer=Steam", "Steam"},
		{"otpauth://totp/a?secret=AAAA", "not a push token"},
		{"https://pipush/a?url=https%3A//h/p&serial=S&v=1", "scheme"},
	} {
		if _, err := p.Scan(c.uri); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Scan(%s) = %v, want error containing %q", c.uri, err, c.want)
		}
	}
}

func TestDartisms(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("x", 3600))
	if got := dartTimestamp(ts); got != "2026-03-04T04:06:07.123456Z" {
		t.Errorf("timestamp %s", got)
	}
	if got := dartTimestamp(ts.Truncate(time.Millisecond)); got != "2026-03-04T04:06:07.123Z" {
		t.Errorf("timestamp %s", got)
	}
	if got := dartTimestamp(ts.Truncate(time.Second)); got != "2026-03-04T04:06:07.000Z" {
		t.Errorf("timestamp %s", got)
	}
	u, err := parseDartURI("HTTPS://CS.Example:443/a/./b/../c%7e%2f?x=%2f y:@")
	if err != nil || u.String() != "https://cs.example/a/c~%2F?x=%2F%20y:@" {
		t.Errorf("dart url %v %v", u, err)
	}
	keys(t)
	der := x509.MarshalPKCS1PublicKey(&rsa.PublicKey{N: serverKey.N, E: 1<<31 - 1})
	if _, err := parsePKCS1(base64.StdEncoding.EncodeToString(der)); err != nil {
		t.Errorf("padded PKCS#1: %v", err)
	}
	if _, err := parsePKCS1(base64.RawStdEncoding.EncodeToString(der)); err == nil {
		t.Error("unpadded PKCS#1 accepted")
	}
	if _, err := parsePKCS1(base64.URLEncoding.EncodeToString(der)); err != nil {
		t.Errorf("url-safe alphabet (Dart accepts both): %v", err)
	}
	if s, _ := canonicalJSON(map[string]any{"nonce": "N", "capabilities": map[string]any{"b": []any{"\n", true}, "a": "é"}}); s != `{"capabilities":{"a":"é","b":["\n",true]},"nonce":"N"}` {
		t.Errorf("canonical %s", s)
	}
}

func TestRegisterAsTheApp(t *testing.T) {
	f, p, tok := enrolled(t)
	if !tok.RolledOut() || tok.ServerKey.N.Cmp(serverKey.N) != 0 {
		t.Fatal("server key not read")
	}
	spki, _ := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	want := "enrollment_credential=0123456789abcdef0123456789abcdef01234567&serial=PIPU0001&fbtoken=no_firebase_token&pubkey=" +
		queryComponent(base64.StdEncoding.EncodeToString(spki)) + "&capabilities=%5B%22decline_reason%22%5D"
	if f.rolloutBody != want {
		t.Errorf("rollout body\n got %s\nwant %s", f.rolloutBody, want)
	}
	for _, format := range []string{"spki", "pem", "unpadded"} {
		f.keyFormat = format
		tok, err := p.Scan(f.enrolURI("PIPU-" + format))
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.Register(context.Background(), f.srv.Client()); err == nil {
			t.Errorf("%s key accepted; the app refuses it", format)
		}
	}
}

func TestRegisterExpired(t *testing.T) {
	f := newFakeServer(t)
	p := newPhone(t)
	tok, _ := p.Scan(f.enrolURI("PIPU0002"))
	tok.Now = func() time.Time { return time.Now().Add(11 * time.Minute) }
	if err := tok.Register(context.Background(), f.srv.Client()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired rollout: %v", err)
	}
	if len(p.Tokens()) != 0 {
		t.Error("expired token not deleted")
	}
}

func TestPollApproveAndReplay(t *testing.T) {
	f, _, tok := enrolled(t)
	ctx, c := context.Background(), f.srv.Client()
	f.challenges = []map[string]any{f.challenge("PIPU0001", "NONCE1", nil, false)}
	reqs, err := tok.Poll(ctx, c)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("poll: %v %v %v", reqs, err, tok.Dropped())
	}
	q, _ := url.ParseQuery(f.pollQuery)
	if !strings.HasPrefix(f.pollQuery, "serial=PIPU0001&timestamp=") || !strings.HasSuffix(f.pollQuery, "&capabilities=%5B%22decline_reason%22%5D") ||
		!strings.HasSuffix(q.Get("timestamp"), "Z") {
		t.Errorf("poll query %s", f.pollQuery)
	}
	r := reqs[0]
	if r.Title != "Countersign" || r.CanDeclineWithReason || len(r.Options) != 0 {
		t.Errorf("request %+v", r)
	}
	ok, err := r.Approve(ctx, c)
	if err != nil || !ok {
		t.Fatalf("approve: %v %v", ok, err)
	}
	a := tok.LastAnswer()
	if a.Signed != "NONCE1|PIPU0001" || !strings.HasPrefix(f.answerRaw[0], "serial=PIPU0001&nonce=NONCE1&signature=") {
		t.Errorf("answer %q body %q", a.Signed, f.answerRaw[0])
	}
	if ok, err := tok.ReplayLastAnswer(ctx, c); err != nil || ok {
		t.Errorf("replayed answer accepted: %v %v", ok, err)
	}
	if f.answerRaw[1] != f.answerRaw[0] {
		t.Error("replay not verbatim")
	}
	// The same nonce again is ignored by the phone.
	if reqs, err := tok.Poll(ctx, c); err != nil || len(reqs) != 0 || !strings.Contains(strings.Join(tok.Dropped(), ";"), "duplicate") {
		t.Errorf("duplicate: %v %v %v", reqs, err, tok.Dropped())
	}
	if _, err := tok.ReplayLastPoll(ctx, c); err != nil {
		t.Errorf("replayed poll within the minute: %v", err)
	}
}

func TestPollNegative(t *testing.T) {
	f, _, tok := enrolled(t)
	ctx, c := context.Background(), f.srv.Client()

	tok.Now = func() time.Time { return time.Now().Add(-2 * time.Minute) }
	if _, err := tok.Poll(ctx, c); err == nil || !strings.Contains(err.Error(), "not in valid range") {
		t.Errorf("stale timestamp: %v", err)
	}
	tok.Now = nil
	tok.SignWith(otherKey)
	if _, err := tok.Poll(ctx, c); err == nil || !strings.Contains(err.Error(), "Could not verify signature") {
		t.Errorf("wrong key: %v", err)
	}
	tok.SignWith(nil)

	ch := f.challenge("PIPU0001", "NONCE2", nil, false)
	ch["sslverify"] = 0
	f.challenges = []map[string]any{f.challenge("PIPU0001", "NONCE3", nil, false), ch}
	if reqs, err := tok.Poll(ctx, c); err == nil || len(reqs) != 0 || !strings.Contains(err.Error(), "sslverify is a number") {
		t.Errorf("number field: %v %v", reqs, err)
	}
	f.challenges = nil
	f.pollBody = `{"result":{"status":true,"value":{}}}`
	if _, err := tok.Poll(ctx, c); err == nil || !strings.Contains(err.Error(), "not a list") {
		t.Errorf("value not a list: %v", err)
	}
	f.pollBody = ""

	bad := f.challenge("PIPU0001", "NONCE4", nil, false)
	bad["title"] = "Changed"
	other := f.challenge("PIPU9999", "NONCE5", nil, false)
	// privacyIDEA signs the configured URL verbatim: a non-normalised one
	// does not verify on the phone.
	raw := strings.Replace(f.url(), "http://", "HTTP://", 1)
	unnorm := f.challenge("PIPU0001", "NONCE6", nil, false)
	unnorm["url"] = raw
	unnorm["signature"] = sign(serverKey, "NONCE6|"+raw+"|PIPU0001|Sign in to Countersign?|Countersign|0")
	good := f.challenge("PIPU0001", "NONCE7", nil, false)
	f.challenges = []map[string]any{bad, other, unnorm, good}
	reqs, err := tok.Poll(ctx, c)
	if err != nil || len(reqs) != 1 || reqs[0].Nonce != "NONCE7" {
		t.Fatalf("dropping: %v %v", reqs, err)
	}
	d := strings.Join(tok.Dropped(), "\n")
	for _, n := range []string{"NONCE4 dropped: signature", "NONCE5 dropped: no rolled-out token", "NONCE6 dropped: signature"} {
		if !strings.Contains(d, n) {
			t.Errorf("dropped list lacks %q:\n%s", n, d)
		}
	}
}

func TestCapabilitiesAndDecline(t *testing.T) {
	f, _, tok := enrolled(t)
	ctx, c := context.Background(), f.srv.Client()
	wrong := f.challenge("PIPU0001", "NONCE8", nil, true)
	wrong["capabilities_signature"] = sign(serverKey, `{"capabilities":{"decline_reason":true},"nonce":"OTHER"}`)
	malformed := f.challenge("PIPU0001", "NONCE9", nil, false)
	malformed["capabilities"] = `{"decline_reason": 1}`
	malformed["capabilities_signature"] = "AAAA"
	f.challenges = []map[string]any{wrong, malformed, f.challenge("PIPU0001", "NONCE10", nil, true)}
	reqs, err := tok.Poll(ctx, c)
	if err != nil || len(reqs) != 2 || reqs[0].Nonce != "NONCE9" || reqs[0].CanDeclineWithReason || !reqs[1].CanDeclineWithReason {
		t.Fatalf("capabilities: %+v %v %v", reqs, err, tok.Dropped())
	}
	if !strings.Contains(strings.Join(tok.Dropped(), ""), "NONCE8 dropped: capabilities signature") {
		t.Errorf("dropped %v", tok.Dropped())
	}
	if ok, err := reqs[0].Decline(ctx, c); err != nil || !ok {
		t.Fatalf("legacy decline %v %v", ok, err)
	}
	if a := tok.LastAnswer(); a.Signed != "NONCE9|PIPU0001|decline" || !strings.HasPrefix(a.Body, "serial=PIPU0001&nonce=NONCE9&decline=1&signature=") {
		t.Errorf("legacy decline %q %q", a.Signed, a.Body)
	}
	if ok, err := reqs[1].Decline(ctx, c); err != nil || !ok {
		t.Fatalf("decline %v %v", ok, err)
	}
	if a := tok.LastAnswer(); a.Signed != "NONCE10|PIPU0001|decline|unknown_trigger" ||
		!strings.HasPrefix(a.Body, "serial=PIPU0001&nonce=NONCE10&decline=1&decline_reason=unknown_trigger&signature=") {
		t.Errorf("decline %q %q", a.Signed, a.Body)
	}
	f.challenges = []map[string]any{f.challenge("PIPU0001", "NONCE11", nil, true)}
	reqs, _ = tok.Poll(ctx, c)
	if ok, err := reqs[0].Cancel(ctx, c); err != nil || !ok || tok.LastAnswer().Signed != "NONCE11|PIPU0001|decline|cancelled" {
		t.Errorf("cancel %v %v %q", ok, err, tok.LastAnswer().Signed)
	}
}

func TestChooseAndAnswerParsing(t *testing.T) {
	f, _, tok := enrolled(t)
	ctx, c := context.Background(), f.srv.Client()
	f.challenges = []map[string]any{f.challenge("PIPU0001", "NONCE12", []string{"17", "42", "93"}, true)}
	reqs, err := tok.Poll(ctx, c)
	if err != nil || len(reqs) != 1 || strings.Join(reqs[0].Options, ",") != "17,42,93" {
		t.Fatalf("presence: %+v %v %v", reqs, err, tok.Dropped())
	}
	r := &reqs[0]
	if _, err := r.Approve(ctx, c); err == nil {
		t.Error("approve without an option")
	}
	if _, err := r.Choose(ctx, c, "55"); err == nil {
		t.Error("an option not offered")
	}
	if ok, err := r.Choose(ctx, c, "42"); err != nil || !ok {
		t.Fatalf("choose %v %v", ok, err)
	}
	if a := tok.LastAnswer(); a.Signed != "NONCE12|PIPU0001|42" || !strings.HasPrefix(a.Body, "serial=PIPU0001&nonce=NONCE12&presence_answer=42&signature=") {
		t.Errorf("choose %q %q", a.Signed, a.Body)
	}
	if _, err := r.Choose(ctx, c, "42"); err == nil {
		t.Error("answered twice")
	}
	for body, want := range map[string]string{
		`{"result":{"status":true,"value":true}}`:                        "",
		`{"result":{"status":"yes","value":true}}`:                       "status is not a boolean",
		`{"result":{"status":true,"value":"x"}}`:                         "value is",
		`<html>oops</html>`:                                              "not a JSON object",
		`{"result":{"status":false,"error":{"code":"x","message":"m"}}}`: "error.code",
		`{"result":{"status":false,"value":false,"time":5}}`:             "",
	} {
		f.answerBody = body
		f.challenges = []map[string]any{f.challenge("PIPU0001", "N"+fmt.Sprint(len(f.answers)), nil, false)}
		reqs, _ := tok.Poll(ctx, c)
		_, err := reqs[0].Approve(ctx, c)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("answer %s: %v", body, err)
		}
	}
}

func TestScanPNG(t *testing.T) {
	if _, err := exec.LookPath("qrencode"); err != nil {
		t.Skip("qrencode not installed")
	}
	p := newPhone(t)
	png := filepath.Join(t.TempDir(), "qr.png")
	uri := "otpauth://pipush/alice?url=https%3A//cs.example/p&v=1&serial=S9&enrollment_credential=x"
	if out, err := exec.Command("qrencode", "-o", png, uri).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	tok, err := p.ScanPNG(png)
	if err != nil || tok.Serial != "S9" {
		t.Fatal(tok, err)
	}
	_ = os.Remove(png)
}

func TestPollKeepsTheURLsQuery(t *testing.T) {
	f := newFakeServer(t)
	p := newPhone(t)
	uri := strings.Replace(f.enrolURI("PIPU0003"), url.QueryEscape(f.url()), url.QueryEscape(f.url()+"?realm=a b&serial=old"), 1)
	tok, err := p.Scan(uri)
	if err != nil {
		t.Fatal(err)
	}
	ctx, c := context.Background(), f.srv.Client()
	if err := tok.Register(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Poll(ctx, c); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.pollQuery, "realm=a+b&serial=PIPU0003&timestamp=") {
		t.Errorf("poll query %s", f.pollQuery)
	}
}
