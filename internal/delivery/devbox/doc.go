// Package devbox is the development provider: instead of sending, it keeps
// the most recent SMS, emails and calls in memory and shows them on a local
// page, so a newcomer can try every flow without accounts anywhere. It is the
// default on the embedded run and is served only on loopback unless enabled
// explicitly.
package devbox
