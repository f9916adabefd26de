package auditchain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
)

// Kinds of problem Verify reports.
const (
	// Altered: an event's content, or its chain hash, changed after it was
	// written.
	Altered = "altered"
	// Inserted: an event no server holding the master key wrote (a forged
	// or copied row).
	Inserted = "inserted"
	// Deleted: events missing from the middle of the chain.
	Deleted = "deleted"
	// Truncated: events missing from the end of the chain, behind a
	// checkpoint or the head.
	Truncated = "truncated"
	// Reordered: the chain's numbering is whole but an event no longer
	// follows the one it was chained to.
	Reordered = "reordered"
	// BadCheckpoint: a checkpoint whose signature is not the tenant's key's.
	BadCheckpoint = "bad_checkpoint"
	// Unsealed: an event a server wrote (its MAC is valid) that has waited
	// longer than the grace period for the sealer: no sealer is running.
	Unsealed = "unsealed"
)

// DefaultGrace is how long an event may wait for the sealer before Verify
// reports it.
const DefaultGrace = 5 * time.Minute

// Source is what verification reads.
type Source interface {
	AuditHeadOf(ctx context.Context, tenantID string) (*store.AuditHead, error)
	SealedAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]store.AuditEvent, error)
	AuditCheckpoints(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]store.AuditCheckpoint, error)
	UnsealedAudit(ctx context.Context, tenantID string, afterID int64, limit int) ([]store.AuditEvent, error)
	DuplicateAuditMAC(ctx context.Context, tenantID string) ([]store.AuditEvent, error)
}

// Options tune Verify; zero values take the defaults.
type Options struct {
	Now      time.Time     // the time unsealed events are judged at
	Grace    time.Duration // DefaultGrace
	PageSize int           // events or checkpoints read at once; 1000
}

