package portal_test

import (
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testutil/pushapp"
)

// The Mobile App method in the portal (A9, X3), with the headless phone
// app: it scans the QR code the page shows, registers, polls and answers
// as the privacyIDEA Authenticator does.

// pushPolicy adds the Mobile App to the test policy, without the
// cool-down after a declined push so a test can send the next one at once.
const pushPolicy = `{"allowed_factors":["totp","sms","email","voice","push"],
	"send_limits":{"per_user":{"count":30,"window":"15m"},"per_destination":{"count":30,"window":"1h"},"per_tenant":{"count":1000,"window":"1h"}},
	"push":{"activation_ttl":"10m","challenge_ttl":"2m","number_matching":true,"limit":{"count":30,"window":"15m"},"cooldown":"0s","block_on_fraud":true,
	"android_app":"https://play.google.com/store/apps/details?id=it.netknights.piauthenticator","ios_app":"https://apps.apple.com/app/privacyidea-authenticator/id1445401301"}}`

var (
	qrSrc      = regexp.MustCompile(`src="data:image/png;base64,([^"]+)"`)
	pushNumber = regexp.MustCompile(`id="push-number"[^>]*>\s*(\d+)\s*<`)
	// missingText is how a page shows a catalogue key it lacks.
	missingText = regexp.MustCompile(`\[[a-z_]+(\.[a-z_0-9]+)+\]`)
)

// pushShot is shot, and fails when the page shows a key for missing text.
func (b *tab) pushShot(name string) {
	b.t.Helper()
	if m := missingText.FindString(b.text("body")); m != "" {
		b.t.Errorf("%s shows %s, a key without text", name, m)
	}
	b.shot(name)
}

// scanQR is the phone's camera on the QR code of an activation page.
func scanQR(t *testing.T, phone *pushapp.Phone, body string) *pushapp.Token {
	t.Helper()
	m := qrSrc.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no QR code on the page\n%.2000s", body)
	}
	png, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := phone.ScanPNG(path)
	if err != nil {
		t.Fatalf("scan the activation QR code: %v", err)
	}
	return tok
}

// answerPush polls the phone once and answers its one request: with the
// number given, or declined as "I didn't request this" when number is "".
func answerPush(t *testing.T, tok *pushapp.Token, number string) {
	t.Helper()
	ctx := t.Context()
	reqs, err := tok.Poll(ctx, http.DefaultClient)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("poll: %v %+v", err, reqs)
	}
	var ok bool
	if number == "" {
		ok, err = reqs[0].Decline(ctx, http.DefaultClient)
	} else {
		ok, err = reqs[0].Choose(ctx, http.DefaultClient, number)
	}
	if err != nil || !ok {
		t.Fatalf("answer %q: %v %v", number, ok, err)
	}
}

// otherOption is a number the app offers that is not the right one.
func otherOption(t *testing.T, tok *pushapp.Token, right string) (*pushapp.Request, string) {
	t.Helper()
	reqs, err := tok.Poll(t.Context(), http.DefaultClient)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("poll: %v %+v", err, reqs)
	}
	for _, o := range reqs[0].Options {
		if o != right {
			return &reqs[0], o
		}
	}
	t.Fatalf("the app offers only %v", reqs[0].Options)
	return nil, ""
}

func shownNumber(t *testing.T, body string) string {
	t.Helper()
	m := pushNumber.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page shows no number to choose\n%.2000s", text(body))
	}
	return m[1]
}

