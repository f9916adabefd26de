package twilio

import (
	"encoding/xml"
)

// GatherSpec describes a prompt that collects key presses.
type GatherSpec struct {
	Prompt string
	// Language is the BCP 47 tag the prompt is read in (such as "es-US");
	// empty leaves Twilio's default, English.
	Language string
	// Action receives the digits (POST).
	Action string
	// Timeout is the number of seconds to wait for a key.
	Timeout int
	// FinishOnKey ends input; it is always written, so "" turns Twilio's
	// default "#" off and, with NumDigits 1, every key is submitted at once.
	FinishOnKey string
	// NumDigits ends input after that many digits; 0 means no limit.
	NumDigits int
	// NoInput receives the call when the timeout passes without a key, so the
	// application records "no input" itself instead of guessing from silence.
	NoInput string
}

type response struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []any
}

type say struct {
	XMLName  xml.Name `xml:"Say"`
	Language string   `xml:"language,attr,omitempty"`
	Text     string   `xml:",chardata"`
}

type hangup struct {
	XMLName xml.Name `xml:"Hangup"`
}

type redirect struct {
	XMLName xml.Name `xml:"Redirect"`
	Method  string   `xml:"method,attr"`
	URL     string   `xml:",chardata"`
}

type gather struct {
	XMLName     xml.Name `xml:"Gather"`
	Input       string   `xml:"input,attr"`
	Action      string   `xml:"action,attr"`
	Method      string   `xml:"method,attr"`
	Timeout     int      `xml:"timeout,attr,omitempty"`
	FinishOnKey string   `xml:"finishOnKey,attr"`
	NumDigits   int      `xml:"numDigits,attr,omitempty"`
	Say         *say
}

// Gather is TwiML that speaks g.Prompt while collecting DTMF digits for
// g.Action, then redirects to g.NoInput if none came.
func Gather(g GatherSpec) []byte {
	gth := gather{Input: "dtmf", Action: g.Action, Method: "POST", Timeout: g.Timeout, FinishOnKey: g.FinishOnKey, NumDigits: g.NumDigits}
	if g.Prompt != "" {
		gth.Say = &say{Text: g.Prompt, Language: g.Language}
	}
	return render(response{Verbs: []any{gth, redirect{Method: "POST", URL: g.NoInput}}})
}

// Say is TwiML that speaks text and hangs up; language as in GatherSpec.
func Say(text, language string) []byte {
	return render(response{Verbs: []any{say{Text: text, Language: language}, hangup{}}})
}

func render(r response) []byte {
	b, err := xml.Marshal(r)
	if err != nil {
		// The types above hold only strings and ints; Marshal cannot fail.
		panic("twilio: marshal TwiML: " + err.Error())
	}
	return append([]byte(xml.Header), b...)
}
