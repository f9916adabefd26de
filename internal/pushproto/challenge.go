package pushproto

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// CapabilityDeclineReason is the capability that lets the app send (and sign)
// a decline reason.
const CapabilityDeclineReason = "decline_reason"

// CapabilitiesJSON is the capabilities field of every challenge: a JSON string
// (not an object), which the app decodes before it checks the signature.
const CapabilitiesJSON = `{"` + CapabilityDeclineReason + `":true}`

// Challenge is one open sign-in request as the app fetches it.
type Challenge struct {
	Nonce    string
	Serial   string
	URL      string // where the app answers; signed and sent normalised (NormalizeURL)
	Question string
	Title    string
	// SSLVerify tells the app to check the TLS certificate when answering.
	SSLVerify bool
	// Presence holds the number-matching options the app offers, one of which
	// the person picks; none means a plain approve/decline request.
	Presence []string
}

// SignedData returns the string the challenge signature covers, with url as
// given: nonce|url|serial|question|title|sslverify[|require_presence].
func (c Challenge) SignedData(url string) string {
	s := strings.Join([]string{c.Nonce, url, c.Serial, c.Question, c.Title, boolDigit(c.SSLVerify)}, "|")
	if len(c.Presence) > 0 {
		s += "|" + strings.Join(c.Presence, ",")
	}
	return s
}

// CapabilitiesSignedData returns the RFC 8785 canonical JSON the capabilities
// signature covers: {"capabilities":{"decline_reason":true},"nonce":"…"}.
// The keys are already in canonical order.
func CapabilitiesSignedData(nonce string) string {
	return `{"capabilities":` + CapabilitiesJSON + `,"nonce":` + canonicalJSONString(nonce) + `}`
}

// canonicalJSONString writes s as RFC 8785 does (and the app's canonicaliser):
// only '"', '\\' and control characters escaped, the short forms where JSON
// has them, everything else as raw UTF-8.
func canonicalJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			if c < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Encode returns the challenge as one element of a poll answer's result.value,
// signed with the factor's server key. Every field the app requires is a
// string; the URL is normalised as the app will rebuild it.
func (c Challenge) Encode(priv *rsa.PrivateKey) (map[string]any, error) {
	if priv == nil {
		return nil, errors.New("pushproto: no server key")
	}
	if c.Nonce == "" || c.Serial == "" {
		return nil, errors.New("pushproto: challenge without nonce or serial")
	}
	for _, f := range []string{c.Nonce, c.Serial, c.Question, c.Title} {
		if !utf8.ValidString(f) {
			return nil, errors.New("pushproto: challenge field is not UTF-8")
		}
	}
	for _, p := range c.Presence {
		if p == "" || strings.Contains(p, ",") || !utf8.ValidString(p) {
			return nil, fmt.Errorf("pushproto: unusable presence option %q", p)
		}
	}
	url, err := NormalizeURL(c.URL)
	if err != nil {
		return nil, err
	}
	sig, err := Sign(priv, c.SignedData(url))
	if err != nil {
		return nil, err
	}
	capSig, err := Sign(priv, CapabilitiesSignedData(c.Nonce))
	if err != nil {
		return nil, err
	}
	m := map[string]any{
		"nonce":                  c.Nonce,
		"question":               c.Question,
		"serial":                 c.Serial,
		"title":                  c.Title,
		"sslverify":              boolDigit(c.SSLVerify),
		"url":                    url,
		"signature":              sig,
		"capabilities":           CapabilitiesJSON,
		"capabilities_signature": capSig,
	}
	if len(c.Presence) > 0 {
		m["require_presence"] = strings.Join(c.Presence, ",")
		m["version"] = "2"
	}
	return m, nil
}
