package twilio

import (
	"encoding/xml"
)

// DefaultNoInput is said when a Gather times out without a key press.
const DefaultNoInput = "We did not receive any input. Goodbye."

// GatherSpec describes a prompt that collects key presses.
type GatherSpec struct {
	Prompt string
	// Action receives the digits (POST).
	Action string
	// Timeout is the number of seconds to wait for a key; 0 leaves
	// Twilio's default.
	Timeout int
	// FinishOnKey ends input early; empty leaves Twilio's default, "#".
	FinishOnKey string
	// NumDigits ends input after that many digits; 0 means no limit.
	NumDigits int
	// NoInput is said before hanging up when no input came; empty means
	// DefaultNoInput.
	NoInput string
}

type response struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []any
}

type say struct {
	XMLName xml.Name `xml:"Say"`
	Text    string   `xml:",chardata"`
}

type hangup struct {
	XMLName xml.Name `xml:"Hangup"`
}

type gather struct {
	XMLName     xml.Name `xml:"Gather"`
	Input       string   `xml:"input,attr"`
	Action      string   `xml:"action,attr"`
	Method      string   `xml:"method,attr"`
	Timeout     int      `xml:"timeout,attr,omitempty"`
	FinishOnKey string   `xml:"finishOnKey,attr,omitempty"`
	NumDigits   int      `xml:"numDigits,attr,omitempty"`
	Say         say
}

// Gather is TwiML that speaks g.Prompt while collecting DTMF digits for
// g.Action, and hangs up with g.NoInput if none come: a call that is never
// answered by a person must not loop.
func Gather(g GatherSpec) []byte {
	noInput := g.NoInput
	if noInput == "" {
		noInput = DefaultNoInput
	}
	return render(response{Verbs: []any{
		gather{
			Input: "dtmf", Action: g.Action, Method: "POST",
			Timeout: g.Timeout, FinishOnKey: g.FinishOnKey, NumDigits: g.NumDigits,
			Say: say{Text: g.Prompt},
		},
		say{Text: noInput},
		hangup{},
	}})
}

// Say is TwiML that speaks text and hangs up.
func Say(text string) []byte {
	return render(response{Verbs: []any{say{Text: text}, hangup{}}})
}

func render(r response) []byte {
	b, err := xml.Marshal(r)
	if err != nil {
		// The types above hold only strings and ints; Marshal cannot fail.
		panic("twilio: marshal TwiML: " + err.Error())
	}
	return append([]byte(xml.Header), b...)
}
