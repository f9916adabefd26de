package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters and output sizes.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32
	KeyLen      uint32
}

// DefaultParams is the OWASP minimum recommendation for argon2id.
var DefaultParams = Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

var (
	// ErrBusy means every hashing slot stayed taken for the whole wait;
	// callers answer 503 with Retry-After rather than queueing without bound.
	ErrBusy = errors.New("password: hashing capacity exhausted, try again shortly")
	// ErrMalformedHash means a stored hash could not be parsed or carries
	// parameters no legitimate configuration would produce.
	ErrMalformedHash = errors.New("password: malformed hash")
)

// Limits on parameters read back from storage. A stored hash is data, and a
// tampered row must not make Verify allocate terabytes or spin for minutes.
const (
	maxMemoryKiB  = 4 * 1024 * 1024 // 4 GiB
	maxIterations = 100
	minSaltLen    = 8 // the argon2 specification's minimum
	maxSaltLen    = 1024
	minKeyLen     = 4 // the argon2 specification's minimum tag length
	maxKeyLen     = 1024
)

// dummySalt is fixed because VerifyDummy only has to cost the same as a
// real Verify; its result is never compared with anything meaningful.
var dummySalt = []byte("countersign-dummy-salt-v1")

// Hasher hashes and verifies passwords, bounding how many argon2id
// computations run at once and how many callers wait for one.
type Hasher struct {
	params  Params
	slots   chan struct{}
	waiters chan struct{} // one per caller waiting for a slot
	wait    time.Duration
	worker  *supervisor // nil: hashes are computed in this process
}

// Options size a Hasher's pool and say where it computes.
type Options struct {
	// Workers is the most hashes computed at once (runtime.NumCPU() when
	// <= 0), so memory use stays below Workers × Params.Memory.
	Workers int
	// QueueWait is the longest a caller waits for a slot before ErrBusy.
	QueueWait time.Duration
	// Queue is the most callers waiting for a slot at once (QueuePerSlot
	// × Workers when <= 0); one more gets ErrBusy at once, so a flood
	// holds a bounded number of requests, not thousands.
	Queue int
	// Process, when set, computes in a worker process at a lower CPU
	// priority instead of in this one; Close ends it.
	Process *ProcessOptions
}

// QueuePerSlot is how many callers may wait for each slot by default. At
// DefaultParams a slot computes that many hashes in under a second, well
// within a usual wait, so a caller let in is almost always served; a
// caller beyond them would most likely wait in vain.
const QueuePerSlot = 32

// New returns a Hasher for o, with its worker process started when
// o.Process is set.
func New(p Params, o Options) (*Hasher, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Queue <= 0 {
		o.Queue = QueuePerSlot * o.Workers
	}
	inFlight := o.Workers
	if o.Process != nil {
		// The worker computes at most Workers hashes at once; one more
		// waiting there per slot starts the moment a hash ends, rather than
		// after the answer and the next request have crossed the pipe.
		inFlight = 2 * o.Workers
	}
	h := &Hasher{params: p, slots: make(chan struct{}, inFlight), waiters: make(chan struct{}, o.Queue), wait: o.QueueWait}
	if o.Process != nil {
		w, err := startSupervisor(*o.Process, o.Workers, p)
		if err != nil {
			return nil, err
		}
		h.worker = w
	}
	return h, nil
}

// NewHasher returns a Hasher that computes in this process, runs at most
// workers hashes at once (runtime.NumCPU() when workers <= 0) and lets
// callers wait at most wait for a slot; see Options.
func NewHasher(p Params, workers int, wait time.Duration) *Hasher {
	h, _ := New(p, Options{Workers: workers, QueueWait: wait})
	return h
}

// Close ends the worker process, if any, once it has finished the hashes
// under way; a Hasher computing in this process has nothing to close.
func (h *Hasher) Close() error {
	if h.worker == nil {
		return nil
	}
	return h.worker.close()
}

// WorkerPID is the process ID of the running worker process, 0 when there
// is none.
func (h *Hasher) WorkerPID() int {
	if h.worker == nil {
		return 0
	}
	return h.worker.pid()
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// InFlight reports how many hashes hold a slot now: running, or, with a
// worker process, waiting there to start.
func (h *Hasher) InFlight() int { return len(h.slots) }

// Hash returns the PHC encoding of a fresh salted argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: reading salt: %w", err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	key, err := h.derive(password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches encoded. needsRehash is true when
// encoded was made with parameters other than h.Params(), so the caller can
// store a fresh hash while it still has the plaintext.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	got, err := h.derive(password, salt, p)
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, ok && p != h.params, nil
}

// VerifyDummy costs as much as Verify against a hash made with h.Params(),
// so that a login for an unknown login ID takes as long as one for a known
// ID and timing does not reveal which accounts exist.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	release, err := h.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	got, err := h.derive(password, dummySalt, h.params)
	if err != nil {
		return err
	}
	// Compare like Verify does so the two paths do the same work.
	subtle.ConstantTimeCompare(got, make([]byte, len(got)))
	return nil
}

func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-h.slots }
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case h.slots <- struct{}{}:
		return release, nil
	default:
	}
	if h.wait <= 0 {
		return nil, ErrBusy
	}
	select {
	case h.waiters <- struct{}{}:
		defer func() { <-h.waiters }()
	default:
		return nil, ErrBusy
	}
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return release, nil
	case <-timer.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// derive computes the key where this Hasher computes: in the worker
// process, or here.
func (h *Hasher) derive(password string, salt []byte, p Params) ([]byte, error) {
	if h.worker != nil {
		return h.worker.derive([]byte(password), salt, p)
	}
	return derive([]byte(password), salt, p), nil
}

func derive(password, salt []byte, p Params) []byte {
	return argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
}

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key))
}

// decode parses a PHC argon2id string strictly: the input comes from
// storage that may have been tampered with, so anything unexpected is
// ErrMalformedHash rather than a best guess.
func decode(encoded string) (Params, []byte, []byte, error) {
	var p Params
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version", ErrMalformedHash)
	}
	m, t, par, err := decodeCosts(fields[3])
	if err != nil {
		return p, nil, nil, err
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(fields[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(fields[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: bad hash", ErrMalformedHash)
	}
	p = Params{Memory: m, Iterations: t, Parallelism: par, SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}

func decodeCosts(s string) (m, t uint32, p uint8, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("%w: want m=,t=,p=", ErrMalformedHash)
	}
	var vals [3]uint64
	for i, prefix := range []string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(parts[i], prefix)
		if !found || !isASCIIDigits(digits) || len(digits) > 10 {
			return 0, 0, 0, fmt.Errorf("%w: bad %s", ErrMalformedHash, prefix)
		}
		vals[i], _ = strconv.ParseUint(digits, 10, 64)
	}
	switch {
	case vals[2] < 1 || vals[2] > 255:
		return 0, 0, 0, fmt.Errorf("%w: parallelism out of range", ErrMalformedHash)
	case vals[1] < 1 || vals[1] > maxIterations:
		return 0, 0, 0, fmt.Errorf("%w: iterations out of range", ErrMalformedHash)
	// argon2 needs at least 8 KiB per lane.
	case vals[0] < 8*vals[2] || vals[0] > maxMemoryKiB:
		return 0, 0, 0, fmt.Errorf("%w: memory out of range", ErrMalformedHash)
	}
	return uint32(vals[0]), uint32(vals[1]), uint8(vals[2]), nil
}

func isASCIIDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
