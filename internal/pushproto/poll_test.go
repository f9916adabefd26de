package pushproto

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestPollVerify(t *testing.T) {
	_, app, other := testKeys(t)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	poll := func(ts string) Poll {
		// The app signs "serial|timestamp" (push_provider.dart pollForChallenge).
		p, err := ParsePoll(url.Values{
			"serial": {tSerial}, "timestamp": {ts}, "signature": {appSign(t, app, tSerial+"|"+ts)},
			"capabilities": {`["decline_reason"]`},
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		ts   string
		want time.Time
	}{
		// Dart's DateTime.now().toUtc().toIso8601String().
		{"2026-03-04T05:06:07.123456Z", now.Add(123456 * time.Microsecond)},
		{"2026-03-04T05:06:07.123Z", now.Add(123 * time.Millisecond)},
		{"2026-03-04T05:06:07Z", now},
		{"2026-03-04T05:05:08.000Z", now.Add(-59 * time.Second)},
		{"2026-03-04T05:07:07Z", now.Add(time.Minute)},
		{"2026-03-04T05:06:07.5", now.Add(500 * time.Millisecond)}, // naive = UTC
		{"2026-03-04T06:06:30+01:00", now.Add(23 * time.Second)},
	} {
		got, err := poll(tc.ts).Verify(&app.PublicKey, now)
		if err != nil {
			t.Errorf("%s: %v", tc.ts, err)
			continue
		}
		if !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("%s: got %v, want %v", tc.ts, got, tc.want)
		}
	}
	for _, ts := range []string{"2026-03-04T05:07:08Z", "2026-03-04T05:05:06.999Z", "2026-03-04T05:06:07+01:00", "2025-03-04T05:06:07Z"} {
		if _, err := poll(ts).Verify(&app.PublicKey, now); !errors.Is(err, ErrStale) {
			t.Errorf("%s: got %v, want ErrStale", ts, err)
		}
	}
	for _, ts := range []string{"yesterday", "2026-03-04 05:06:07Z", "2026-03-04T05:06:07.123Zjunk", "2026-03-04T05:06Z", "2026-13-04T05:06:07Z", "1772600767", "2026-03-04T05:06:07.Z"} {
		if _, err := poll(ts).Verify(&app.PublicKey, now); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", ts, err)
		}
	}
	// Signature problems.
	p := poll("2026-03-04T05:06:07.123456Z")
	if _, err := p.Verify(&other.PublicKey, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("other key: %v", err)
	}
	p.Timestamp = "2026-03-04T05:06:08.123456Z"
	if _, err := p.Verify(&app.PublicKey, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered timestamp: %v", err)
	}
	p = poll("2026-03-04T05:06:07.123456Z")
	p.Serial = "OTHER"
	if _, err := p.Verify(&app.PublicKey, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered serial: %v", err)
	}
	for name, q := range map[string]url.Values{
		"no serial":    {"timestamp": {"x"}, "signature": {"A"}},
		"no timestamp": {"serial": {"s"}, "signature": {"A"}},
		"no signature": {"serial": {"s"}, "timestamp": {"x"}},
		"two stamps":   {"serial": {"s"}, "timestamp": {"x", "y"}, "signature": {"A"}},
	} {
		if _, err := ParsePoll(q); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
