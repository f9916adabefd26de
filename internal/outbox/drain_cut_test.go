package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// Issue 10 item 3: a call cut by the drain on the message's last allowed
// attempt stays due: the stop, not the provider, ended it, so its code is kept.
func TestDrainCutOnLastAttemptKeepsTheMessage(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		st, keys := open(t), testKeys(t)
		ids := enqueue(t, st, keys, 1, time.Now())
		g := newGate()
		w := gateWorker(st, keys, "stopping", g, time.Now)
		w.Drain = time.Millisecond
		w.MaxAttempts = 1
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		<-g.started
		stop()
		<-done
		if m := states(t, st)[ids[0]]; m.State != store.OutboxRetry || m.Payload == nil {
			t.Errorf("message cut by the stop on its last attempt = %s (payload kept %v), want a retry", m.State, m.Payload != nil)
		}
	})
}