// Problem is the first thing wrong with a chain.
type Problem struct {
	Kind      string     `json:"kind"`
	Seq       int64      `json:"seq,omitempty"`
	EventID   int64      `json:"event_id,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	Message   string     `json:"message"`
}

// Point is a place in a chain.
type Point struct {
	Seq     int64     `json:"seq"`
	EventID int64     `json:"event_id,omitempty"`
	Hash    string    `json:"hash,omitempty"`
	At      time.Time `json:"at"`
}

// Report is what Verify found. Totals count what was checked before the
// first problem.
type Report struct {
	TenantID string   `json:"tenant_id"`
	OK       bool     `json:"ok"`
	Problem  *Problem `json:"problem,omitempty"`
	// Events sealed and checked; Genesis of them existed before the chain
	// was introduced and are protected only from GenesisSealedAt on.
	Events          int64      `json:"events"`
	Genesis         int64      `json:"genesis_events"`
	GenesisSealedAt *time.Time `json:"genesis_sealed_at,omitempty"`
	// Unsealed events wait for the sealer, within the grace period.
	Unsealed       int64  `json:"unsealed"`
	Checkpoints    int64  `json:"checkpoints"`
	ChainStart     *Point `json:"chain_start,omitempty"`
	Head           *Point `json:"head,omitempty"`
	LastCheckpoint *Point `json:"last_checkpoint,omitempty"`
	// MACKeyID names the key events are MACed with; PublicKey (base64)
	// verifies the checkpoints, CheckpointKeyID names it.
	MACKeyID        string `json:"mac_key_id"`
	PublicKey       string `json:"public_key"`
	CheckpointKeyID string `json:"checkpoint_key_id"`
	Summary         string `json:"summary"`
}

// Verify checks a tenant's audit chain against keys, reading it in pages
// (bounded memory for any length), and reports the first problem:
// each sealed event's content hash, MAC, seq and link, in seq order; each
// checkpoint's signature and that the chain passes through it; the head
// against the chain's end; copied events; events left unsealed.
func Verify(ctx context.Context, src Source, keys *keyring.Keyring, tenantID string, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	pub := PublicKey(keys, tenantID)
	v := &verifier{src: src, keys: keys, tenantID: tenantID, o: o, pub: pub, r: &Report{
		TenantID:        tenantID,
		MACKeyID:        MACKeyID(keys),
		PublicKey:       base64.StdEncoding.EncodeToString(pub),
		CheckpointKeyID: CheckpointKeyID(pub),
	}}
	err := v.run(ctx)
	if err != nil {
		return nil, err
	}
	v.r.OK = v.r.Problem == nil
	v.r.Summary = v.summary()
	return v.r, nil
}

type verifier struct {
	src      Source
	keys     *keyring.Keyring
	tenantID string
	o        Options
	pub      ed25519.PublicKey
	r        *Report

	cps    []store.AuditCheckpoint // the current page of checkpoints
	cpDone bool
	cpLast int64 // seq of the last checkpoint read
}

// errFound ends the walk at the first problem.
var errFound = errors.New("problem found")

func (v *verifier) problem(kind string, e *store.AuditEvent, seq int64, format string, args ...any) error {
	p := &Problem{Kind: kind, Seq: seq, Message: fmt.Sprintf(format, args...)}
	if e != nil {
		at := e.CreatedAt
		p.EventID, p.CreatedAt = e.ID, &at
	}
	v.r.Problem = p
	return errFound
}

func (v *verifier) run(ctx context.Context) error {
	head, err := v.src.AuditHeadOf(ctx, v.tenantID)
	if errors.Is(err, store.ErrNotFound) {
		head = nil
	} else if err != nil {
		return err
	}
	if head != nil {
		v.r.Head = &Point{Seq: head.Seq, Hash: hex.EncodeToString(head.Hash), At: head.UpdatedAt}
	}
	for _, step := range []func(context.Context, *store.AuditHead) error{v.chain, v.duplicates, v.unsealed} {
		if err := step(ctx, head); errors.Is(err, errFound) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

// nextCheckpoint returns the next checkpoint in seq order, nil after the last.
func (v *verifier) nextCheckpoint(ctx context.Context) (*store.AuditCheckpoint, error) {
	if len(v.cps) == 0 && !v.cpDone {
		page, err := v.src.AuditCheckpoints(ctx, v.tenantID, v.cpLast, v.o.PageSize)
		if err != nil {
			return nil, err
		}
		v.cps, v.cpDone = page, len(page) < v.o.PageSize
	}
	if len(v.cps) == 0 {
		return nil, nil
	}
	return &v.cps[0], nil
}

func (v *verifier) takeCheckpoint(cp *store.AuditCheckpoint) error {
	v.cpLast = cp.Seq
	v.cps = v.cps[1:]
	if !checkCheckpoint(v.pub, cp) || cp.TenantID != v.tenantID {
		return v.problem(BadCheckpoint, nil, cp.Seq,
			"The checkpoint of seq %d dated %s is not signed by this tenant's checkpoint key %s: it was altered or forged.",
			cp.Seq, cp.CreatedAt.UTC().Format(time.RFC3339), CheckpointKeyID(v.pub))
	}
	v.r.Checkpoints++
	v.r.LastCheckpoint = &Point{Seq: cp.Seq, Hash: hex.EncodeToString(cp.Hash), At: cp.CreatedAt}
	return nil
}

// walk is the place a chain walk has reached.
type walk struct {
	prev        []byte
	expected    int64 // the seq the next event must have
	last        *store.AuditEvent
	lastGenesis int64
	inGenesis   bool
}

// chain walks the sealed events in seq order with the checkpoints beside
// them, up to the head read first (servers may go on sealing meanwhile),
// then checks the end of the chain against what vouches for it.
func (v *verifier) chain(ctx context.Context, head *store.AuditHead) error {
	var limit int64
	if head != nil {
		limit = head.Seq
	}
	w := &walk{prev: zeroHash, expected: 1, inGenesis: true}
	beyond, err := v.walk(ctx, w, limit)
	if err != nil {
		return err
	}
	cp, err := v.nextCheckpoint(ctx)
	if err != nil {
		return err
	}
	// What lies past the head as first read is either newer (the head
	// has moved on since: a checkpoint is written with the head it states,
	// and a head never moves back) or vouched for by nothing.
	if cp != nil || beyond != nil {
		now, err := v.src.AuditHeadOf(ctx, v.tenantID)
		if errors.Is(err, store.ErrNotFound) {
			now = nil
		} else if err != nil {
			return err
		}
		if now == nil && beyond != nil {
			if _, err := v.walk(ctx, w, math.MaxInt64); err != nil {
				return err
			}
			if cp, err = v.nextCheckpoint(ctx); err != nil {
				return err
			}
			if cp == nil {
				end := w.expected - 1
				return v.problem(Truncated, w.last, end,
					"The tenant's chain head is missing while %d events are chained: it was deleted, and events after seq %d may have been too.", end, end)
			}
		}
		if cp != nil && (cp.Seq <= limit || now == nil || cp.Seq > now.Seq) {
			if err := v.takeCheckpoint(cp); err != nil {
				return err
			}
			end := w.expected - 1
			return v.problem(Truncated, w.last, end+1,
				"The chain ends at seq %d, but the checkpoint of %s vouches for %d events: the events after seq %d were deleted.",
				end, cp.CreatedAt.UTC().Format(time.RFC3339), cp.Seq, end)
		}
		if beyond != nil && beyond.Seq > now.Seq {
			return v.problem(Inserted, beyond, beyond.Seq,
				"The chain goes on past its head (seq %d) to event %d at seq %d: events after the head were inserted.", now.Seq, beyond.ID, beyond.Seq)
		}
	}
	end := w.expected - 1
	switch {
	case head == nil:
		return nil
	case head.Seq > end:
		return v.problem(Truncated, w.last, end+1,
			"The chain ends at seq %d, but its head says %d events were chained: the events after seq %d were deleted.", end, head.Seq, end)
	case end > 0 && !bytes.Equal(head.Hash, w.last.Hash):
		return v.problem(Altered, w.last, end,
			"The chain head's hash is not the hash of the last event (seq %d): the head or the chain was altered.", end)
	}
	return nil
}

// walk checks the events from w on up to seq limit, and the checkpoints
// among them, and returns the first event past limit, if any.
func (v *verifier) walk(ctx context.Context, w *walk, limit int64) (*store.AuditEvent, error) {
	for {
		page, err := v.src.SealedAudit(ctx, v.tenantID, w.expected-1, v.o.PageSize)
		if err != nil {
			return nil, err
		}
		for i := range page {
			e := &page[i]
			if e.Seq > limit {
				return e, nil
			}
			if err := v.event(e, w.expected, w.prev, &w.inGenesis); err != nil {
				return nil, err
			}
			if e.Genesis {
				v.r.Genesis++
				w.lastGenesis = e.Seq
			}
			if v.r.ChainStart == nil {
				v.r.ChainStart = &Point{Seq: e.Seq, EventID: e.ID, Hash: hex.EncodeToString(e.Hash), At: e.CreatedAt}
			}
			if err := v.checkpointsAt(ctx, e, w); err != nil {
				return nil, err
			}
			w.prev, w.expected, w.last = e.Hash, w.expected+1, e
			v.r.Events++
		}
		if len(page) < v.o.PageSize {
			return nil, nil
		}
	}
}

// checkpointsAt checks the checkpoints up to e's seq: the chain must pass
// through each.
func (v *verifier) checkpointsAt(ctx context.Context, e *store.AuditEvent, w *walk) error {
	for {
		cp, err := v.nextCheckpoint(ctx)
		if err != nil {
			return err
		}
		if cp == nil || cp.Seq > e.Seq {
			return nil
		}
		if err := v.takeCheckpoint(cp); err != nil {
			return err
		}
		if cp.Seq < e.Seq || !bytes.Equal(cp.Hash, e.Hash) {
			return v.problem(Deleted, e, cp.Seq,
				"The chain at seq %d is not the one checkpointed at %s: events at or before it were deleted, replaced or reordered and the chain recomputed.",
				cp.Seq, cp.CreatedAt.UTC().Format(time.RFC3339))
		}
		if w.lastGenesis > 0 && v.r.GenesisSealedAt == nil && cp.Seq >= w.lastGenesis {
			at := cp.CreatedAt
			v.r.GenesisSealedAt = &at
		}
	}
}

// event checks one sealed event at the place the walk expects it.
func (v *verifier) event(e *store.AuditEvent, expected int64, prev []byte, inGenesis *bool) error {
	if e.Seq > expected {
		if expected == e.Seq-1 {
			return v.problem(Deleted, e, expected,
				"The event at seq %d is missing: the chain goes from seq %d on to event %d at seq %d, so an event was deleted.",
				expected, expected-1, e.ID, e.Seq)
		}
		return v.problem(Deleted, e, expected,
			"Events at seq %d to %d are missing: the chain goes from seq %d on to event %d at seq %d, so they were deleted.",
			expected, e.Seq-1, expected-1, e.ID, e.Seq)
	}
	if e.Seq < expected {
		return v.problem(Inserted, e, e.Seq, "Event %d repeats seq %d: it was inserted into the chain.", e.ID, e.Seq)
	}
	switch err := checkEvent(v.keys, e); {
	case errors.Is(err, errContent):
		return v.problem(Altered, e, e.Seq,
			"Event %d at seq %d was altered: its content no longer matches the hash sealed with it.", e.ID, e.Seq)
	case errors.Is(err, errKeyID):
		return v.problem(Inserted, e, e.Seq,
			"Event %d at seq %d carries MAC key id %q, not this key ring's %q: verify with the server's keys; if they are, the event was inserted by someone without them.",
			e.ID, e.Seq, e.KeyID, MACKeyID(v.keys))
	case err != nil:
		return v.problem(Inserted, e, e.Seq,
			"Event %d at seq %d has a MAC the master key does not make for it: it was inserted without the key, or altered with its hashes recomputed.", e.ID, e.Seq)
	}
	if e.Genesis && !*inGenesis {
		return v.problem(Inserted, e, e.Seq,
			"Event %d at seq %d claims to predate the chain but follows events chained after the upgrade: it was inserted.", e.ID, e.Seq)
	}
	if !e.Genesis {
		*inGenesis = false
	}
	if !bytes.Equal(e.PrevHash, prev) {
		return v.problem(Reordered, e, e.Seq,
			"Event %d at seq %d was not chained after the event now at seq %d: events were reordered or renumbered.", e.ID, e.Seq, e.Seq-1)
	}
	if !bytes.Equal(e.Hash, chainHash(prev, e.ContentHash, e.Seq)) {
		return v.problem(Altered, e, e.Seq, "The chain hash of event %d at seq %d was altered.", e.ID, e.Seq)
	}
	return nil
}

// duplicates finds an event copied, MAC and all, into a new row.
func (v *verifier) duplicates(ctx context.Context, _ *store.AuditHead) error {
	dup, err := v.src.DuplicateAuditMAC(ctx, v.tenantID)
	if err != nil || len(dup) < 2 {
		return err
	}
	e := &dup[1]
	return v.problem(Inserted, e, e.Seq, "Event %d is a copy of event %d (the same MAC, which a server never repeats): it was inserted.", e.ID, dup[0].ID)
}

// unsealed checks the events waiting for the sealer.
func (v *verifier) unsealed(ctx context.Context, head *store.AuditHead) error {
	var after int64
	for {
		page, err := v.src.UnsealedAudit(ctx, v.tenantID, after, v.o.PageSize)
		if err != nil {
			return err
		}
		for i := range page {
			e := &page[i]
			after = e.ID
			waited := v.o.Now.Sub(e.CreatedAt)
			if e.MAC == nil && head != nil && e.ID <= head.LegacyUntil {
				// Before the upgrade nothing stamped events; the first
				// sealer run chains them.
				if since := v.o.Now.Sub(head.UpdatedAt); since > v.o.Grace {
					return v.problem(Unsealed, e, 0,
						"Event %d predates the audit chain and no sealer has chained it in the %s since the upgrade: start a server, whose sealer chains it.", e.ID, since.Round(time.Second))
				}
				v.r.Unsealed++
				continue
			}
			if err := checkEvent(v.keys, e); err != nil {
				return v.problem(Inserted, e, 0,
					"Event %d (not chained) was not written by a server holding the master key (%v): it was inserted, and the sealer refuses to chain it.", e.ID, err)
			}
			if waited > v.o.Grace {
				return v.problem(Unsealed, e, 0,
					"Event %d was written by a server (its MAC is valid) but has waited %s to be chained: most likely no server's sealer is running, or it fails (see the server's log).", e.ID, waited.Round(time.Second))
			}
			v.r.Unsealed++
		}
		if len(page) < v.o.PageSize {
			return nil
		}
	}
}

func (v *verifier) summary() string {
	r := v.r
	if r.Problem != nil {
		return fmt.Sprintf("Audit chain of tenant %s: %s. %s", r.TenantID, r.Problem.Kind, r.Problem.Message)
	}
	if r.Events == 0 {
		return fmt.Sprintf("Audit chain of tenant %s: no event chained yet; %d waiting for the sealer.", r.TenantID, r.Unsealed)
	}
	s := fmt.Sprintf("Audit chain of tenant %s is intact: %d events (seq 1 to %d), %d signed checkpoints, %d waiting for the sealer.",
		r.TenantID, r.Events, r.Events, r.Checkpoints, r.Unsealed)
	if r.Genesis > 0 {
		s += fmt.Sprintf(" The chain starts at event %d: its first %d events existed before the upgrade", r.ChainStart.EventID, r.Genesis)
		if r.GenesisSealedAt != nil {
			s += fmt.Sprintf(" and were sealed at %s; they are protected only from then on.", r.GenesisSealedAt.UTC().Format(time.RFC3339))
		} else {
			s += " and are protected only from when they were sealed."
		}
	}
	if r.LastCheckpoint != nil && r.LastCheckpoint.Seq < r.Events {
		s += fmt.Sprintf(" The last checkpoint covers seq %d; events after it are vouched for by the head only.", r.LastCheckpoint.Seq)
	}
	return s
}
