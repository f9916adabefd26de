package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The oidc phase measures the OpenID Connect authorization code exchange
// (POST {issuer}/oauth/token, grant_type=authorization_code with PKCE and
// the client's HTTP Basic credentials). Codes are single-use, so a
// preparation step signs load users in through the hosted login first; only
// the exchanges are timed.

// callbackURI is the registered redirect URI; nothing listens there, the
// tool stops at the redirect and reads the code from it.
const callbackURI = "http://127.0.0.1:9/callback"

// signinsPerAddress is how many codes one user gets, each user from its own
// source address: users sign in side by side, and every address stays well
// under the hosted login's 600 submissions per address and tenant in ten
// minutes, however often the tool runs.
const signinsPerAddress = 25

// signinSlots bounds concurrent sign-ins in the preparation: each hashes a
// password, and more than the server's hashing pool can queue gets 503.
const signinSlots = 16

// maxCodes bounds -codes. maxPrepare bounds the preparation's time: a code
// is redeemable for one minute, and the first ones obtained must still be
// when the exchanges begin.
const (
	maxCodes   = 5000
	maxPrepare = 35 * time.Second
)

// authCode is one code ready to redeem, with the PKCE verifier it was
// requested with.
type authCode struct {
	code, verifier string
}

// PrepareReport says how the codes were obtained.
type PrepareReport struct {
	Wanted   int              `json:"wanted"`
	Codes    int              `json:"codes"`
	Users    int              `json:"users"`
	Seconds  float64          `json:"seconds"`
	Failures map[string]int64 `json:"failures,omitempty"`
}

// oidcUsers is how many users (and source addresses) the preparation uses.
func oidcUsers(cfg config) int {
	return (max(cfg.codes, 0) + signinsPerAddress - 1) / signinsPerAddress
}

func (cfg config) issuer() string { return cfg.url + "/oidc/" + cfg.tenant }