// A3, A9, A10, X3 without JavaScript: the wizard's Mobile App set-up (a new
// activation code replaces the old; E47 before the app registered; the
// test push approved with the number shown), then sign-ins: a wrong number,
// another request approved, and "I didn't request this".
func TestHTTPMobileAppEnrolAndSignInA9X3(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setPolicy(pushPolicy)
	p := e.newPerson("mobile", "5555550480")
	c := e.client(t)
	ctx := t.Context()

	pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
	if pg.location != "/enrol" {
		t.Fatalf("password step: %d %s", pg.status, pg.location)
	}
	if pg = c.get("/enrol"); !strings.Contains(text(pg.body), "Mobile App") || !strings.Contains(pg.body, `value="push"`) {
		t.Fatalf("A3: the method choice lacks the Mobile App\n%s", text(pg.body))
	}
	if pg = c.post("/enrol", url.Values{"method": {"push"}}); pg.location != "/enrol/push" {
		t.Fatalf("choose push: %d %s", pg.status, pg.location)
	}
	pg = c.get("/enrol/push")
	if pg.status != 200 || !strings.Contains(pg.body, "Generate activation code") || strings.Contains(pg.body, "/enrol/push/test") ||
		!strings.Contains(pg.body, "id=it.netknights.piauthenticator") {
		t.Fatalf("set-up page: %d\n%s", pg.status, text(pg.body))
	}

	phone, err := pushapp.NewWithBits(2048)
	if err != nil {
		t.Fatal(err)
	}
	pg = c.post("/enrol/push", nil)
	if pg.status != 200 || !strings.Contains(pg.body, `id="push-code"`) || !strings.Contains(pg.body, e.url+"/push/"+tenantSlug) ||
		!strings.Contains(text(pg.body), "10 minutes") {
		t.Fatalf("activation code page: %d\n%s", pg.status, text(pg.body))
	}
	first := scanQR(t, phone, pg.body)
	// A9: a new code can be generated at any time and replaces the old.
	pg = c.post("/enrol/push", nil)
	tok := scanQR(t, phone, pg.body)
	if err := first.Register(ctx, http.DefaultClient); err == nil {
		t.Fatal("A9: the replaced activation code still registers an app")
	}
	// E47: "Authenticate me now" before the app registered.
	if pg = c.post("/enrol/push/test", nil); pg.status != 409 || !strings.Contains(pg.body, "E47") || !strings.Contains(pg.body, "/enrol/push/test") {
		t.Fatalf("E47: %d\n%s", pg.status, text(pg.body))
	}
	if err := tok.Register(ctx, http.DefaultClient); err != nil {
		t.Fatalf("register: %v", err)
	}
	if pg = c.post("/enrol/push/test", nil); pg.location != "/enrol/push/wait" {
		t.Fatalf("Authenticate me now: %d %s\n%s", pg.status, pg.location, text(pg.body))
	}
	pg = c.get("/enrol/push/wait")
	if !strings.Contains(pg.body, "data-poll") {
		t.Fatalf("wait page: %d\n%s", pg.status, text(pg.body))
	}
	answerPush(t, tok, shownNumber(t, pg.body))
	if pg = c.get("/enrol/push/wait"); !strings.Contains(pg.body, "data-autosubmit") {
		t.Fatalf("after the approval: %d\n%s", pg.status, text(pg.body))
	}
	// A10: on as after a phone call: the security questions, the welcome.
	if pg = c.post("/enrol/push/done", nil); pg.location != "/enrol/questions" {
		t.Fatalf("done: %d %s\n%s", pg.status, pg.location, text(pg.body))
	}
	form := url.Values{}
	i := 1
	for id, a := range questionAnswers {
		n := string(rune('0' + i))
		form.Set("question_"+n, id)
		form.Set("answer_"+n, a)
		i++
	}
	if pg = c.post("/enrol/questions", form); pg.location != "/enrol/welcome" {
		t.Fatalf("questions: %d %s\n%s", pg.status, pg.location, text(pg.body))
	}
	if pg = c.get("/enrol/welcome"); !strings.Contains(text(pg.body), "Mobile App") {
		t.Fatalf("A10: welcome page: %d\n%s", pg.status, text(pg.body))
	}
	factor := e.factorID(p, "push")
	c.post("/signout", nil)

	signIn := func() {
		t.Helper()
		if pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}}); pg.location != "/signin/verify" {
			t.Fatalf("password step: %d %s", pg.status, pg.location)
		}
		if pg := c.get("/signin/verify"); !strings.Contains(pg.body, "Send a request to my phone app") {
			t.Fatalf("verify page lacks the Mobile App\n%s", text(pg.body))
		}
		if pg := c.post("/signin/push", url.Values{"factor": {factor}}); pg.location != "/signin/push" {
			t.Fatalf("send push: %d %s\n%s", pg.status, pg.location, text(pg.body))
		}
	}

	// X3: the wrong number refuses the request; another one can be sent.
	signIn()
	right := shownNumber(t, c.get("/signin/push").body)
	req, wrong := otherOption(t, tok, right)
	if ok, err := req.Choose(ctx, http.DefaultClient, wrong); err != nil || !ok {
		t.Fatalf("wrong number: %v %v", ok, err)
	}
	pg = c.get("/signin/push")
	if !strings.Contains(text(pg.body), "different number") || !strings.Contains(pg.body, `action="/portal/acme/signin/push"`) {
		t.Fatalf("after a wrong number: %d\n%s", pg.status, text(pg.body))
	}
	if pg = c.post("/signin/push/done", nil); pg.location != "/signin/push" {
		t.Fatalf("done before approval: %d %s", pg.status, pg.location)
	}
	if pg = c.post("/signin/push", url.Values{"factor": {factor}}); pg.location != "/signin/push" {
		t.Fatalf("send another: %d %s\n%s", pg.status, pg.location, text(pg.body))
	}
	answerPush(t, tok, shownNumber(t, c.get("/signin/push").body))
	if pg = c.get("/signin/push"); !strings.Contains(pg.body, "data-autosubmit") {
		t.Fatalf("approved: %d\n%s", pg.status, text(pg.body))
	}
	if pg = c.post("/signin/push/done", nil); pg.location != "/account" {
		t.Fatalf("finish: %d %s\n%s", pg.status, pg.location, text(pg.body))
	}
	c.post("/signout", nil)

	// X3: "I didn't request this" denies the sign-in and says what to do.
	signIn()
	answerPush(t, tok, "")
	pg = c.get("/signin/push")
	if body := text(pg.body); !strings.Contains(body, "help desk has been alerted") || strings.Contains(pg.body, "data-poll") ||
		strings.Contains(pg.body, `action="/portal/acme/signin/push"`) {
		t.Fatalf("after a fraud report: %d\n%s", pg.status, body)
	}
	// The second step is locked (block_on_fraud): nothing finishes it.
	if pg = c.post("/signin/push/done", nil); pg.status != 423 || pg.location != "" {
		t.Fatalf("done after fraud: %d %s", pg.status, pg.location)
	}
}

