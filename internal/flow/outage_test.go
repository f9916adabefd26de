package flow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
)

// down is a real store whose reads of challenges and calls fail as an outage
// makes them fail.
type down struct{ store.Store }

var errOutage = fmt.Errorf("%w: connection refused", store.ErrUnavailable)

func (down) LiveChallenge(context.Context, string, string, time.Time) (*store.Challenge, error) {
	return nil, errOutage
}
func (down) CallByID(context.Context, string) (*store.VoiceCall, error) { return nil, errOutage }

// Issue 10 item 5: a read that fails because the database cannot be reached
// is an errOutage (E45, try again), never "expired" or "unknown", which would
// send the person to ask for a new code while theirs is still good.
func TestOutageIsNotGone(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		eng := &flow.Engine{Store: down{e.st}, Hasher: e.eng.Hasher, Keys: e.eng.Keys, Now: e.clock.Now}
		if _, err := eng.ConfirmContactChange(e.ctx, e.app, "vfy_1", "123456", nil); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("ConfirmContactChange during an errOutage: %v, want ErrUnavailable (E45)", err)
		}
		if _, err := eng.Call(e.ctx, e.app, "call_1"); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Call during an errOutage: %v, want ErrUnavailable (E45)", err)
		}
		if _, err := eng.CallInput(e.ctx, "call_1", "#"); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("CallInput during an errOutage: %v, want ErrUnavailable", err)
		}
	})
}
