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
		Input       string `xml:"input,attr"`
		Action      string `xml:"action,attr"`
		Method      string `xml:"method,attr"`
		Timeout     string `xml:"timeout,attr"`
		FinishOnKey string `xml:"finishOnKey,attr"`
		NumDigits   string `xml:"numDigits,attr"`
		Say         string `xml:"Say"`
	} `xml:"Gather"`
	Say    []string  `xml:"Say"`
	Hangup *struct{} `xml:"Hangup"`
}

func TestGather(t *testing.T) {
	tests := []struct {
		name        string
		spec        GatherSpec
		wantTimeout string
		wantFinish  string
		wantDigits  string
		wantNoInput string
	}{
		{
			name: "press pound",
			spec: GatherSpec{
				Prompt:  "Press <pound> to approve a sign-in to Acme & Sons.",
				Action:  "https://mfa.example.org/hooks/twilio/gather/c1?a=1&b=2",
				Timeout: 8, FinishOnKey: "#", NumDigits: 1,
				NoInput: "No key was pressed; nothing was approved.",
			},
			wantTimeout: "8", wantFinish: "#", wantDigits: "1",
			wantNoInput: "No key was pressed; nothing was approved.",
		},
		{
			name:        "defaults",
			spec:        GatherSpec{Prompt: "Enter the code.", Action: "/hooks/x"},
			wantNoInput: DefaultNoInput,
		},
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
			if g == nil {
				t.Fatalf("no <Gather> in %s", out)
			}
			if g.Input != "dtmf" || g.Method != "POST" || g.Action != tt.spec.Action || g.Say != tt.spec.Prompt {
				t.Errorf("Gather = %+v", *g)
			}
			if g.Timeout != tt.wantTimeout || g.FinishOnKey != tt.wantFinish || g.NumDigits != tt.wantDigits {
				t.Errorf("timeout/finishOnKey/numDigits = %q/%q/%q, want %q/%q/%q",
					g.Timeout, g.FinishOnKey, g.NumDigits, tt.wantTimeout, tt.wantFinish, tt.wantDigits)
			}
			if len(got.Say) != 1 || got.Say[0] != tt.wantNoInput {
				t.Errorf("after Gather says %q, want %q", got.Say, tt.wantNoInput)
			}
			if got.Hangup == nil {
				t.Error("no <Hangup>")
			}
			// The verbs must come in order: gather, then the fallback.
			if i, j := bytes.Index(out, []byte("<Gather")), bytes.Index(out, []byte("<Hangup")); i < 0 || j < i {
				t.Errorf("verbs out of order: %s", out)
			}
		})
	}
}

func TestSay(t *testing.T) {
	text := `Your code is 1 2 3. Don't share it with "anyone" <really> & ever.`
	out := Say(text)
	if strings.Contains(string(out), "<really>") {
		t.Errorf("text not escaped: %s", out)
	}
	var got parsed
	if err := xml.Unmarshal(out, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", out, err)
	}
	if got.Gather != nil || len(got.Say) != 1 || got.Say[0] != text || got.Hangup == nil {
		t.Errorf("Say = %+v from %s", got, out)
	}
}
