package password

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// actAsWorker makes the test binary, started again by testWorker, the
// hashing worker instead of a test run.
const actAsWorker = "COUNTERSIGN_TEST_HASH_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(actAsWorker) == "1" {
		if err := RunWorker(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testWorker returns a Hasher computing in a worker process (this test
// binary), closed at the end of the test.
func testWorker(t *testing.T, p Params, o Options, po ProcessOptions) *Hasher {
	t.Helper()
	po.Path = os.Args[0]
	po.Env = append(os.Environ(), actAsWorker+"=1")
	o.Process = &po
	h, err := New(p, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// TestWorkerMatchesInline: the worker computes exactly what this process
// would, so hashes made either way verify the other way.
func TestWorkerMatchesInline(t *testing.T) {
	ctx := t.Context()
	inline := NewHasher(testParams, 2, time.Second)
	worker := testWorker(t, testParams, Options{Workers: 2, QueueWait: time.Second}, ProcessOptions{})

	salt := []byte("0123456789abcdef")
	got, err := worker.worker.derive([]byte("pw"), salt, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if want := derive([]byte("pw"), salt, testParams); !bytes.Equal(got, want) {
		t.Errorf("worker key = %x, this process's = %x", got, want)
	}

	for _, pair := range []struct{ name, hashBy, verifyBy string }{
		{"worker's hash, checked here", "worker", "inline"},
		{"hash made here, checked by the worker", "inline", "worker"},
	} {
		t.Run(pair.name, func(t *testing.T) {
			by := map[string]*Hasher{"worker": worker, "inline": inline}
			encoded, err := by[pair.hashBy].Hash(ctx, "correct horse")
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := by[pair.verifyBy].Verify(ctx, encoded, "correct horse")
			if !ok || rehash || err != nil {
				t.Errorf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
			ok, _, err = by[pair.verifyBy].Verify(ctx, encoded, "wrong")
			if ok || err != nil {
				t.Errorf("Verify(wrong) = %v, %v; want false, nil", ok, err)
			}
		})
	}
	if err := worker.VerifyDummy(ctx, "anything"); err != nil {
		t.Errorf("VerifyDummy: %v", err)
	}
	if n := worker.InFlight(); n != 0 {
		t.Errorf("InFlight = %d after every call returned; a slot leaked", n)
	}
}

// TestWorkerKnownAnswer checks the worker against the argon2 reference
// implementation's argon2id vector (version 0x13, t=2, m=64 MiB, p=1,
// "password", "somesalt"), the one without secret or associated data,
// which argon2id here does not take.
func TestWorkerKnownAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB hash")
	}
	p := Params{Memory: 64 * 1024, Iterations: 2, Parallelism: 1, SaltLen: 8, KeyLen: 32}
	want, _ := hex.DecodeString("09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7")
	if got := derive([]byte("password"), []byte("somesalt"), p); !bytes.Equal(got, want) {
		t.Errorf("this process: %x, want %x", got, want)
	}
	h := testWorker(t, p, Options{Workers: 1, QueueWait: time.Second}, ProcessOptions{})
	got, err := h.worker.derive([]byte("password"), []byte("somesalt"), p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("worker: %x, want %x", got, want)
	}
}

// TestQueueBound: beyond Queue callers waiting for a slot, the next gets
// ErrBusy at once, even with a wait of an hour.
func TestQueueBound(t *testing.T) {
	ctx := t.Context()
	h, err := New(testParams, Options{Workers: 1, QueueWait: time.Hour, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, err := h.Hash(ctx, "pw")
			errs <- err
		})
	}
	for len(h.waiters) < 2 {
		runtime.Gosched()
	}
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, ErrBusy) {
		t.Errorf("a third waiter: err = %v, want ErrBusy", err)
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a waiter once the slot was free: %v", err)
		}
	}
}

func TestWorkerStartFails(t *testing.T) {
	_, err := New(testParams, Options{Process: &ProcessOptions{Path: filepath.Join(t.TempDir(), "missing")}})
	if err == nil {
		t.Fatal("New with a worker program that does not exist succeeded")
	}
}