// prepareCodes turns the tenant's policy to mfa_required "nobody" (so that a
// password completes a sign-in), creates password users, signs them in
// through the hosted login until cfg.codes codes are collected or
// maxPrepare has passed (whichever comes first), then puts the tenant's policy back as it was.
func prepareCodes(ctx context.Context, c *client, cfg config) ([]authCode, PrepareReport, error) {
	start := time.Now()
	rep := PrepareReport{Wanted: cfg.codes, Failures: map[string]int64{}}
	restore, err := relaxPolicy(ctx, c)
	if err != nil {
		return nil, rep, err
	}
	defer restore()

	workers := oidcUsers(cfg)
	users := make([]passwordUser, workers)
	for i := range users {
		u := passwordUser{loginID: loginID(cfg.prefix, "o", i), password: randomString(16, alnum+"ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
		if err := adminPost(ctx, c, "/api/v1/admin/users", map[string]string{"login_id": u.loginID, "password": u.password}, nil); err != nil {
			return nil, rep, fmt.Errorf("creating sign-in user %s: %w", u.loginID, err)
		}
		users[i] = u
	}
	rep.Users = workers

	// No sign-in starts after the deadline; those under way finish, so
	// the server sees no cancelled requests.
	deadline := time.Now().Add(maxPrepare)
	base := sourceBase(cfg.url)
	var (
		mu    sync.Mutex
		codes []authCode
		left  atomic.Int64
		wg    sync.WaitGroup
		slots = make(chan struct{}, signinSlots)
	)
	left.Store(int64(cfg.codes))
	for i := range workers {
		b := newBrowser(base, i)
		wg.Go(func() {
			// Each worker signs its own user in, one sign-in at a time, until
			// enough codes are collected, in at most signinsPerAddress tries.
			for try := 0; try < signinsPerAddress && ctx.Err() == nil && time.Now().Before(deadline); try++ {
				if left.Add(-1) < 0 {
					return
				}
				slots <- struct{}{}
				if !time.Now().Before(deadline) {
					<-slots
					left.Add(1)
					return
				}
				code, err := b.signIn(ctx, cfg, users[i])
				<-slots
				if err != nil && ctx.Err() != nil {
					return // interrupted: not a failure
				}
				if err != nil {
					left.Add(1)
					mu.Lock()
					rep.Failures[err.Error()]++
					mu.Unlock()
					continue
				}
				mu.Lock()
				codes = append(codes, code)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var failed int64
	for _, n := range rep.Failures {
		failed += n
	}
	rep.Codes, rep.Seconds = len(codes), round(time.Since(start).Seconds(), 2)
	if len(codes) == 0 {
		return nil, rep, fmt.Errorf("no authorization code obtained (%d failures: %v)", failed, rep.Failures)
	}
	return codes, rep, ctx.Err()
}

// relaxPolicy sets mfa_required to "nobody" and returns what restores the
// policy as it was.
func relaxPolicy(ctx context.Context, c *client) (func(), error) {
	var orig json.RawMessage
	if r := c.do(ctx, http.MethodGet, c.adminKey, "/api/v1/admin/policy", nil, &orig); !r.ok() {
		return nil, fmt.Errorf("GET /api/v1/admin/policy: %s", r.describe())
	}
	var p map[string]any
	if err := json.Unmarshal(orig, &p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p["mfa_required"] = "nobody"
	if r := c.do(ctx, http.MethodPut, c.adminKey, "/api/v1/admin/policy", p, nil); !r.ok() {
		return nil, fmt.Errorf("PUT /api/v1/admin/policy: %s", r.describe())
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if r := c.do(rctx, http.MethodPut, c.adminKey, "/api/v1/admin/policy", orig, nil); !r.ok() {
			fmt.Fprintf(os.Stderr, "countersign-load: could not restore the tenant's policy: %s\n", r.describe())
		}
	}, nil
}

// sourceBase picks a random 127.x.y.0/24 to send sign-ins from when the
// server is on loopback (every 127/8 address reaches it), so each worker
// has an address of its own for the portal's per-address limit; it returns
// nil otherwise.
func sourceBase(base string) net.IP {
	u, err := url.Parse(base)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil
	}
	r := []byte(randomString(2, "0123456789abcdefghijklmnopqrstuvwxyz"))
	return net.IPv4(127, 100+r[0]%100, r[1], 0)
}

// browser is one worker's browser: its own source address, a cookie jar
// per sign-in, no automatic redirects.
type browser struct {
	http *http.Client
}

func newBrowser(base net.IP, i int) *browser {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if base != nil {
		ip := make(net.IP, 4)
		copy(ip, base.To4())
		ip[2] += byte(i / 250)
		ip[3] = byte(1 + i%250)
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	tr := &http.Transport{Proxy: nil, DialContext: d.DialContext, MaxIdleConnsPerHost: 2}
	return &browser{http: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var (
	requestInput = regexp.MustCompile(`name="request" value="([^"]+)"`)
	errorCode    = regexp.MustCompile(`\bE\d\d\b`)
)

// signIn runs one authorization request through the hosted login's
// password page and returns the code sent to the callback.
func (b *browser) signIn(ctx context.Context, cfg config, u passwordUser) (authCode, error) {
	verifier := randomString(64, alnum+"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	sum := sha256.Sum256([]byte(verifier))
	state := randomString(20, alnum)
	q := url.Values{"response_type": {"code"}, "client_id": {cfg.clientID}, "redirect_uri": {callbackURI}, "scope": {"openid"},
		"state": {state}, "nonce": {randomString(20, alnum)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	// A fresh cookie jar: every code costs a password sign-in, not a
	// return to an existing session.
	b.http.Jar, _ = cookiejar.New(nil)
	body, at, err := b.follow(ctx, http.MethodGet, cfg.issuer()+"/authorize?"+q.Encode(), nil)
	if err != nil {
		return authCode{}, fmt.Errorf("authorize: %w", err)
	}
	m := requestInput.FindStringSubmatch(body)
	if m == nil {
		return authCode{}, fmt.Errorf("authorize: no login page at %s", at.Path)
	}
	form := url.Values{"request": {m[1]}, "login_id": {u.loginID}, "password": {u.password}}
	body, at, err = b.follow(ctx, http.MethodPost, cfg.url+"/portal/"+cfg.tenant+"/login", form)
	if err != nil {
		return authCode{}, fmt.Errorf("login: %w", err)
	}
	if !strings.HasPrefix(at.String(), callbackURI) {
		if e := errorCode.FindString(body); e != "" {
			return authCode{}, fmt.Errorf("login: page at %s says %s", at.Path, e)
		}
		return authCode{}, fmt.Errorf("login: ended at %s, not the callback", at.Path)
	}
	if at.Query().Get("state") != state || at.Query().Get("code") == "" {
		return authCode{}, errors.New("login: callback without the code or with another state")
	}
	return authCode{code: at.Query().Get("code"), verifier: verifier}, nil
}

// refresh finds a page's instant refresh (<meta http-equiv="refresh">).
var refresh = regexp.MustCompile(`<meta http-equiv="refresh" content="0; url=([^"]+)">`)

// follow sends the request and follows at most ten redirects, stopping at
// the callback; it returns the last body and where the browser ended.
func (b *browser) follow(ctx context.Context, method, target string, form url.Values) (string, *url.URL, error) {
	for range 10 {
		var rd io.Reader
		if form != nil {
			rd = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, target, rd)
		if err != nil {
			return "", nil, err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := b.http.Do(req)
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			// The URL is unique to each sign-in; the report counts causes.
			return "", nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, ue.Err)
		}
		if err != nil {
			return "", nil, err
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return "", nil, err
		}
		loc := ""
		if resp.StatusCode/100 == 3 {
			loc = resp.Header.Get("Location")
		} else if m := refresh.FindSubmatch(data); resp.StatusCode == http.StatusOK && m != nil {
			// A page that moves on by itself, as the hosted login answers
			// the form that completes a sign-in: a browser follows it.
			loc = string(m[1])
		}
		if loc == "" {
			if resp.StatusCode/100 != 2 && resp.StatusCode != 400 && resp.StatusCode != 401 && resp.StatusCode != 429 {
				return string(data), req.URL, fmt.Errorf("%s %s: %d", method, req.URL.Path, resp.StatusCode)
			}
			return string(data), req.URL, nil
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			return "", nil, err
		}
		if strings.HasPrefix(next.String(), callbackURI) {
			return string(data), next, nil
		}
		method, target, form = http.MethodGet, next.String(), nil
	}
	return "", nil, errors.New("too many redirects")
}

// exchangeWork redeems one code per attempt; runPhase's budget, set to the
// number of codes, keeps the index in range.
func exchangeWork(c *client, cfg config, codes []authCode) work {
	var next atomic.Int64
	endpoint := cfg.issuer() + "/oauth/token"
	return func(ctx context.Context, t *tally) bool {
		i := next.Add(1) - 1
		if i >= int64(len(codes)) {
			return true
		}
		code := codes[i]
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code.code}, "code_verifier": {code.verifier}, "redirect_uri": {callbackURI}}
		start := time.Now()
		r, ok := c.token(ctx, endpoint, cfg.clientID, cfg.clientSecret, form)
		d := time.Since(start)
		t.record("", r)
		t.finish(ok, d)
		return true
	}
}

// token posts a token request with HTTP Basic client authentication
// (RFC 6749 §2.3.1) and reports whether the answer carried an access token
// and an ID token.
func (c *client) token(ctx context.Context, endpoint, id, secret string, form url.Values) (reply, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return reply{err: err}, false
	}
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{err: err}, false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := reply{status: resp.StatusCode, err: err}
	var ans struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err == nil && json.Unmarshal(data, &ans) == nil && ans.Error != "" {
		r.name = ans.Error
	}
	ok := r.ok() && ans.AccessToken != "" && ans.IDToken != ""
	if r.ok() && !ok {
		r.name = "no tokens"
	}
	return r, ok
}

// do sends in (JSON, or raw when it is a json.RawMessage) with the bearer
// key and decodes a 2xx answer into out.
func (c *client) do(ctx context.Context, method, key, path string, in, out any) reply {
	var body io.Reader
	if in != nil {
		data, ok := in.(json.RawMessage)
		if !ok {
			var err error
			if data, err = json.Marshal(in); err != nil {
				return reply{err: err}
			}
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := reply{status: resp.StatusCode, err: err}
	if r.ok() && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			r.err = err
		}
	}
	return r
}

func (r reply) describe() string {
	if r.err != nil {
		return r.err.Error()
	}
	return r.outcome()
}