// scanPage scans the QR code a browser tab shows.
func (b *tab) scanPage(phone *pushapp.Phone) *pushapp.Token {
	b.t.Helper()
	return scanQR(b.t, phone, `src="`+b.attr("img.qr", "src")+`"`)
}

// mobileAppSetUp takes a person in the wizard from the method choice to the
// approved test push, with screenshots named after prefix and suffix.
func mobileAppSetUp(t *testing.T, b *tab, suffix string) *pushapp.Token {
	t.Helper()
	phone, err := pushapp.NewWithBits(2048)
	if err != nil {
		t.Fatal(err)
	}
	b.chooseMethod("push")
	b.expectPath("/enrol/push")
	b.pushShot("enrol-push" + suffix)
	b.click(`form[action$="/enrol/push"] button[type=submit]`)
	if !b.exists("#push-code") || !b.exists("img.qr") {
		t.Fatalf("no activation code\n%s", b.where())
	}
	b.pushShot("enrol-push-code" + suffix)
	tok := b.scanPage(phone)
	// E47: "Authenticate me now" before the app used the code.
	if st := b.click(`form[action$="/enrol/push/test"] button[type=submit]`); st != 409 || !strings.Contains(b.text("main"), "E47") {
		t.Fatalf("E47: %d\n%s", st, b.where())
	}
	b.pushShot("enrol-push-e47" + suffix)
	if err := tok.Register(t.Context(), http.DefaultClient); err != nil {
		t.Fatalf("register: %v", err)
	}
	b.click(`form[action$="/enrol/push/test"] button[type=submit]`)
	b.expectPath("/enrol/push/wait")
	b.pushShot("enrol-push-wait" + suffix)
	answerPush(t, tok, b.text("#push-number"))
	// The page checks by itself and goes on once approved.
	b.waitPath("/enrol/questions")
	b.answerQuestions()
	b.expectPath("/enrol/welcome")
	return tok
}

// A3, A9, A10, X3 in a phone-sized browser, in English and Spanish: the
// set-up's pages, the wait for the test push, the sign-in page showing the
// number, and the page after "I didn't request this".
func TestBrowserMobileAppA9X3(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setPolicy(pushPolicy)

	p := e.newPerson("mobileapp", "5555550481")
	b := e.phoneTab(t)
	b.signInPassword(p)
	tok := mobileAppSetUp(t, b, "")
	b.contains("Mobile App")
	b.pushShot("enrol-push-welcome")
	b.signOut()
	b.signInPassword(p)
	b.expectPath("/signin/verify")
	b.pushShot("signin-verify-push")
	b.click(`form[action$="/signin/push"] button[type=submit]`)
	b.expectPath("/signin/push")
	b.pushShot("signin-push")
	answerPush(t, tok, b.text("#push-number"))
	b.waitPath("/account")

	es := e.newPerson("movil", "5555550482")
	b2 := e.phoneTab(t)
	b2.open("/signin")
	b2.click(`form.language button[value=es]`)
	b2.signInPassword(es)
	tok2 := mobileAppSetUp(t, b2, "-es")
	b2.contains("Aplicación móvil")
	b2.signOut()
	b2.signInPassword(es)
	b2.click(`form[action$="/signin/push"] button[type=submit]`)
	b2.expectPath("/signin/push")
	b2.pushShot("signin-push-es")
	answerPush(t, tok2, "")
	deadline := time.Now().Add(10 * time.Second)
	for b2.exists("[data-poll]") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	b2.contains("mesa de ayuda")
	b2.pushShot("signin-push-fraud-es")
}
