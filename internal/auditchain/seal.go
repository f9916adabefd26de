package auditchain

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
)

// DefaultCheckpointEvery is how often a server signs a tenant's chain head
// while events keep coming.
const DefaultCheckpointEvery = time.Minute

// DefaultBatch bounds the events one sealing transaction chains: on SQLite
// it holds the only writer meanwhile.
const DefaultBatch = 500

// SealerStore is what sealing needs: the tenants with work, and write
// transactions, in which the chain's statements run.
type SealerStore interface {
	UnsealedAuditTenants(ctx context.Context, limit int) ([]string, error)
	InTx(ctx context.Context, fn func(q store.Queries) error) error
}

// Sealer chains appended events. Every server runs one; the tenant's head
// lock makes them take turns, so together they extend one chain.
type Sealer struct {
	Store SealerStore
	Keys  *keyring.Keyring
	Now   func() time.Time
	Log   *slog.Logger
	// CheckpointEvery is the least time between two checkpoints of a
	// tenant; 0 signs the head after every sealing that moved it.
	CheckpointEvery time.Duration
	// Batch bounds one transaction; 0 means DefaultBatch.
	Batch int

	mu       sync.Mutex
	reported map[int64]bool
}

func (s *Sealer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sealer) batch() int {
	if s.Batch > 0 {
		return s.Batch
	}
	return DefaultBatch
}

// Seal chains every tenant's unsealed events and returns how many it
// sealed. Events whose MAC is wrong are left out and logged: Verify
// reports them.
func (s *Sealer) Seal(ctx context.Context) (int, error) {
	tenants, err := s.Store.UnsealedAuditTenants(ctx, 1000)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, tenantID := range tenants {
		n, err := s.SealTenant(ctx, tenantID)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// SealTenant chains one tenant's unsealed events, a batch per transaction.
func (s *Sealer) SealTenant(ctx context.Context, tenantID string) (int, error) {
	total := 0
	var after int64
	for {
		var sealed, seen int
		var last int64
		err := s.Store.InTx(ctx, func(q store.Queries) error {
			var err error
			sealed, seen, last, err = s.sealBatch(ctx, q, tenantID, after)
			return err
		})
		if err != nil {
			return total, err
		}
		total += sealed
		after = last
		if seen < s.batch() {
			return total, nil
		}
	}
}

// sealBatch runs in a transaction holding the tenant's head: another
// sealer waits for it, then finds these events sealed.
func (s *Sealer) sealBatch(ctx context.Context, q store.Queries, tenantID string, after int64) (sealed, seen int, last int64, err error) {
	head, err := q.LockAuditHead(ctx, tenantID)
	if err != nil {
		return 0, 0, after, err
	}
	events, err := q.UnsealedAudit(ctx, tenantID, after, s.batch())
	if err != nil {
		return 0, 0, after, err
	}
	last = after
	genesis := false
	for i := range events {
		e := &events[i]
		last = e.ID
		if e.MAC == nil && e.ID <= head.LegacyUntil {
			stampGenesis(s.Keys, e)
			genesis = true
		} else if err := checkEvent(s.Keys, e); err != nil {
			s.refuse(e, err)
			continue
		}
		prev := head.Hash
		if head.Seq == 0 {
			prev = zeroHash
		}
		e.Seq, e.PrevHash = head.Seq+1, prev
		e.Hash = chainHash(prev, e.ContentHash, e.Seq)
		if err := q.SealAuditEvent(ctx, e); err != nil {
			return 0, 0, after, err
		}
		head.Seq, head.Hash = e.Seq, e.Hash
		sealed++
	}
	legacyDone := head.LegacyUntil > 0 && (len(events) < s.batch() || last >= head.LegacyUntil)
	if sealed == 0 && !legacyDone {
		return 0, len(events), last, nil
	}
	if legacyDone {
		head.LegacyUntil = 0
	}
	now := s.now()
	head.UpdatedAt = now
	if err := q.SetAuditHead(ctx, head); err != nil {
		return 0, 0, after, err
	}
	if sealed > 0 {
		due := genesis || s.CheckpointEvery <= 0
		if !due {
			cp, err := q.LastAuditCheckpoint(ctx, tenantID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				due = true
			case err != nil:
				return 0, 0, after, err
			default:
				due = now.Sub(cp.CreatedAt) >= s.CheckpointEvery
			}
		}
		if due {
			if err := q.AppendAuditCheckpoint(ctx, signCheckpoint(s.Keys, tenantID, head.Seq, head.Hash, now)); err != nil {
				return 0, 0, after, err
			}
		}
	}
	return sealed, len(events), last, nil
}

// refuse logs an event the sealer leaves out, once per event and process
// rather than at every run.
func (s *Sealer) refuse(e *store.AuditEvent, why error) {
	s.mu.Lock()
	if s.reported == nil || len(s.reported) > 10000 {
		s.reported = map[int64]bool{}
	}
	seen := s.reported[e.ID]
	s.reported[e.ID] = true
	s.mu.Unlock()
	if !seen && s.Log != nil {
		s.Log.Error("audit event not sealed: it was not written by a server holding the master key", "tenant", e.TenantID, "event_id", e.ID, "reason", why.Error())
	}
}
