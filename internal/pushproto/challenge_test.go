package pushproto

import (
	"encoding/json"
	"strings"
	"testing"
)

// The capabilities signature covers these exact bytes: the app rebuilds them
// with its RFC 8785 canonicaliser (json_canonicalizer.dart: sorted keys, no
// whitespace) from {"capabilities": <decoded field>, "nonce": nonce}
// (capabilities.dart SignedCapabilities.verify).
func TestCapabilitiesCanonicalGolden(t *testing.T) {
	const nonce = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	want := `{"capabilities":{"decline_reason":true},"nonce":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}`
	if got := CapabilitiesSignedData(nonce); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// Cross-check: decode the advertised field as the app does and
	// re-serialise with sorted keys and no whitespace.
	var caps map[string]any
	if err := json.Unmarshal([]byte(CapabilitiesJSON), &caps); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"capabilities": caps, "nonce": nonce})
	if err != nil || string(b) != want {
		t.Fatalf("re-canonicalised %s, %v", b, err)
	}
	if got := canonicalJSONString("a\"b\\c\n\x01é<"); got != `"a\"b\\c\n\u0001é<"` {
		t.Fatalf("canonical string %s", got)
	}
}

func TestChallengeEncode(t *testing.T) {
	server, _, other := testKeys(t)
	c := Challenge{
		Nonce:     "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		Serial:    "CSPU0001",
		URL:       "HTTPS://MFA.Example.com:443/push/./v1",
		Question:  "Sign in to Acme?",
		Title:     "Countersign",
		SSLVerify: true,
	}
	const url = "https://mfa.example.com/push/v1"
	m, err := c.Encode(server)
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as the app receives it: every required field a string.
	var got map[string]any
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"title", "question", "url", "nonce", "sslverify", "serial", "signature", "capabilities", "capabilities_signature"} {
		if _, ok := got[f].(string); !ok {
			t.Fatalf("%s is %T, the app drops the poll answer", f, got[f])
		}
	}
	if got["url"] != url || got["sslverify"] != "1" || got["capabilities"] != `{"decline_reason":true}` {
		t.Fatalf("fields %v", got)
	}
	if _, ok := got["require_presence"]; ok {
		t.Fatal("require_presence without options")
	}
	if _, ok := got["version"]; ok {
		t.Fatal("version without options")
	}
	// The app's signed string (push_default_request.dart signedData).
	signed := c.Nonce + "|" + url + "|CSPU0001|Sign in to Acme?|Countersign|1"
	if err := appVerify(&server.PublicKey, got["signature"].(string), signed); err != nil {
		t.Fatalf("app refuses the challenge: %v", err)
	}
	if err := appVerify(&other.PublicKey, got["signature"].(string), signed); err == nil {
		t.Fatal("verified with another key")
	}
	capsSigned := `{"capabilities":{"decline_reason":true},"nonce":"` + c.Nonce + `"}`
	if err := appVerify(&server.PublicKey, got["capabilities_signature"].(string), capsSigned); err != nil {
		t.Fatalf("app drops the challenge (capabilities): %v", err)
	}

	// Number matching (push_choice_request.dart signedData).
	c.Presence = []string{"A", "C", "Q"}
	c.SSLVerify = false
	m, err = c.Encode(server)
	if err != nil {
		t.Fatal(err)
	}
	if m["require_presence"] != "A,C,Q" || m["version"] != "2" || m["sslverify"] != "0" {
		t.Fatalf("fields %v", m)
	}
	signed = c.Nonce + "|" + url + "|CSPU0001|Sign in to Acme?|Countersign|0|A,C,Q"
	if err := appVerify(&server.PublicKey, m["signature"].(string), signed); err != nil {
		t.Fatalf("app refuses the choice challenge: %v", err)
	}

	for name, bad := range map[string]Challenge{
		"comma option": {Nonce: "N", Serial: "S", URL: url, Presence: []string{"A,B", "C"}},
		"empty option": {Nonce: "N", Serial: "S", URL: url, Presence: []string{"", "C"}},
		"no nonce":     {Serial: "S", URL: url},
		"no serial":    {Nonce: "N", URL: url},
		"bad url":      {Nonce: "N", Serial: "S", URL: "ftp://h/"},
		"bad utf-8":    {Nonce: "N", Serial: "S", URL: url, Title: "\xff"},
	} {
		if _, err := bad.Encode(server); err == nil {
			t.Fatalf("%s: encoded", name)
		}
	}
	if _, err := c.Encode(nil); err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("nil key: %v", err)
	}
}
