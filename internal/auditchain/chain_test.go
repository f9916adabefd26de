package auditchain

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

const tenant = "ten_chain"

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func testKeys(t testing.TB) *keyring.Keyring {
	t.Helper()
	k := make([]byte, keyring.KeySize)
	mac := make([]byte, keyring.KeySize)
	for i := range k {
		k[i], mac[i] = byte(i), byte(100+i)
	}
	keys, err := keyring.New(map[string][]byte{"k1": k}, "k1", mac)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// dialects runs fn on a fresh SQLite file and a fresh PostgreSQL schema;
// open opens another handle on the same database (a second server).
func dialects(t *testing.T, fn func(t *testing.T, open func() *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db.sqlite")
		fn(t, func() *sqlstore.Store {
			s, err := sqlstore.OpenSQLite(t.Context(), path)
			if err != nil {
				t.Fatalf("OpenSQLite: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		fn(t, func() *sqlstore.Store {
			s, err := sqlstore.OpenPostgres(t.Context(), url)
			if err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	})
}

// appendEvent appends one stamped event in a write transaction, as the
// engine does inside a business transaction.
func appendEvent(t *testing.T, s store.Store, keys *keyring.Keyring, i int) {
	t.Helper()
	if err := tryAppend(t.Context(), s, keys, i); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func tryAppend(ctx context.Context, s store.Store, keys *keyring.Keyring, i int) error {
	e := &store.AuditEvent{TenantID: tenant, UserID: "usr_" + strconv.Itoa(i%3), Actor: "app:app_1", Event: "login.mfa",
		Outcome: "success", IP: "192.0.2.7", Detail: fmt.Sprintf(`{"n":%d}`, i), CreatedAt: t0.Add(time.Duration(i) * time.Second)}
	if err := Stamp(keys, e); err != nil {
		return err
	}
	return s.InTx(ctx, func(q store.Queries) error { return q.AppendAudit(ctx, e) })
}

func seal(t *testing.T, sl *Sealer) int {
	t.Helper()
	n, err := sl.Seal(t.Context())
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return n
}

func verify(t *testing.T, s *sqlstore.Store, keys *keyring.Keyring, now time.Time) *Report {
	t.Helper()
	r, err := Verify(t.Context(), s, keys, tenant, Options{Now: now, PageSize: 4})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

// sql runs a statement written with ? placeholders on either database,
// as someone with access to the database but not the master key would.
func sql(t *testing.T, s *sqlstore.Store, query string, args ...any) {
	t.Helper()
	if s.Dialect() == sqlstore.DialectPostgres {
		n := 0
		var b strings.Builder
		for _, c := range query {
			if c == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(c)
		}
		query = b.String()
	}
	if _, err := s.DB().ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func eventAt(t *testing.T, s *sqlstore.Store, seq int64) store.AuditEvent {
	t.Helper()
	events, err := s.SealedAudit(t.Context(), tenant, seq-1, 1)
	if err != nil || len(events) != 1 || events[0].Seq != seq {
		t.Fatalf("event at seq %d: %+v, %v", seq, events, err)
	}
	return events[0]
}

func TestIntactChain(t *testing.T) {
	dialects(t, func(t *testing.T, open func() *sqlstore.Store) {
		s, keys := open(), testKeys(t)
		sl := &Sealer{Store: s, Keys: keys, Now: func() time.Time { return t0.Add(time.Hour) }, Batch: 4, CheckpointEvery: time.Hour}
		for i := range 10 {
			appendEvent(t, s, keys, i)
		}
		if n := seal(t, sl); n != 10 {
			t.Fatalf("sealed %d, want 10", n)
		}
		if n := seal(t, sl); n != 0 {
			t.Fatalf("sealed %d again, want 0", n)
		}
		appendEvent(t, s, keys, 10)
		r := verify(t, s, keys, t0.Add(time.Minute))
		if !r.OK || r.Events != 10 || r.Unsealed != 1 || r.Checkpoints != 1 || r.Head.Seq != 10 || r.ChainStart.Seq != 1 {
			t.Fatalf("report %+v, problem %+v", r, r.Problem)
		}
		seal(t, sl)
		if r := verify(t, s, keys, t0.Add(time.Hour)); !r.OK || r.Events != 11 || r.Unsealed != 0 {
			t.Fatalf("report %+v, problem %+v", r, r.Problem)
		}
	})
}

// Each tampering is made with SQL alone, as by someone with the database
// but not the master key, and is reported at the place it was made.
func TestTampering(t *testing.T) {
	type fixture struct {
		s    *sqlstore.Store
		keys *keyring.Keyring
		sl   *Sealer
	}
	later := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		// checkpointEvery: 0 signs every sealing (the checkpoints are at
		// seq 3 and 6), an hour only the first (seq 3).
		checkpointEvery time.Duration
		tamper          func(t *testing.T, f fixture) int64 // returns the event id to be named, 0 for none
		kind            string
		seq             int64
	}{
		{"detail altered", 0, func(t *testing.T, f fixture) int64 {
			e := eventAt(t, f.s, 3)
			sql(t, f.s, `UPDATE audit_events SET detail = '{"n":999}' WHERE id = ?`, e.ID)
			return e.ID
		}, Altered, 3},
		{"outcome altered with its content hash recomputed", 0, func(t *testing.T, f fixture) int64 {
			e := eventAt(t, f.s, 2)
			e.Outcome = "failure"
			h := sha256.Sum256(Canonical(&e))
			sql(t, f.s, `UPDATE audit_events SET outcome = 'failure', content_hash = ? WHERE id = ?`, h[:], e.ID)
			return e.ID
		}, Inserted, 2},
		{"middle event deleted", 0, func(t *testing.T, f fixture) int64 {
			e := eventAt(t, f.s, 4)
			sql(t, f.s, `DELETE FROM audit_events WHERE id = ?`, e.ID)
			return eventAt(t, f.s, 5).ID
		}, Deleted, 4},
		{"deleted and the chain recomputed", 0, func(t *testing.T, f fixture) int64 {
			// Without the key, the attacker renumbers and rehashes the
			// rest: only the checkpoint at seq 3 still knows.
			sql(t, f.s, `DELETE FROM audit_events WHERE id = ?`, eventAt(t, f.s, 2).ID)
			prev := eventAt(t, f.s, 1).Hash
			var id3 int64
			for seq := int64(3); seq <= 6; seq++ {
				e := eventAt(t, f.s, seq)
				h := chainHash(prev, e.ContentHash, seq-1)
				sql(t, f.s, `UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ? WHERE id = ?`, seq-1, prev, h, e.ID)
				prev = h
				if seq == 4 {
					id3 = e.ID
				}
			}
			sql(t, f.s, `UPDATE audit_heads SET seq = 5, hash = ? WHERE tenant_id = ?`, prev, tenant)
			return id3
		}, Deleted, 3},
		{"forged event not sealed", 0, func(t *testing.T, f fixture) int64 {
			sql(t, f.s, `INSERT INTO audit_events (tenant_id, event, outcome, created_at, mac, key_id) VALUES (?, 'user.unlock', 'success', ?, ?, ?)`,
				tenant, t0.UnixMicro(), make([]byte, 32), MACKeyID(f.keys))
			return lastID(t, f.s)
		}, Inserted, 0},
		{"forged event sealed at the end with the head moved", 0, func(t *testing.T, f fixture) int64 {
			head := eventAt(t, f.s, 6)
			e := store.AuditEvent{TenantID: tenant, Event: "user.unlock", Outcome: "success", Detail: "{}", CreatedAt: t0.Add(time.Minute), KeyID: MACKeyID(f.keys)}
			ch := sha256.Sum256(Canonical(&e))
			h := chainHash(head.Hash, ch[:], 7)
			sql(t, f.s, `INSERT INTO audit_events (tenant_id, event, outcome, detail, created_at, content_hash, mac, key_id, seq, prev_hash, hash)
				VALUES (?, 'user.unlock', 'success', '{}', ?, ?, ?, ?, 7, ?, ?)`, tenant, e.CreatedAt.UnixMicro(), ch[:], make([]byte, 32), e.KeyID, head.Hash, h)
			sql(t, f.s, `UPDATE audit_heads SET seq = 7, hash = ? WHERE tenant_id = ?`, h, tenant)
			return lastID(t, f.s)
		}, Inserted, 7},
		{"forged event sealed past the head", 0, func(t *testing.T, f fixture) int64 {
			head := eventAt(t, f.s, 6)
			sql(t, f.s, `INSERT INTO audit_events (tenant_id, event, outcome, created_at, seq, prev_hash, hash) VALUES (?, 'user.unlock', 'success', ?, 7, ?, ?)`,
				tenant, t0.UnixMicro(), head.Hash, make([]byte, 32))
			return lastID(t, f.s)
		}, Inserted, 7},
		{"authentic event copied and sealed", 0, func(t *testing.T, f fixture) int64 {
			sql(t, f.s, `INSERT INTO audit_events (tenant_id, user_id, application_id, actor, event, outcome, ip, detail, created_at, nonce, content_hash, mac, key_id)
				SELECT tenant_id, user_id, application_id, actor, event, outcome, ip, detail, created_at, nonce, content_hash, mac, key_id FROM audit_events WHERE id = ?`, eventAt(t, f.s, 2).ID)
			seal(t, f.sl)
			return lastID(t, f.s)
		}, Inserted, 7},
		{"events reordered", 0, func(t *testing.T, f fixture) int64 {
			a, b := eventAt(t, f.s, 3), eventAt(t, f.s, 4)
			sql(t, f.s, `UPDATE audit_events SET seq = -1 WHERE id = ?`, a.ID)
			sql(t, f.s, `UPDATE audit_events SET seq = 3 WHERE id = ?`, b.ID)
			sql(t, f.s, `UPDATE audit_events SET seq = 4 WHERE id = ?`, a.ID)
			return b.ID
		}, Reordered, 3},
		{"tail deleted and the head rewound", 0, func(t *testing.T, f fixture) int64 {
			keep := eventAt(t, f.s, 4)
			sql(t, f.s, `DELETE FROM audit_events WHERE tenant_id = ? AND seq > 4`, tenant)
			sql(t, f.s, `UPDATE audit_heads SET seq = 4, hash = ? WHERE tenant_id = ?`, keep.Hash, tenant)
			return keep.ID
		}, Truncated, 5},
		{"tail deleted past the last checkpoint", time.Hour, func(t *testing.T, f fixture) int64 {
			keep := eventAt(t, f.s, 4)
			sql(t, f.s, `DELETE FROM audit_events WHERE tenant_id = ? AND seq > 4`, tenant)
			return keep.ID
		}, Truncated, 5},
		{"head deleted", 0, func(t *testing.T, f fixture) int64 {
			sql(t, f.s, `DELETE FROM audit_heads WHERE tenant_id = ?`, tenant)
			appendEvent(t, f.s, f.keys, 60)
			if n, err := f.sl.Seal(t.Context()); err == nil || n != 0 {
				t.Errorf("sealing without the head: %d, %v; want an error, not a new chain", n, err)
			}
			return eventAt(t, f.s, 6).ID
		}, Truncated, 6},
		{"checkpoint altered", 0, func(t *testing.T, f fixture) int64 {
			sql(t, f.s, `UPDATE audit_checkpoints SET created_at = created_at + 1 WHERE tenant_id = ? AND seq = 3`, tenant)
			return 0
		}, BadCheckpoint, 3},
		{"event left unsealed", 0, func(t *testing.T, f fixture) int64 {
			appendEvent(t, f.s, f.keys, 50)
			return lastID(t, f.s)
		}, Unsealed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dialects(t, func(t *testing.T, open func() *sqlstore.Store) {
				f := fixture{s: open(), keys: testKeys(t)}
				now := t0.Add(time.Hour)
				f.sl = &Sealer{Store: f.s, Keys: f.keys, Now: func() time.Time { return now }, CheckpointEvery: tc.checkpointEvery}
				for i := range 3 {
					appendEvent(t, f.s, f.keys, i)
				}
				seal(t, f.sl)
				now = now.Add(time.Minute)
				for i := 3; i < 6; i++ {
					appendEvent(t, f.s, f.keys, i)
				}
				seal(t, f.sl)
				if r := verify(t, f.s, f.keys, later); !r.OK {
					t.Fatalf("before tampering: %+v", r.Problem)
				}
				id := tc.tamper(t, f)
				r := verify(t, f.s, f.keys, later.Add(time.Hour))
				if r.OK || r.Problem == nil {
					t.Fatalf("tampering not detected: %+v", r)
				}
				p := r.Problem
				if p.Kind != tc.kind || p.Seq != tc.seq || (id != 0 && p.EventID != id) {
					t.Fatalf("problem %s at seq %d event %d (%s), want %s at seq %d event %d", p.Kind, p.Seq, p.EventID, p.Message, tc.kind, tc.seq, id)
				}
				if p.Message == "" || !strings.Contains(r.Summary, p.Message) {
					t.Errorf("summary %q does not tell the problem", r.Summary)
				}
			})
		})
	}
}

func lastID(t *testing.T, s *sqlstore.Store) int64 {
	t.Helper()
	var id int64
	if err := s.DB().QueryRowContext(t.Context(), `SELECT MAX(id) FROM audit_events`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// Two servers append in parallel, through real transactions, while both
// seal: one chain, every event sealed exactly once.
func TestConcurrentSealers(t *testing.T) {
	dialects(t, func(t *testing.T, open func() *sqlstore.Store) {
		servers := []*sqlstore.Store{open(), open()}
		keys := testKeys(t)
		const writers, each = 8, 50
		sealers := make([]*Sealer, len(servers))
		for i, s := range servers {
			sealers[i] = &Sealer{Store: s, Keys: keys, Batch: 16}
		}
		ctx, cancel := context.WithCancel(t.Context())
		var sealing sync.WaitGroup
		sealErrs := make([]error, len(sealers))
		for i, sl := range sealers {
			sealing.Go(func() {
				for ctx.Err() == nil {
					if _, err := sl.Seal(ctx); err != nil && ctx.Err() == nil {
						sealErrs[i] = err
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
			})
		}
		// Verification while servers seal sees a consistent chain: it
		// stops at the head it read, and what was sealed since is no
		// problem.
		var verifyProblem *Problem
		sealing.Go(func() {
			for ctx.Err() == nil {
				r, err := Verify(ctx, servers[0], keys, tenant, Options{Now: t0, PageSize: 50})
				if err != nil && ctx.Err() == nil {
					t.Errorf("Verify while sealing: %v", err)
					return
				}
				if err == nil && r.Problem != nil {
					verifyProblem = r.Problem
					return
				}
			}
		})
		var writing sync.WaitGroup
		for w := range writers {
			writing.Go(func() {
				for i := range each {
					if err := tryAppend(t.Context(), servers[w%2], keys, w*each+i); err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
				}
			})
		}
		writing.Wait()
		cancel()
		sealing.Wait()
		for i, err := range sealErrs {
			if err != nil {
				t.Fatalf("sealer %d: %v", i, err)
			}
		}
		if verifyProblem != nil {
			t.Errorf("Verify while sealing found %s at seq %d: %s", verifyProblem.Kind, verifyProblem.Seq, verifyProblem.Message)
		}
		seal(t, sealers[1])
		r := verify(t, servers[0], keys, time.Now())
		if !r.OK || r.Events != writers*each || r.Unsealed != 0 || r.Head.Seq != writers*each {
			t.Fatalf("report %+v, problem %+v", r, r.Problem)
		}
		var rows, distinct, lo, hi int64
		if err := servers[0].DB().QueryRowContext(t.Context(),
			`SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM audit_events WHERE tenant_id = 'ten_chain'`).Scan(&rows, &distinct, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		if rows != writers*each || distinct != rows || lo != 1 || hi != rows {
			t.Fatalf("%d events, %d distinct seqs from %d to %d; want %d sealed once each, 1 to %d", rows, distinct, lo, hi, writers*each, writers*each)
		}
	})
}
