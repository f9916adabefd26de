// Package pushproto holds the wire formats of Countersign's Mobile App method
// (requirements A9 and X3): the messages a phone app and Countersign exchange
// to enrol the app, to fetch open sign-in requests and to answer them. The
// formats are compatible with the privacyIDEA Authenticator app in its
// poll-only mode, in which no cloud push service is involved. The package is
// pure: it builds and checks messages and keeps nothing; storing keys,
// challenges and answers is the caller's business.
//
// # Enrolment
//
// The portal shows an activation barcode holding EnrolmentURI:
//
//	otpauth://pipush/{label}?url={url}&ttl={minutes}&issuer={issuer}
//	  &enrollment_credential={40 hex}&v=1&serial={serial}&sslverify={0|1}&poll_only=True
//
// The app makes a 4096-bit RSA key pair and POSTs the form fields
// enrollment_credential, serial, fbtoken ("no_firebase_token" when poll-only),
// pubkey (base64 DER SubjectPublicKeyInfo, see ParseAppPublicKey) and
// capabilities to url. Countersign checks the one-time credential, keeps the
// app's key, makes a server key pair for the factor (GenerateServerKey) and
// answers Result(true, {"public_key": EncodeServerPublicKey(...)}). The app
// reads only detail.public_key, which must be PKCS#1 RSAPublicKey DER in
// padded standard base64 broken by "\n" every 64 characters.
//
// # Signatures
//
// Both sides sign with RSASSA-PKCS1-v1_5 and SHA-256 over the UTF-8 bytes of
// fields joined by "|" (Sign, Verify); signatures travel as upper-case, padded
// RFC 4648 base32.
//
// # Polling
//
// The app fetches its open requests with GET url?serial=…&timestamp=…&signature=…
// (Poll): the signature covers "serial|timestamp", the timestamp is the app's
// clock in ISO 8601 UTC and must lie within one minute of Countersign's. The
// answer is Result with a JSON list (never null) of Challenge objects.
//
// # Challenges
//
// Each challenge (Challenge.Encode) carries nonce, question, serial, title,
// sslverify ("0"/"1") and url, all strings, and a signature over
// "nonce|url|serial|question|title|sslverify", to which number matching
// appends "|A,B,C" (require_presence, with version "2"). The app rebuilds the
// signed string itself and uses the URL as Dart's Uri.parse prints it, so the
// URL is signed and sent in that form (NormalizeURL). Every challenge also
// advertises the capability {"decline_reason":true} with a second signature
// over the RFC 8785 JSON {"capabilities":{"decline_reason":true},"nonce":"…"};
// it lets the app tell why a request was declined.
//
// # Answers
//
// The app POSTs serial, nonce, optionally decline=1, decline_reason and
// presence_answer, and signature to the challenge's url (Answer). The signed
// string is "nonce|serial", then "|decline" when declining, then "|reason"
// when a reason is sent (only with a decline), then "|answer" when a presence
// answer is sent. The app reads only result.status and result.value of the
// reply, never the HTTP status: Result(true, nil) for an accepted answer,
// Result(false, nil) when no open challenge matched, ErrorResult for a
// malformed request.
package pushproto
