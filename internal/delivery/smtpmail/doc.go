// Package smtpmail delivers email through an SMTP submission server. Each
// Send opens its own connection, so a Sender is safe for concurrent use and
// a broken connection never outlives the message that found it. Replies in
// the 5xx range (unknown recipient, refused credentials) are reported as
// permanent; everything else is left for the outbox to retry. Every message
// carries a Message-ID derived from the outbox id, so a retry after an
// uncertain failure can be recognised downstream.
package smtpmail
