package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Verification failures, for receivers to tell apart in their logs.
var (
	ErrTimestamp = errors.New("webhook: timestamp missing, malformed or outside the tolerance")
	ErrSignature = errors.New("webhook: signature does not match")
)

// Sign returns the X-Countersign-Signature value for body sent at
// timestamp (Unix seconds): "v1=" and the hex HMAC-SHA256, keyed with
// secret, of the decimal timestamp, a dot and the body. Binding the
// timestamp into the MAC is what lets a receiver refuse replays.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", timestamp)
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a request's X-Countersign-Signature (header) and
// X-Countersign-Timestamp (tsHeader) against body. The timestamp must lie
// within tolerance of now in either direction. header may list several
// comma-separated signatures, so a receiver can accept the old and the new
// secret's signature while a secret is rotated.
func Verify(secret string, header string, tsHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(strings.TrimSpace(tsHeader), 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := []byte(Sign(secret, ts, body))
	for sig := range strings.SplitSeq(header, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(sig)), want) {
			return nil
		}
	}
	return ErrSignature
}
