package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/testutil/pushapp"
)

// The Mobile App method over HTTP (A9, X3): the headless phone is written
// from the app's protocol, never from Countersign's code.

// pushPerson enrols a person's phone app through the REST API: activation
// code, registration, and the approved test push that activates it.
func pushPerson(t *testing.T, ts *testServer, login string) (*pushapp.Token, string) {
	t.Helper()
	ctx := t.Context()
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": login, "password": "Correct-Horse-42"})
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	r = ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": login, "password": "Correct-Horse-42"})
	if r.str("status") != "enrolment_required" {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	txn := r.str("transaction_id")
	r = ts.do("POST", "/api/v1/enrolments/push", ts.appKey, map[string]any{"transaction_id": txn})
	if r.status != 201 || r.str("activation_code") == "" || r.str("qr_png_base64") == "" {
		t.Fatalf("activation: %d %s", r.status, r.raw)
	}
	factor := r.str("enrolment_id")
	uri := r.str("otpauth_uri")
	// The QR code decodes, with an independent decoder, to the URI the app
	// reads: the protocol's version, poll-only, this factor's serial.
	png, err := base64.StdEncoding.DecodeString(r.str("qr_png_base64"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "activation.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(needTool(t, "zbarimg"), "--raw", "-q", path).Output()
	if err != nil || strings.TrimSpace(string(out)) != uri {
		t.Fatalf("QR code decodes to %q (%v), want %q", out, err, uri)
	}
	for _, part := range []string{"otpauth://pipush/" + login + "?", "&v=1&", "&serial=" + factor + "&", "&poll_only=True", "&sslverify=0&", "enrollment_credential=" + r.str("activation_code")} {
		if !strings.Contains(uri, part) {
			t.Errorf("activation URI %q lacks %q", uri, part)
		}
	}
	phone, err := pushapp.NewWithBits(2048)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := phone.Scan(uri)
	if err != nil {
		t.Fatalf("scan %q: %v", uri, err)
	}
	// "Authenticate me now" before the app registered: E47.
	if r := ts.do("POST", "/api/v1/enrolments/"+factor+"/push", ts.appKey, map[string]any{"transaction_id": txn}); r.status != 409 || r.str("error", "code") != "E47" {
		t.Fatalf("test push before registration: %d %s", r.status, r.raw)
	}
	if err := tok.Register(ctx, http.DefaultClient); err != nil {
		t.Fatalf("register: %v", err)
	}
	// The activation code works once: the same registration again is refused.
	u, _ := url.Parse(uri)
	der, _ := x509.MarshalPKIXPublicKey(&phone.Key().PublicKey)
	resp, err := http.PostForm(u.Query().Get("url"), url.Values{"enrollment_credential": {u.Query().Get("enrollment_credential")}, "serial": {factor},
		"fbtoken": {"no_firebase_token"}, "pubkey": {base64.StdEncoding.EncodeToString(der)}})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(again), `"status":false`) {
		t.Fatalf("second registration with one activation code: %d %s", resp.StatusCode, again)
	}
	r = ts.do("POST", "/api/v1/enrolments/"+factor+"/push", ts.appKey, map[string]any{"transaction_id": txn})
	if r.status != 202 {
		t.Fatalf("test push: %d %s", r.status, r.raw)
	}
	number := r.str("push", "number")
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 || !slices.Contains(reqs[0].Options, number) {
		t.Fatalf("poll: %v %+v (number %q)", err, reqs, number)
	}
	if ok, err := reqs[0].Choose(ctx, http.DefaultClient, number); err != nil || !ok {
		t.Fatalf("approve the test push: %v %v", ok, err)
	}
	return tok, factor
}

func pushServer(t *testing.T) *testServer {
	ts := startIssuer(t, nil)
	ts.policy(`{"allowed_factors":["totp","push"]}`)
	return ts
}

// TestPushEnrolAndSignIn: enrolment, then a sign-in approved with the
// number shown, learned by long-polling the transaction.
func TestPushEnrolAndSignIn(t *testing.T) {
	ts := pushServer(t)
	ctx := t.Context()
	tok, factor := pushPerson(t, ts, "alice")

	r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"})
	if r.str("status") != "mfa_required" {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	txn := r.str("transaction_id")
	// The challenge of a push factor is a push (kind push).
	r = ts.do("POST", "/api/v1/auth/transactions/"+txn+"/challenges", ts.appKey, map[string]any{"factor_id": factor})
	if r.status != 202 || r.str("kind") != "push" || r.str("push", "state") != "open" {
		t.Fatalf("push: %d %s", r.status, r.raw)
	}
	number := r.str("push", "number")
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 || len(reqs[0].Options) != 3 {
		t.Fatalf("poll: %v %+v", err, reqs)
	}
	done := make(chan reply, 1)
	go func() { done <- ts.do("GET", "/api/v1/auth/transactions/"+txn+"?wait=20", ts.appKey, nil) }()
	time.Sleep(100 * time.Millisecond)
	if ok, err := reqs[0].Choose(ctx, http.DefaultClient, number); err != nil || !ok {
		t.Fatalf("approve: %v %v", ok, err)
	}
	if r := <-done; r.str("status") != "allowed" || r.str("push", "state") != "approved" {
		t.Fatalf("long poll: %d %s", r.status, r.raw)
	}
	// The same answer again changes nothing.
	if ok, err := tok.ReplayLastAnswer(ctx, http.DefaultClient); err != nil || ok {
		t.Fatalf("replayed answer: %v %v", ok, err)
	}
}

// TestPushWrongNumberAndFraud: a wrong number fails the attempt; "I
// didn't request this" denies the sign-in and blocks the second factor.
func TestPushWrongNumberAndFraud(t *testing.T) {
	ts := pushServer(t)
	ctx := t.Context()
	tok, factor := pushPerson(t, ts, "alice")
	login := func() string {
		r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"})
		return r.str("transaction_id")
	}
	txn := login()
	r := ts.do("POST", "/api/v1/auth/transactions/"+txn+"/pushes", ts.appKey, map[string]any{"factor_id": factor})
	number := r.str("push", "number")
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("poll: %v", err)
	}
	wrong := ""
	for _, o := range reqs[0].Options {
		if o != number {
			wrong = o
		}
	}
	if _, err := reqs[0].Choose(ctx, http.DefaultClient, wrong); err != nil {
		t.Fatal(err)
	}
	if r := ts.do("GET", "/api/v1/auth/transactions/"+txn, ts.appKey, nil); r.str("status") != "pending" || r.str("push", "state") != "wrong" {
		t.Fatalf("after a wrong number: %s", r.raw)
	}
	// A new push right after a wrong choice is allowed; the fraud report
	// then denies and blocks.
	r = ts.do("POST", "/api/v1/auth/transactions/"+txn+"/pushes", ts.appKey, map[string]any{"factor_id": factor})
	if r.status != 202 {
		t.Fatalf("second push: %d %s", r.status, r.raw)
	}
	reqs, _ = tok.Poll(ctx, http.DefaultClient)
	if len(reqs) != 1 || !reqs[0].CanDeclineWithReason {
		t.Fatalf("second poll: %+v", reqs)
	}
	if ok, err := reqs[0].Decline(ctx, http.DefaultClient); err != nil || !ok {
		t.Fatalf("decline: %v %v", ok, err)
	}
	if r := ts.do("GET", "/api/v1/auth/transactions/"+txn, ts.appKey, nil); r.str("status") != "denied" || r.str("push", "state") != "fraud" {
		t.Fatalf("after the fraud report: %s", r.raw)
	}
	if r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"}); r.str("error", "code") != "E03" {
		t.Fatalf("login after a fraud report: %d %s", r.status, r.raw)
	}
}

// TestPushParallelApprovals: one approval sent 20 times at once is taken
// exactly once (X3, invariant 3); replays and stale polls are refused.
func TestPushParallelApprovals(t *testing.T) {
	ts := pushServer(t)
	ctx := t.Context()
	tok, factor := pushPerson(t, ts, "alice")
	txn, number := pushSignIn(t, ts, "alice", factor)
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 {
		t.Fatal(err)
	}
	// Twenty phones' worth of the same answer: copies of one request.
	taken := approveInParallel(reqs[0], number, 20)
	if taken != 1 {
		t.Fatalf("%d of 20 parallel approvals were taken, want exactly 1", taken)
	}
	if r := ts.do("GET", "/api/v1/auth/transactions/"+txn, ts.appKey, nil); r.str("status") != "allowed" {
		t.Fatalf("transaction: %s", r.raw)
	}
	if ok, err := tok.ReplayLastAnswer(ctx, http.DefaultClient); err != nil || ok {
		t.Fatalf("replayed answer: %v %v", ok, err)
	}
	// A replayed poll (same timestamp and signature) is refused.
	if _, err := tok.ReplayLastPoll(ctx, http.DefaultClient); err == nil {
		t.Fatal("a replayed poll was answered")
	}
}

// TestPushFatigueRules: a declined push starts a cool-down, the per-person
// limit holds, and an activation code works once (X3, A9).
func TestPushFatigueRules(t *testing.T) {
	ts := pushServer(t)
	ts.policy(`{"allowed_factors":["totp","push"],"push":{"limit":{"count":3,"window":"15m"},"cooldown":"1m"}}`)
	ctx := t.Context()
	tok, factor := pushPerson(t, ts, "alice")
	r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"})
	txn := r.str("transaction_id")
	push := func() reply {
		return ts.do("POST", "/api/v1/auth/transactions/"+txn+"/pushes", ts.appKey, map[string]any{"factor_id": factor})
	}
	if r := push(); r.status != 202 {
		t.Fatalf("push: %d %s", r.status, r.raw)
	}
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 {
		t.Fatal(err)
	}
	if ok, err := reqs[0].Cancel(ctx, http.DefaultClient); err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	if r := push(); r.status != 429 || r.str("error", "code") != "E25" || r.header.Get("Retry-After") == "" {
		t.Fatalf("push during the cool-down: %d %s", r.status, r.raw)
	}
	if r := ts.do("GET", "/api/v1/auth/transactions/"+txn, ts.appKey, nil); r.str("status") != "pending" || r.str("push", "state") != "declined" {
		t.Fatalf("after a cancel: %s", r.raw)
	}
}

// TestPushTwoServersOnPostgres: two servers sharing one PostgreSQL behind a
// balancer that alternates: the phone registers, polls and answers through
// both, and 20 parallel approvals of one push, spread over both servers,
// are taken exactly once (X3, X7).
func TestPushTwoServersOnPostgres(t *testing.T) {
	ts, _, _ := twoServersOnPostgres(t)
	ts.policy(`{"allowed_factors":["totp","push"]}`)
	ctx := t.Context()
	tok, factor := pushPerson(t, ts, "alice")
	txn, number := pushSignIn(t, ts, "alice", factor)
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("poll: %v %+v", err, reqs)
	}
	taken := approveInParallel(reqs[0], number, 20)
	if taken != 1 {
		t.Fatalf("%d of 20 parallel approvals across two servers were taken, want exactly 1", taken)
	}
	if r := ts.do("GET", "/api/v1/auth/transactions/"+txn, ts.appKey, nil); r.str("status") != "allowed" {
		t.Fatalf("transaction: %s", r.raw)
	}
}

