// Package delivery defines how Countersign hands an SMS, a voice call or an
// email to a provider. Messages are never sent from a request: the flow
// engine writes them to the outbox in the same transaction as the state that
// caused them, and outbox workers call a Sender with retries. Providers live
// in sub-packages (smtpmail, twilio, webhook, devbox) behind this one small
// interface.
package delivery
