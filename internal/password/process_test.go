package password

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// TestWorkerKilled: hashes under way when the worker dies fail with
// ErrWorker (so ErrBusy, a 503), never with a result; the next hash starts
// a new worker and succeeds.
func TestWorkerKilled(t *testing.T) {
	ctx := t.Context()
	h := testWorker(t, testParams, Options{Workers: 2, QueueWait: time.Second}, ProcessOptions{})
	encoded, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	pid := h.WorkerPID()
	// Stopped, the worker takes requests and answers none, so they are
	// under way when it is killed.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan error, 2)
	wg.Go(func() {
		ok, _, err := h.Verify(ctx, encoded, "pw")
		if ok {
			err = errors.New("Verify said the password matched")
		}
		results <- err
	})
	wg.Go(func() { _, err := h.Hash(ctx, "pw"); results <- err })
	for h.InFlight() < 2 {
		runtime.Gosched()
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for err := range results {
		if !errors.Is(err, ErrWorker) || !errors.Is(err, ErrBusy) {
			t.Errorf("hash under way when the worker died: err = %v, want ErrWorker and ErrBusy", err)
		}
	}
	ok, _, err := h.Verify(ctx, encoded, "pw")
	if !ok || err != nil {
		t.Fatalf("Verify after the worker died = %v, %v; want true, nil", ok, err)
	}
	if next := h.WorkerPID(); next == pid || next == 0 {
		t.Errorf("worker pid after the restart = %d, was %d", next, pid)
	}
}

// TestWorkerTimeout: a worker that lets a hash's time pass is killed and
// replaced.
func TestWorkerTimeout(t *testing.T) {
	ctx := t.Context()
	h := testWorker(t, testParams, Options{Workers: 1, QueueWait: time.Second}, ProcessOptions{Timeout: 100 * time.Millisecond})
	pid := h.WorkerPID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, ErrWorker) {
		t.Fatalf("Hash with the worker stopped: err = %v, want ErrWorker", err)
	}
	// The new worker may take its time on a busy machine.
	h.worker.opts.Timeout = DefaultWorkerTimeout
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Errorf("Hash after the restart: %v", err)
	}
	if h.WorkerPID() == pid {
		t.Error("the stopped worker is still the one in use")
	}
	if processExists(pid) {
		t.Errorf("the stopped worker %d still exists", pid)
	}
}

// TestWorkerClose: Close leaves no process behind, and the Hasher refuses
// work after it.
func TestWorkerClose(t *testing.T) {
	h, err := New(testParams, Options{Workers: 1, QueueWait: time.Second, Process: &ProcessOptions{
		Path: os.Args[0], Env: append(os.Environ(), actAsWorker+"=1"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(t.Context(), "pw"); err != nil {
		t.Fatal(err)
	}
	pid := h.WorkerPID()
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if processExists(pid) {
		t.Errorf("worker %d still exists after Close", pid)
	}
	if _, err := h.Hash(t.Context(), "pw"); !errors.Is(err, ErrWorker) {
		t.Errorf("Hash after Close: err = %v, want ErrWorker", err)
	}
}

func TestWorkerStartFails(t *testing.T) {
	_, err := New(testParams, Options{Process: &ProcessOptions{Path: filepath.Join(t.TempDir(), "missing")}})
	if err == nil {
		t.Fatal("New with a worker program that does not exist succeeded")
	}
}

// TestWorkerNice reads every thread's niceness (field 19 of its stat) back.
func TestWorkerNice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	h := testWorker(t, testParams, Options{Workers: 1, QueueWait: time.Second}, ProcessOptions{Nice: 7})
	// Answering proves the worker has set its priority: it does so first.
	if _, err := h.Hash(t.Context(), "pw"); err != nil {
		t.Fatal(err)
	}
	pid := h.WorkerPID()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// The command name may hold spaces; fields count from after it.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if nice, _ := strconv.Atoi(fields[19-3]); nice != 7 {
			t.Errorf("thread %s of the worker runs at nice %d, want 7", task.Name(), nice)
		}
	}
	if len(tasks) < 2 {
		t.Errorf("the worker has %d threads; the check above wants several", len(tasks))
	}
}

// processExists reports whether pid is a live or unreaped process.
func processExists(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}
