package twilio

import (
	"net/url"
	"testing"
)

// The example from Twilio's webhook security documentation, as published
// in TwilioDevEd/api-snippets security/signature_validation.
var (
	docToken  = "12345"
	docURL    = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docParams = url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675310"},
		"Digits":  {"1234"},
		"From":    {"+14158675310"},
		"To":      {"+18005551212"},
	}
	docSignature = "GvWf1cFY/Q7PnoempGyD5oXAezc="
)

func TestSignatureMatchesTwilioExample(t *testing.T) {
	if got := Signature(docToken, docURL, docParams); got != docSignature {
		t.Fatalf("Signature = %q, want %q", got, docSignature)
	}
}

func TestValid(t *testing.T) {
	with := func(name, value string) url.Values {
		p := url.Values{}
		for k, v := range docParams {
			p[k] = append([]string(nil), v...)
		}
		p.Set(name, value)
		return p
	}
	tests := []struct {
		name      string
		token     string
		url       string
		params    url.Values
		signature string
		want      bool
	}{
		{"documented example", docToken, docURL, docParams, docSignature, true},
		{"changed digits", docToken, docURL, with("Digits", "1235"), docSignature, false},
		{"added parameter", docToken, docURL, with("AnsweredBy", "human"), docSignature, false},
		{"changed url", docToken, "https://mycompany.com/myapp.php?foo=1&bar=3", docParams, docSignature, false},
		{"http instead of https", docToken, "http://mycompany.com/myapp.php?foo=1&bar=2", docParams, docSignature, false},
		{"wrong token", "54321", docURL, docParams, docSignature, false},
		{"empty signature", docToken, docURL, docParams, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Valid(tt.token, tt.url, tt.params, tt.signature); got != tt.want {
				t.Errorf("Valid = %v, want %v", got, tt.want)
			}
		})
	}
}
