package pushapp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request is a push challenge the phone accepted and shows to its user.
type Request struct {
	token *Token

	Nonce, Title, Question string
	Serial                 string
	URL                    string // Dart-normalised; answers go here
	SSLVerify              bool
	// Options are the require_presence answers (number matching); empty for
	// a plain challenge.
	Options []string
	// DisplayCode is set for a code-to-phone challenge.
	DisplayCode string
	// CanDeclineWithReason is true when the challenge advertised
	// decline_reason with a valid capabilities signature.
	CanDeclineWithReason bool
	allowedReasons       map[string]bool // nil: any value
	Expires              time.Time       // the app keeps a request 2 minutes
	answered             bool
}

// Poll fetches the token's challenges as the app does: a signed GET on the
// token's URL, then the app's checks. What the app drops silently is left
// out and recorded in Dropped; an answer dropped whole is an error.
func (t *Token) Poll(ctx context.Context, client *http.Client) ([]Request, error) {
	if !t.RolledOut() {
		return nil, fmt.Errorf("pushapp: poll: token %s is not rolled out", t.Serial)
	}
	ts := dartTimestamp(t.now())
	sig, err := t.sign(t.Serial + "|" + ts)
	if err != nil {
		return nil, err
	}
	u, err := parseDartURI(t.URL)
	if err != nil {
		return nil, err
	}
	// As Dart's url.replace(queryParameters: {...url.queryParametersAll,
	// ...params}): existing parameters decoded and re-encoded in their order,
	// the app's overriding in place or appended.
	var keys []string
	vals := map[string][]string{}
	for _, p := range u.queryPairs() {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		dk, err1 := decodePercent(k, true)
		dv, err2 := decodePercent(v, true)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("pushapp: poll: token url query %q", u.query)
		}
		if _, ok := vals[dk]; !ok {
			keys = append(keys, dk)
		}
		vals[dk] = append(vals[dk], dv)
	}
	for _, f := range []kv{{"serial", t.Serial}, {"timestamp", ts}, {"signature", sig}, {"capabilities", Capabilities}} {
		if _, ok := vals[f.k]; !ok {
			keys = append(keys, f.k)
		}
		vals[f.k] = []string{f.v}
	}
	var fields []kv
	for _, k := range keys {
		for _, v := range vals[k] {
			fields = append(fields, kv{k, v})
		}
	}
	u.query, u.hasQuery = encodeForm(fields), true
	full := u.String()
	t.mu.Lock()
	t.lastPoll = full
	t.mu.Unlock()
	return t.get(ctx, client, full)
}

// ReplayLastPoll sends the last poll GET again, verbatim.
func (t *Token) ReplayLastPoll(ctx context.Context, client *http.Client) ([]Request, error) {
	last := t.LastPollURL()
	if last == "" {
		return nil, errors.New("pushapp: no poll to replay")
	}
	return t.get(ctx, client, last)
}

