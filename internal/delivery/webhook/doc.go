// Package webhook hands messages to any HTTP gateway as signed JSON, so a
// provider Countersign has no code for can be plugged in with a small
// receiver. The signature is an HMAC-SHA256 over a timestamp and the body
// (Sign, Verify), which lets the receiver reject forged and replayed
// requests; the outbox id travels as Idempotency-Key so a retry after a
// lost response can be dropped downstream.
package webhook
