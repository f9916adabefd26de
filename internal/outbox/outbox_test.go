package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

// recorder is a provider that remembers what it was asked to send and can be
// told to fail.
type recorder struct {
	mu       sync.Mutex
	got      map[string]int
	bodies   map[string]string
	failNext int32
	perm     bool
}

func newRecorder() *recorder { return &recorder{got: map[string]int{}, bodies: map[string]string{}} }

func (r *recorder) Send(_ context.Context, m delivery.Message) (delivery.Result, error) {
	if atomic.AddInt32(&r.failNext, -1) >= 0 {
		if r.perm {
			return delivery.Result{}, delivery.Permanent(errors.New("number rejected"))
		}
		return delivery.Result{}, errors.New("provider unavailable")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[m.ID]++
	r.bodies[m.ID] = m.Text
	return delivery.Result{Ref: "ref-" + m.ID}, nil
}

func (r *recorder) count() (msgs, sends int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.got {
		sends += n
	}
	return len(r.got), sends
}

type opener func(t *testing.T) store.Store

func eachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cs.db")
		fn(t, func(t *testing.T) store.Store {
			st, err := sqlstore.OpenSQLite(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		fn(t, func(t *testing.T) store.Store {
			st, err := sqlstore.OpenPostgres(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func testKeys(t *testing.T) *keyring.Keyring {
	k, err := keyring.New(map[string][]byte{"k1": make([]byte, 32)}, "k1", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func enqueue(t *testing.T, st store.Store, keys *keyring.Keyring, n int, now time.Time) []string {
	return enqueueAs(t, st, keys, "msg", n, now)
}

func enqueueAs(t *testing.T, st store.Store, keys *keyring.Keyring, prefix string, n int, now time.Time) []string {
	t.Helper()
	var ids []string
	for i := range n {
		m := delivery.Message{ID: fmt.Sprintf("%s_%03d", prefix, i), TenantID: "ten_1", Channel: delivery.SMS, To: "+15555550100", Text: fmt.Sprintf("Your code is %06d", i)}
		err := st.InTx(t.Context(), func(q store.Queries) error {
			return outbox.Enqueue(t.Context(), q, keys, m, "usr_1", "login_code", now)
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

func worker(st store.Store, keys *keyring.Keyring, id string, r *recorder, now func() time.Time) *outbox.Worker {
	return &outbox.Worker{Store: st, Keys: keys, ID: id, Now: now,
		Route: func(string, string) (string, delivery.Sender, error) { return "recorder", r, nil }}
}

// G7: a restart with undelivered messages loses none and sends none twice,
// and the secret payload is erased once delivered.
func TestRestartDeliversEverythingOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		keys := testKeys(t)
		now := time.Now()
		first := open(t)
		ids := enqueue(t, first, keys, 25, now)
		first.Close() // the server stops before any worker ran

		st := open(t)
		r := newRecorder()
		w := worker(st, keys, "w1", r, time.Now)
		for range 10 {
			if _, err := w.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if msgs, sends := r.count(); msgs != 25 || sends != 25 {
			t.Fatalf("%d messages in %d sends, want 25 in 25", msgs, sends)
		}
		if r.bodies[ids[7]] != "Your code is 000007" {
			t.Fatalf("payload did not survive: %q", r.bodies[ids[7]])
		}
		rows, err := st.ListOutbox(t.Context(), store.OutboxFilter{TenantID: "ten_1", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range rows {
			if m.State != store.OutboxDelivered || m.Payload != nil || m.ProviderRef != "ref-"+m.ID || m.Provider != "recorder" {
				t.Fatalf("row %+v not delivered cleanly", m)
			}
		}
	})
}

// G7: a provider that fails and then recovers gets every message through,
// with backoff between attempts; a permanent failure stops retrying.
func TestProviderOutageAndRecovery(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		st, keys := open(t), testKeys(t)
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		enqueue(t, st, keys, 3, clock())
		r := newRecorder()
		r.failNext = 6 // two full rounds fail
		w := worker(st, keys, "w1", r, clock)
		for round := range 2 {
			if n, _ := w.RunOnce(t.Context()); n != 3 {
				t.Fatalf("round %d claimed %d", round, n)
			}
			// Nothing is due again before its backoff.
			if n, _ := w.RunOnce(t.Context()); n != 0 {
				t.Fatalf("claimed %d before the backoff elapsed", n)
			}
			advance(outbox.Backoff(round+1) + time.Second)
		}
		if _, err := w.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		if msgs, sends := r.count(); msgs != 3 || sends != 3 {
			t.Fatalf("after recovery %d messages %d sends", msgs, sends)
		}
		rows, _ := st.ListOutbox(t.Context(), store.OutboxFilter{TenantID: "ten_1"})
		for _, m := range rows {
			if m.Attempts != 3 || m.State != store.OutboxDelivered {
				t.Fatalf("%s: %d attempts, state %s", m.ID, m.Attempts, m.State)
			}
		}

		// A permanent failure is not retried and keeps no payload.
		enqueueAs(t, st, keys, "perm", 1, clock())
		r2 := newRecorder()
		r2.failNext, r2.perm = 1, true
		w2 := worker(st, keys, "w2", r2, clock)
		if _, err := w2.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		advance(time.Hour)
		if n, _ := w2.RunOnce(t.Context()); n != 0 {
			t.Fatalf("a dead message was claimed again")
		}
		dead, _ := st.ListOutbox(t.Context(), store.OutboxFilter{TenantID: "ten_1", State: store.OutboxDead})
		if len(dead) != 1 || dead[0].Payload != nil || dead[0].LastError == "" {
			t.Fatalf("dead messages %+v", dead)
		}
	})
}

// Several workers (several servers) racing on one queue deliver each message
// exactly once.
func TestConcurrentWorkersDeliverOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		st, keys := open(t), testKeys(t)
		enqueue(t, st, keys, 200, time.Now())
		r := newRecorder()
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each worker has its own connection pool, like a separate server.
				w := worker(open(t), keys, fmt.Sprintf("w%d", i), r, time.Now)
				w.Batch = 7
				for range 100 {
					n, err := w.RunOnce(t.Context())
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		if msgs, sends := r.count(); msgs != 200 || sends != 200 {
			t.Fatalf("%d messages in %d sends, want 200 in 200", msgs, sends)
		}
	})
}

// A worker that dies holding a claim delays its messages by one lease, no more.
func TestExpiredLeaseIsReclaimed(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		st, keys := open(t), testKeys(t)
		now := time.Now()
		enqueue(t, st, keys, 2, now)
		claimed, err := st.ClaimOutbox(t.Context(), "crashed", now, now.Add(time.Minute), 10)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim %d %v", len(claimed), err)
		}
		r := newRecorder()
		w := worker(st, keys, "w2", r, func() time.Time { return now.Add(30 * time.Second) })
		if n, _ := w.RunOnce(t.Context()); n != 0 {
			t.Fatal("claimed messages another worker still holds")
		}
		w.Now = func() time.Time { return now.Add(2 * time.Minute) }
		if n, _ := w.RunOnce(t.Context()); n != 2 {
			t.Fatal("expired claims not reclaimed")
		}
		if ok, _ := st.MarkOutboxDelivered(t.Context(), claimed[0].ID, "crashed", "x", "", now); ok {
			t.Fatal("the crashed worker could still mark a message it no longer holds")
		}
	})
}
