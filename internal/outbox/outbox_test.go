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

// gate is a provider whose first call waits for the test: started is closed
// when it begins, and it returns when proceed is closed or its context ends.
// Every other call succeeds at once.
type gate struct {
	started, proceed chan struct{}
	once             sync.Once
	mu               sync.Mutex
	cut              bool // the first call's context had ended when it returned
	sent             map[string]int
}

func newGate() *gate {
	return &gate{started: make(chan struct{}), proceed: make(chan struct{}), sent: map[string]int{}}
}

func (g *gate) Send(ctx context.Context, m delivery.Message) (delivery.Result, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.started)
		select {
		case <-g.proceed:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			g.mu.Lock()
			g.cut = true
			g.mu.Unlock()
			return delivery.Result{}, err
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent[m.ID]++
	return delivery.Result{Ref: "ref-" + m.ID}, nil
}

func gateWorker(st store.Store, keys *keyring.Keyring, id string, g *gate, now func() time.Time) *outbox.Worker {
	return &outbox.Worker{Store: st, Keys: keys, ID: id, Now: now,
		Route: func(string, string) (string, delivery.Sender, error) { return "gate", g, nil }}
}

func states(t *testing.T, st store.Store) map[string]store.OutboxMessage {
	t.Helper()
	rows, err := st.ListOutbox(t.Context(), store.OutboxFilter{TenantID: "ten_1", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.OutboxMessage{}
	for _, m := range rows {
		out[m.ID] = m
	}
	return out
}

// G7, issue 10 item 3: told to stop mid-batch, a worker lets the provider
// call in flight finish and records it, and hands the rest of the batch back
// at once, as it was, for any worker to take.
func TestStopFinishesTheCallAndReleasesTheRest(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		st, keys := open(t), testKeys(t)
		ids := enqueue(t, st, keys, 5, time.Now())
		g := newGate()
		w := gateWorker(st, keys, "stopping", g, time.Now)
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		<-g.started
		stop()
		close(g.proceed)
		<-done
		if g.cut {
			t.Fatal("the stop cut the provider call in flight")
		}
		rows := states(t, st)
		delivered := 0
		for _, id := range ids {
			switch m := rows[id]; m.State {
			case store.OutboxDelivered:
				delivered++
			case store.OutboxPending:
				if m.Attempts != 0 || m.ClaimedBy != "" || m.LeaseUntil != nil || m.Payload == nil {
					t.Errorf("released message %+v, want pending as enqueued", m)
				}
			default:
				t.Errorf("message %s is %s after the stop, want delivered or released", id, m.State)
			}
		}
		if delivered != 1 {
			t.Fatalf("%d messages delivered, want the one in flight", delivered)
		}
		next := gateWorker(st, keys, "next", g, time.Now)
		if n, err := next.RunOnce(t.Context()); err != nil || n != 4 {
			t.Fatalf("the next worker claimed %d, %v; want the 4 released", n, err)
		}
		for _, id := range ids {
			if g.sent[id] != 1 {
				t.Errorf("message %s sent %d times", id, g.sent[id])
			}
		}
	})
}

// A call still running when the drain ends is cut, and recorded as a failure
// due again at once: the provider did not refuse it, the server went.
func TestDrainCutsTheCallAndRetriesAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		st, keys := open(t), testKeys(t)
		ids := enqueue(t, st, keys, 2, time.Now())
		g := newGate()
		w := gateWorker(st, keys, "stopping", g, time.Now)
		w.Drain = time.Millisecond
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		<-g.started
		stop()
		<-done
		if !g.cut {
			t.Fatal("the call outlived the drain")
		}
		rows := states(t, st)
		cut, rest := rows[ids[0]], rows[ids[1]]
		if cut.State != store.OutboxRetry {
			cut, rest = rest, cut
		}
		if cut.State != store.OutboxRetry || cut.Attempts != 1 || cut.NextAttemptAt.After(time.Now()) || cut.Payload == nil {
			t.Errorf("message cut by the drain = %s after %d attempts, due %v; want a retry due now", cut.State, cut.Attempts, cut.NextAttemptAt)
		}
		if rest.State != store.OutboxPending || rest.Attempts != 0 {
			t.Errorf("message not attempted = %s after %d attempts, want released", rest.State, rest.Attempts)
		}
		if n, _ := gateWorker(st, keys, "next", g, time.Now).RunOnce(t.Context()); n != 2 {
			t.Fatalf("the next worker claimed %d, want both", n)
		}
	})
}

// renewCounter counts lease renewals of a real store.
type renewCounter struct {
	outbox.Claims
	n atomic.Int32
}

func (r *renewCounter) RenewOutboxLeases(ctx context.Context, worker string, ids []string, until time.Time) ([]string, error) {
	held, err := r.Claims.RenewOutboxLeases(ctx, worker, ids, until)
	r.n.Add(1)
	return held, err
}

// A batch held past its first lease by a slow call is renewed, so no other
// worker takes it; a crashed worker's lease is short.
func TestLeaseRenewedWhileTheCallRuns(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		st, keys := open(t), testKeys(t)
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
		start := clock()
		ids := enqueue(t, st, keys, 2, start)
		g := newGate()
		rc := &renewCounter{Claims: st}
		w := gateWorker(st, keys, "slow", g, clock)
		w.Store = rc
		w.Lease = 900 * time.Millisecond // renewed every 300 ms of real time
		done := make(chan struct{})
		go func() { _, _ = w.RunOnce(t.Context()); close(done) }()
		<-g.started
		// The next renewal, at start+2s on the worker's clock, runs the
		// lease to start+2.9s.
		set(start.Add(2 * time.Second))
		before := rc.n.Load()
		for i := 0; rc.n.Load() < before+2; i++ {
			if i == 200 {
				t.Fatal("no renewal within 10 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		other := gateWorker(st, keys, "other", g, func() time.Time { return start.Add(2500 * time.Millisecond) })
		if n, _ := other.RunOnce(t.Context()); n != 0 {
			t.Fatalf("another worker claimed %d messages of a renewed batch", n)
		}
		close(g.proceed)
		<-done
		for _, id := range ids {
			if g.sent[id] != 1 {
				t.Errorf("message %s sent %d times", id, g.sent[id])
			}
		}
	})
}