func (t *Token) get(ctx context.Context, client *http.Client, full string) ([]Request, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "privacyIDEA-App / countersign-pushapp 4.8.0")
	resp, err := httpClient(client, t.SSLVerify, false).Do(req)
	if err != nil {
		return nil, fmt.Errorf("pushapp: poll: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pushapp: poll failed: HTTP %d: %s", resp.StatusCode, errorMessage(body))
	}
	list, err := validatePollAnswer(body)
	if err != nil {
		t.drop("whole poll answer dropped: %v", err)
		return nil, fmt.Errorf("pushapp: whole poll answer dropped: %w", err)
	}
	var out []Request
	for _, data := range list {
		if r := t.phone.accept(t, data); r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

func errorMessage(body []byte) string {
	var e struct {
		Result struct {
			Error struct {
				Message any `json:"message"`
			} `json:"error"`
		} `json:"result"`
	}
	if json.Unmarshal(body, &e) == nil && e.Result.Error.Message != nil {
		return fmt.Sprint(e.Result.Error.Message)
	}
	return string(body)
}

var requiredStrings = []string{"title", "question", "url", "nonce", "sslverify", "serial", "signature"}

// validatePollAnswer applies the app's whole-answer checks.
func validatePollAnswer(body []byte) ([]map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	m, ok := root.(map[string]any)
	if !ok {
		return nil, errors.New("answer is not an object")
	}
	res, ok := m["result"].(map[string]any)
	if !ok {
		return nil, errors.New("result is not an object")
	}
	l, ok := res["value"].([]any)
	if !ok {
		return nil, fmt.Errorf("result.value is %T, not a list", res["value"])
	}
	out := make([]map[string]any, 0, len(l))
	for i, e := range l {
		c, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("challenge %d is %T, not an object", i, e)
		}
		for _, f := range requiredStrings {
			if _, ok := c[f].(string); !ok {
				return nil, fmt.Errorf("challenge %d: %s is %s, not a string", i, f, jsonType(c[f]))
			}
		}
		if _, err := parseDartURI(c["url"].(string)); err != nil {
			return nil, fmt.Errorf("challenge %d: url: %v", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "missing or null"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// accept turns one challenge into a Request as the app does, or records why
// it was dropped.
func (p *Phone) accept(polled *Token, c map[string]any) *Request {
	s := func(k string) string { v, _ := c[k].(string); return v }
	u, _ := parseDartURI(s("url"))
	r := &Request{
		Nonce: s("nonce"), Title: s("title"), Question: s("question"),
		Serial: s("serial"), URL: u.String(), SSLVerify: s("sslverify") == "1",
	}
	signed := r.Nonce + "|" + r.URL + "|" + r.Serial + "|" + r.Question + "|" + r.Title + "|"
	if r.SSLVerify {
		signed += "1"
	} else {
		signed += "0"
	}
	if rp, ok := c["require_presence"].(string); ok {
		r.Options = strings.Split(rp, ",")
		signed += "|" + rp
	} else if dc, ok := c["display_code"].(string); ok {
		r.DisplayCode = dc
		signed += "|" + dc
	}
	t := p.tokenBySerial(r.Serial)
	if t == nil || !t.RolledOut() {
		polled.drop("challenge %s dropped: no rolled-out token with serial %q", r.Nonce, r.Serial)
		return nil
	}
	if err := verify(t.ServerKey, signed, s("signature")); err != nil {
		polled.drop("challenge %s dropped: signature over %q: %v", r.Nonce, signed, err)
		return nil
	}
	if caps, sig, ok := signedCapabilities(c); ok {
		cj, err := canonicalJSON(map[string]any{"capabilities": caps, "nonce": r.Nonce})
		if err == nil {
			if err := verify(t.ServerKey, cj, sig); err != nil {
				polled.drop("challenge %s dropped: capabilities signature over %s: %v", r.Nonce, cj, err)
				return nil
			}
			r.CanDeclineWithReason, r.allowedReasons = negotiateDeclineReason(caps)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known[r.Nonce] {
		polled.mu.Lock()
		polled.dropped = append(polled.dropped, fmt.Sprintf("challenge %s dropped: duplicate nonce", r.Nonce))
		polled.mu.Unlock()
		return nil
	}
	p.known[r.Nonce] = true
	r.token = t
	r.Expires = t.now().Add(2 * time.Minute)
	return r
}

func verify(pub *rsa.PublicKey, msg, sig string) error {
	b, err := b32decode(sig)
	if err != nil {
		return err
	}
	h := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], b)
}

// signedCapabilities reads capabilities as the app does; ok is false when
// they are absent or malformed (then the app ignores them).
func signedCapabilities(c map[string]any) (map[string]any, string, bool) {
	raw, present := c["capabilities"]
	if !present || raw == nil {
		return nil, "", false
	}
	sig, ok := c["capabilities_signature"].(string)
	if !ok {
		return nil, "", false
	}
	if str, ok := raw.(string); ok {
		dec := json.NewDecoder(strings.NewReader(str))
		dec.UseNumber()
		raw = nil
		if dec.Decode(&raw) != nil {
			return nil, "", false
		}
	}
	m, ok := raw.(map[string]any)
	if !ok || !validCapValue(m) {
		return nil, "", false
	}
	return m, sig, true
}

func validCapValue(v any) bool {
	switch v := v.(type) {
	case bool, string:
		return true
	case []any:
		for _, e := range v {
			if !validCapValue(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range v {
			if !validCapValue(e) {
				return false
			}
		}
		return true
	}
	return false
}

// negotiateDeclineReason: supported unless absent or false; a {"values":[…]}
// entry restricts the reasons.
func negotiateDeclineReason(caps map[string]any) (bool, map[string]bool) {
	e, ok := caps["decline_reason"]
	if !ok || e == false {
		return false, nil
	}
	if m, ok := e.(map[string]any); ok {
		if l, ok := m["values"].([]any); ok {
			allowed := map[string]bool{}
			for _, x := range l {
				if s, ok := x.(string); ok {
					allowed[s] = true
				}
			}
			return len(allowed) > 0, allowed
		}
	}
	return true, nil
}

// ---------------------------------------------------------------- answers

// Decline reasons as the app sends them.
const (
	ReasonUnknownTrigger = "unknown_trigger" // the user's "I didn't request this"
	ReasonCancelled      = "cancelled"
)

// Approve accepts a plain or code-to-phone challenge.
func (r *Request) Approve(ctx context.Context, client *http.Client) (bool, error) {
	if len(r.Options) > 0 {
		return false, errors.New("pushapp: this challenge asks for one of its options: use Choose")
	}
	return r.answer(ctx, client, false, "", "")
}

// Choose accepts a number-matching challenge with one of its options.
func (r *Request) Choose(ctx context.Context, client *http.Client, option string) (bool, error) {
	found := false
	for _, o := range r.Options {
		found = found || o == option
	}
	if !found {
		return false, fmt.Errorf("pushapp: %q is not one of the options %v", option, r.Options)
	}
	return r.answer(ctx, client, false, "", option)
}

// Decline is the app's "I didn't request this": reason unknown_trigger when
// the server advertised it, else a legacy decline.
func (r *Request) Decline(ctx context.Context, client *http.Client) (bool, error) {
	return r.answer(ctx, client, true, ReasonUnknownTrigger, "")
}

// Cancel is the app's cancel: reason cancelled when advertised, else a
// legacy decline.
func (r *Request) Cancel(ctx context.Context, client *http.Client) (bool, error) {
	return r.answer(ctx, client, true, ReasonCancelled, "")
}

func (r *Request) answer(ctx context.Context, client *http.Client, decline bool, reason, presence string) (bool, error) {
	t := r.token
	if t == nil {
		return false, errors.New("pushapp: request did not come from Poll")
	}
	if r.answered {
		return false, errors.New("pushapp: request was already answered (the app removed it)")
	}
	if t.now().After(r.Expires) {
		return false, errors.New("pushapp: request expired on the phone (2 minutes)")
	}
	if decline && (!r.CanDeclineWithReason || r.allowedReasons != nil && !r.allowedReasons[reason]) {
		reason = ""
	}
	fields := []kv{{"serial", t.Serial}, {"nonce", r.Nonce}}
	signed := r.Nonce + "|" + t.Serial
	if decline {
		fields = append(fields, kv{"decline", "1"})
		signed += "|decline"
		if reason != "" {
			fields = append(fields, kv{"decline_reason", reason})
			signed += "|" + reason
		}
	}
	if presence != "" {
		fields = append(fields, kv{"presence_answer", presence})
		signed += "|" + presence
	}
	sig, err := t.sign(signed)
	if err != nil {
		return false, err
	}
	fields = append(fields, kv{"signature", sig})
	a := &Answer{URL: r.URL, Body: encodeForm(fields), Signed: signed, SSLVerify: r.SSLVerify}
	ok, err := t.send(ctx, client, a)
	if err == nil {
		r.answered = true
	}
	return ok, err
}

// ReplayLastAnswer posts the last answer again, verbatim.
func (t *Token) ReplayLastAnswer(ctx context.Context, client *http.Client) (bool, error) {
	last := t.LastAnswer()
	if last == nil {
		return false, errors.New("pushapp: no answer to replay")
	}
	return t.send(ctx, client, &Answer{URL: last.URL, Body: last.Body, Signed: last.Signed, SSLVerify: last.SSLVerify})
}

// send posts an answer (retried once on a connection failure) and parses the
// response as the app: HTTP status ignored; a result object with a boolean
// status required; result.value a boolean when present.
func (t *Token) send(ctx context.Context, client *http.Client, a *Answer) (bool, error) {
	_, body, err := t.post(ctx, client, a.URL, a.SSLVerify, a.Body)
	// The app retries once on a connection failure, not on a timeout.
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		_, body, err = t.post(ctx, client, a.URL, a.SSLVerify, a.Body)
	}
	a.Response = body
	t.mu.Lock()
	t.lastAnswer = a
	t.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("pushapp: answer: %w", err)
	}
	return parseAnswerResponse(body)
}

func parseAnswerResponse(body []byte) (bool, error) {
	var root map[string]any
	if err := json.Unmarshal(body, &root); err != nil {
		return false, fmt.Errorf("pushapp: answer response is not a JSON object: %v", err)
	}
	res, ok := root["result"].(map[string]any)
	if !ok {
		return false, errors.New("pushapp: answer response has no result object")
	}
	if _, ok := res["status"].(bool); !ok {
		return false, errors.New("pushapp: answer response: result.status is not a boolean")
	}
	if e, ok := res["error"].(map[string]any); ok {
		code, isNum := e["code"].(float64)
		if cs, isStr := e["code"].(string); isStr {
			_, err := strconv.Atoi(cs)
			isNum, code = err == nil, 0
		}
		if !isNum || code != float64(int64(code)) {
			return false, errors.New("pushapp: answer response: result.error.code is not an integer")
		}
		if _, ok := e["message"].(string); !ok {
			return false, errors.New("pushapp: answer response: result.error.message is not a string")
		}
	}
	v, present := res["value"]
	if !present || v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("pushapp: answer response: result.value is %s, not a boolean", jsonType(v))
	}
	return b, nil
}