// TestPushRefusals: a poll with a stale clock or another key is refused;
// an answer signed by another key, or for another person's push, is not
// taken; bad input at the phone's endpoint is a stable error, never a 500.
func TestPushRefusals(t *testing.T) {
	ts := pushServer(t)
	ctx := t.Context()
	tok, factor := pushPerson(t, ts, "alice")
	other, otherFactor := pushPerson(t, ts, "bob")
	txn, number := pushSignIn(t, ts, "alice", factor)

	tok.Now = func() time.Time { return time.Now().Add(-2 * time.Minute) }
	if _, err := tok.Poll(ctx, http.DefaultClient); err == nil {
		t.Fatal("a poll two minutes old was answered")
	}
	tok.Now = nil
	stranger, _ := pushapp.NewWithBits(2048)
	tok.SignWith(stranger.Key())
	if _, err := tok.Poll(ctx, http.DefaultClient); err == nil {
		t.Fatal("a poll signed by another key was answered")
	}
	tok.SignWith(nil)
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 {
		t.Fatal(err)
	}
	tok.SignWith(stranger.Key())
	if ok, _ := reqs[0].Choose(ctx, http.DefaultClient, number); ok {
		t.Fatal("an answer signed by another key was taken")
	}
	tok.SignWith(nil)
	// Bob's phone answering Alice's push: his own polls never show it, and
	// an answer naming it under his serial is not taken.
	if reqs, err := other.Poll(ctx, http.DefaultClient); err != nil || len(reqs) != 0 {
		t.Fatalf("bob's phone sees %d requests (%v)", len(reqs), err)
	}
	_ = otherFactor
	if r := ts.do("GET", "/api/v1/auth/transactions/"+txn, ts.appKey, nil); r.str("status") != "pending" || r.str("push", "state") != "open" {
		t.Fatalf("after refused answers: %s", r.raw)
	}
	for _, c := range []struct{ method, query, body string }{
		{"GET", "", ""},
		{"GET", "?serial=nothing&timestamp=2026-01-01T00:00:00Z&signature=AAAA", ""},
		{"GET", "?serial=%00&timestamp=x&signature=y", ""},
		{"POST", "", "%zz"},
		{"POST", "", "serial=x&nonce=y&signature=z"},
		{"POST", "", "enrollment_credential=x&serial=" + factor + "&pubkey=notakey"},
		{"POST", "", "enrollment_credential=x&serial=nothing&pubkey=x"},
		{"POST", "", "serial=%00"},
	} {
		req, _ := http.NewRequest(c.method, ts.http.URL+"/push/acme"+c.query, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 || !strings.Contains(string(b), `"status":false`) {
			t.Errorf("%s %s %q: %d %s", c.method, c.query, c.body, resp.StatusCode, b)
		}
	}
}

// TestHostedLoginWithPush: an application's sign-in on the hosted login
// finished with a push approved in the phone app; the ID token says so
// (amr swk), and the application changed nothing for it (X2, A9).
func TestHostedLoginWithPush(t *testing.T) {
	ts := pushServer(t)
	ctx := t.Context()
	tok, factor := pushPerson(t, ts, "alice")
	r := newRP(t, ts, flow.ClientInput{})
	pg, state, nonce, verifier := r.authorize()
	pg = r.post("/portal/acme/login", url.Values{"request": {hidden(pg.body, "request")}, "login_id": {"alice"}, "password": {"Correct-Horse-42"}})
	if !strings.Contains(pg.body, factor) {
		t.Fatalf("no Mobile App option on the verify page: %s", pg.url)
	}
	pg = r.post("/portal/acme/signin/push", url.Values{"factor": {factor}})
	var number string
	if m := regexp.MustCompile(`id="push-number"[^>]*>(\d+)<`).FindStringSubmatch(pg.body); m != nil {
		number = m[1]
	}
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 || !slices.Contains(reqs[0].Options, number) {
		t.Fatalf("poll: %v %+v; page number %q at %s", err, reqs, number, pg.url)
	}
	if ok, err := reqs[0].Choose(ctx, http.DefaultClient, number); err != nil || !ok {
		t.Fatalf("approve: %v %v", ok, err)
	}
	pg = r.post("/portal/acme/signin/push/done", url.Values{})
	_, _, claims := r.exchange(r.codeFrom(pg, state), verifier, nonce)
	if got := amr(claims); !slices.Contains(got, "swk") || !slices.Contains(got, "mfa") || claims["acr"] != flow.ACRMFA {
		t.Fatalf("claims after a push: %v", claims)
	}
}

// pushSignIn logs a person in through the REST API and sends a push; it
// returns the transaction and the number shown.
func pushSignIn(t *testing.T, ts *testServer, login, factor string) (string, string) {
	t.Helper()
	r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": login, "password": "Correct-Horse-42"})
	txn := r.str("transaction_id")
	r = ts.do("POST", "/api/v1/auth/transactions/"+txn+"/pushes", ts.appKey, map[string]any{"factor_id": factor})
	if r.status != 202 {
		t.Fatalf("push: %d %s", r.status, r.raw)
	}
	return txn, r.str("push", "number")
}

// approveInParallel sends one approval n times at once, as n copies of the
// request, and counts how many were taken.
func approveInParallel(req pushapp.Request, number string, n int) int {
	copies := make([]pushapp.Request, n)
	for i := range copies {
		copies[i] = req
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for i := range copies {
		wg.Go(func() {
			if ok, err := copies[i].Choose(context.Background(), http.DefaultClient, number); err == nil && ok {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return taken
}

// TestPushRegistrationAnswer pins the registration answer's shape, which
// the app reads strictly: detail.public_key as PKCS #1 in standard base64
// with a line break every 64 characters and padding, nothing else (A9).
func TestPushRegistrationAnswer(t *testing.T) {
	ts := pushServer(t)
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "carol", "password": "Correct-Horse-42"})
	uid := r.str("id")
	r = ts.do("POST", "/api/v1/admin/users/"+uid+"/enrolments/push", ts.adminKey, nil)
	if r.status != 201 {
		t.Fatalf("admin activation: %d %s", r.status, r.raw)
	}
	u, _ := url.Parse(r.str("otpauth_uri"))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	resp, err := http.PostForm(u.Query().Get("url"), url.Values{"enrollment_credential": {u.Query().Get("enrollment_credential")},
		"serial": {r.str("enrolment_id")}, "fbtoken": {"no_firebase_token"}, "pubkey": {base64.StdEncoding.EncodeToString(der)}})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Result struct {
			Status bool `json:"status"`
			Value  bool `json:"value"`
		} `json:"result"`
		Detail struct {
			PublicKey    string `json:"public_key"`
			RolloutState string `json:"rollout_state"`
			Serial       string `json:"serial"`
		} `json:"detail"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !body.Result.Status || !body.Result.Value || body.Detail.RolloutState != "enrolled" || body.Detail.Serial != r.str("enrolment_id") {
		t.Fatalf("registration answer %d %+v", resp.StatusCode, body)
	}
	lines := strings.Split(body.Detail.PublicKey, "\n")
	for i, l := range lines {
		if len(l) != 64 && !(i == len(lines)-1 && len(l) > 0 && len(l) <= 64) {
			t.Fatalf("public_key line %d is %d characters", i, len(l))
		}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body.Detail.PublicKey, "\n", ""))
	if err != nil {
		t.Fatalf("public_key is not padded standard base64: %v", err)
	}
	if pub, err := x509.ParsePKCS1PublicKey(raw); err != nil || pub.N.BitLen() != 4096 {
		t.Fatalf("public_key is not a 4096-bit PKCS #1 key: %v", err)
	}
	// The test push through the admin API, before and after: E47, then 202.
	if r2 := ts.do("POST", "/api/v1/admin/enrolments/"+r.str("enrolment_id")+"/push", ts.support, nil); r2.status != 403 {
		t.Fatalf("support sends the test push: %d %s", r2.status, r2.raw)
	}
	if r2 := ts.do("POST", "/api/v1/admin/enrolments/"+r.str("enrolment_id")+"/push", ts.adminKey, nil); r2.status != 202 || r2.str("push", "state") != "open" {
		t.Fatalf("admin test push: %d %s", r2.status, r2.raw)
	}
}
