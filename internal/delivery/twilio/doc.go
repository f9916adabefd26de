// Package twilio sends SMS and places voice calls through Twilio's REST API,
// or any service that speaks the same API, with plain net/http rather than a
// vendor SDK. It also holds the pieces Countersign's callback handlers need:
// X-Twilio-Signature verification and the small TwiML documents a call is
// driven with. A call is placed with answering-machine detection so that a
// voicemail can be given a message without a secret in it.
package twilio
