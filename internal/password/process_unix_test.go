//go:build unix

package password

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

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

// TestWorkerNice reads every thread's niceness (field 19 of its stat) and
// scheduling policy (field 41) back: the niceness asked for, and at 19 the
// idle policy (SCHED_IDLE, 5) besides; below it the usual one (0).
func TestWorkerNice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	for _, want := range []struct{ nice, policy int }{{7, 0}, {19, 5}} {
		h := testWorker(t, testParams, Options{Workers: 1, QueueWait: time.Second}, ProcessOptions{Nice: want.nice})
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
			if nice, _ := strconv.Atoi(fields[19-3]); nice != want.nice {
				t.Errorf("thread %s of the worker runs at nice %d, want %d", task.Name(), nice, want.nice)
			}
			if policy, _ := strconv.Atoi(fields[41-3]); policy != want.policy {
				t.Errorf("thread %s of the worker at nice %d has scheduling policy %d, want %d", task.Name(), want.nice, policy, want.policy)
			}
		}
		if len(tasks) < 2 {
			t.Errorf("the worker has %d threads; the check above wants several", len(tasks))
		}
	}
}

// processExists reports whether pid is a live or unreaped process.
func processExists(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}
