// Package voicehook is the front door for a phone provider's callbacks: the
// TwiML a Twilio-compatible service fetches when a call is answered, the keys
// the person pressed, the no-input redirect and the call's final status. Every
// callback must carry a valid X-Twilio-Signature for the tenant's provider;
// the decisions are the flow engine's, this package only translates.
package voicehook
