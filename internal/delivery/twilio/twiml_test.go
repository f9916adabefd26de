package twilio

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

// parsed is a reading of TwiML independent of the types that wrote it.
type parsed struct {
	XMLName xml.Name `xml:"Response"`
	Gather  *struct {
		Input       string  `xml:"input,attr"`
		Action      string  `xml:"action,attr"`
		Method      string  `xml:"method,attr"`
		Timeout     string  `xml:"timeout,attr"`
		FinishOnKey *string `xml:"finishOnKey,attr"`
		NumDigits   string  `xml:"numDigits,attr"`
		Say         string  `xml:"Say"`
	} `xml:"Gather"`
	Redirect *struct {
		Method string `xml:"method,attr"`
		URL    string `xml:",chardata"`
	} `xml:"Redirect"`
	Say    []string  `xml:"Say"`
	Hangup *struct{} `xml:"Hangup"`
}

func TestGather(t *testing.T) {
	tests := []struct {
		name       string
		spec       GatherSpec
		wantFinish string
		wantDigits string
	}{
		{"every key at once", GatherSpec{Prompt: "Press <pound> to approve a sign-in to Acme & Sons.", Action: "https://mfa.example.org/hooks/twilio/gather/c1?a=1&b=2",
			Timeout: 8, NumDigits: 1, NoInput: "https://mfa.example.org/hooks/twilio/noinput/c1"}, "", "1"},
		{"PIN then pound", GatherSpec{Prompt: "Enter your PIN, then pound.", Action: "/g", Timeout: 10, FinishOnKey: "#", NoInput: "/n"}, "#", ""},
		{"no prompt", GatherSpec{Action: "/g", NumDigits: 1, NoInput: "/n"}, "", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Gather(tt.spec)
			if !bytes.HasPrefix(out, []byte(xml.Header)) {
				t.Errorf("missing XML declaration: %s", out)
			}
			if bytes.Contains(out, []byte("<pound>")) || bytes.Contains(out, []byte("Acme & Sons")) {
				t.Errorf("prompt not escaped: %s", out)
			}
			var got parsed
			if err := xml.Unmarshal(out, &got); err != nil {
				t.Fatalf("unmarshal %s: %v", out, err)
			}
			g := got.Gather
			if g == nil || g.Input != "dtmf" || g.Method != "POST" || g.Action != tt.spec.Action || g.Say != tt.spec.Prompt {
				t.Fatalf("Gather = %+v in %s", g, out)
			}
			// The attribute must be present even when empty, or Twilio finishes on "#".
			if g.FinishOnKey == nil || *g.FinishOnKey != tt.wantFinish || g.NumDigits != tt.wantDigits {
				t.Errorf("finishOnKey/numDigits in %s", out)
			}
			if got.Redirect == nil || got.Redirect.URL != tt.spec.NoInput || got.Redirect.Method != "POST" {
				t.Errorf("no-input redirect %+v", got.Redirect)
			}
		})
	}
}

func TestSay(t *testing.T) {
	out := Say("Thank you & goodbye <now>.", "")
	var got parsed
	if err := xml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Say) != 1 || got.Say[0] != "Thank you & goodbye <now>." || got.Hangup == nil || strings.Contains(string(out), "<now>") {
		t.Fatalf("Say TwiML %s", out)
	}
}

// A script in Spanish is read by a Spanish voice; English needs no attribute.
func TestSayLanguage(t *testing.T) {
	if out := string(Say("Gracias. Adiós.", "es-US")); !strings.Contains(out, `<Say language="es-US">Gracias. Adiós.</Say>`) {
		t.Errorf("Say in Spanish: %s", out)
	}
	if out := string(Say("Goodbye.", "")); strings.Contains(out, "language=") {
		t.Errorf("Say without a language: %s", out)
	}
	out := string(Gather(GatherSpec{Prompt: "Oprima numeral.", Language: "es-US", Action: "/g", NumDigits: 1, NoInput: "/n"}))
	if !strings.Contains(out, `<Say language="es-US">Oprima numeral.</Say>`) {
		t.Errorf("Gather in Spanish: %s", out)
	}
}
