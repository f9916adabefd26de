package pushproto

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

const (
	tNonce  = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tSerial = "CSPU0001"
)

// The signed strings below are written out as the app builds them
// (push_request.dart getResponseSignMsg, push_choice_request.dart) and as the
// reference server rebuilds them (pushtoken.py _handle_auth_response).
func TestAnswerVerifyVariants(t *testing.T) {
	_, app, other := testKeys(t)
	for _, tc := range []struct {
		name   string
		form   url.Values
		signed string
		want   Answer
	}{
		{"accept", url.Values{}, tNonce + "|" + tSerial, Answer{}},
		{"legacy decline", url.Values{"decline": {"1"}}, tNonce + "|" + tSerial + "|decline", Answer{Decline: true}},
		{"decline unknown trigger", url.Values{"decline": {"1"}, "decline_reason": {"unknown_trigger"}},
			tNonce + "|" + tSerial + "|decline|unknown_trigger", Answer{Decline: true, DeclineReason: DeclineReasonUnknownTrigger}},
		{"decline cancelled", url.Values{"decline": {"1"}, "decline_reason": {"cancelled"}},
			tNonce + "|" + tSerial + "|decline|cancelled", Answer{Decline: true, DeclineReason: DeclineReasonCancelled}},
		{"presence answer", url.Values{"presence_answer": {"C"}}, tNonce + "|" + tSerial + "|C", Answer{PresenceAnswer: "C"}},
		{"decline with presence", url.Values{"decline": {"1"}, "decline_reason": {"cancelled"}, "presence_answer": {"C"}},
			tNonce + "|" + tSerial + "|decline|cancelled|C", Answer{Decline: true, DeclineReason: "cancelled", PresenceAnswer: "C"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"serial": {tSerial}, "nonce": {tNonce}, "signature": {appSign(t, app, tc.signed)}}
			for k, v := range tc.form {
				form[k] = v
			}
			a, err := ParseAnswer(form)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Serial, want.Nonce, want.Signature = tSerial, tNonce, form.Get("signature")
			if a != want {
				t.Fatalf("parsed %+v, want %+v", a, want)
			}
			if a.SignedData() != tc.signed {
				t.Fatalf("signed data %q, want %q", a.SignedData(), tc.signed)
			}
			if err := a.Verify(&app.PublicKey); err != nil {
				t.Fatal(err)
			}
			if err := a.Verify(&other.PublicKey); !errors.Is(err, ErrSignature) {
				t.Fatalf("other key: %v", err)
			}
			// Tampering with any signed element fails.
			for name, mut := range map[string]func(*Answer){
				"nonce":    func(a *Answer) { a.Nonce = "X" + a.Nonce[1:] },
				"serial":   func(a *Answer) { a.Serial += "2" },
				"decline":  func(a *Answer) { a.Decline = !a.Decline },
				"reason":   func(a *Answer) { a.DeclineReason = map[string]string{"cancelled": "unknown_trigger"}[a.DeclineReason] },
				"presence": func(a *Answer) { a.PresenceAnswer = map[string]string{"": "A", "C": "Q"}[a.PresenceAnswer] },
			} {
				b := a
				mut(&b)
				if b.SignedData() == a.SignedData() {
					continue // the mutation does not apply to this variant
				}
				if err := b.Verify(&app.PublicKey); !errors.Is(err, ErrSignature) {
					t.Fatalf("tampered %s: %v", name, err)
				}
			}
		})
	}
}

func TestParseAnswerRefuses(t *testing.T) {
	base := func() url.Values {
		return url.Values{"serial": {tSerial}, "nonce": {tNonce}, "signature": {"ABCDEFGH"}}
	}
	for name, mut := range map[string]func(url.Values){
		"no serial":          func(v url.Values) { delete(v, "serial") },
		"no nonce":           func(v url.Values) { delete(v, "nonce") },
		"no signature":       func(v url.Values) { delete(v, "signature") },
		"empty nonce":        func(v url.Values) { v.Set("nonce", "") },
		"two serials":        func(v url.Values) { v.Add("serial", "X") },
		"long serial":        func(v url.Values) { v.Set("serial", strings.Repeat("s", MaxSerialLen+1)) },
		"long signature":     func(v url.Values) { v.Set("signature", strings.Repeat("A", 4000)) },
		"bad utf-8":          func(v url.Values) { v.Set("nonce", "\xff\xfe") },
		"control character":  func(v url.Values) { v.Set("presence_answer", "A\nB") },
		"bad decline":        func(v url.Values) { v.Set("decline", "yes") },
		"reason, no decline": func(v url.Values) { v.Set("decline_reason", "cancelled") },
		"long reason":        func(v url.Values) { v.Set("decline", "1"); v.Set("decline_reason", strings.Repeat("r", 65)) },
	} {
		v := base()
		mut(v)
		if _, err := ParseAnswer(v); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ParseAnswer(base()); err != nil {
		t.Fatal(err)
	}
}
