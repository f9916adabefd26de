package password

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// ErrWorker means the hashing worker process failed the hash: it died, did
// not answer in time, or was being restarted. It is ErrBusy to callers
// (errors.Is), so they answer 503 with Retry-After, as for a full pool.
var ErrWorker = fmt.Errorf("%w (the hashing worker process failed)", ErrBusy)

// ProcessOptions run a Hasher's argon2id computations in a worker process,
// started as Path with Args followed by the worker's own flags (RunWorker
// parses them), with Env as its environment (the server's when nil).
type ProcessOptions struct {
	Path string
	Args []string
	Env  []string
	// Nice is the worker's niceness, 0 to 19: higher leaves more of the
	// CPU to the server's own threads when both want it.
	Nice int
	// MemoryLimitMiB is the worker's soft memory limit; 0 means twice what
	// its slots hold at once, plus room for the runtime.
	MemoryLimitMiB int64
	// Timeout bounds each hash; a worker that lets one pass is taken for
	// wedged and restarted. 0 means DefaultWorkerTimeout.
	Timeout time.Duration
	// Stderr receives the worker's standard error (os.Stderr when nil).
	Stderr io.Writer
	// Log tells of the worker's restarts; nil logs nothing.
	Log *slog.Logger
}

// DefaultWorkerTimeout is far above any sane hash even at the lowest
// priority on a busy machine, and still short enough that a wedged worker
// is replaced while people are retrying.
const DefaultWorkerTimeout = 30 * time.Second

// A worker that dies within stableAfter of starting counts as one more
// failure in a row; the restarts after the first wait, doubling from
// firstBackoff up to maxBackoff, so a worker that cannot run costs little.
const (
	stableAfter  = 10 * time.Second
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 10 * time.Second
	closeWait    = 5 * time.Second
)

// supervisor keeps one worker process running and hands it requests.
type supervisor struct {
	opts ProcessOptions
	args []string

	mu        sync.Mutex
	cur       *child
	closed    bool
	failures  int // deaths in a row of workers that had not become stable
	notBefore time.Time
	nextID    uint64
}

func startSupervisor(o ProcessOptions, slots int, p Params) (*supervisor, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultWorkerTimeout
	}
	if o.MemoryLimitMiB <= 0 {
		o.MemoryLimitMiB = 64 + 2*int64(slots)*int64(p.Memory)>>10
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	s := &supervisor{opts: o}
	s.args = append(append([]string{}, o.Args...),
		"-nice", strconv.Itoa(o.Nice), "-slots", strconv.Itoa(slots),
		"-memory-limit-mib", strconv.FormatInt(o.MemoryLimitMiB, 10))
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.startLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// derive asks the worker for the argon2id key. The caller holds a slot,
// and keeps it until the worker answers or is killed, so the worker never
// computes more hashes at once than there are slots.
func (s *supervisor) derive(password, salt []byte, p Params) ([]byte, error) {
	c, id, err := s.child()
	if err != nil {
		return nil, err
	}
	frame, err := request{id: id, params: p, salt: salt, password: password}.marshal()
	if err != nil {
		return nil, err
	}
	return c.call(id, frame, s.opts.Timeout)
}

// child returns the running worker, starting one when the last died and
// its backoff has passed, and a fresh request id.
func (s *supervisor) child() (*child, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, fmt.Errorf("%w: the hasher is closed", ErrWorker)
	}
	s.nextID++
	if s.cur != nil {
		return s.cur, s.nextID, nil
	}
	if time.Now().Before(s.notBefore) {
		return nil, 0, fmt.Errorf("%w: restarting it", ErrWorker)
	}
	c, err := s.startLocked()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrWorker, err)
	}
	return c, s.nextID, nil
}

func (s *supervisor) startLocked() (*child, error) {
	cmd := exec.Command(s.opts.Path, s.args...)
	cmd.Env = s.opts.Env
	cmd.Stderr = s.opts.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		s.failedLocked(time.Now())
		return nil, fmt.Errorf("starting the hashing worker: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin, started: time.Now(), pending: map[uint64]chan answer{}, dead: make(chan struct{})}
	s.cur = c
	go c.read(stdout, s.exited)
	return c, nil
}

// exited forgets a worker that ended and sets when the next may start.
func (s *supervisor) exited(c *child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != c {
		return
	}
	s.cur = nil
	if s.closed {
		return
	}
	if time.Since(c.started) >= stableAfter {
		s.failures = 0
	}
	s.failedLocked(time.Now())
	if s.opts.Log != nil {
		s.opts.Log.Warn("the hashing worker stopped; it restarts for the next hash", "err", c.err, "failures_in_a_row", s.failures)
	}
}

func (s *supervisor) failedLocked(now time.Time) {
	s.failures++
	s.notBefore = now
	if s.failures > 1 {
		s.notBefore = now.Add(min(firstBackoff<<min(s.failures-2, 10), maxBackoff))
	}
}

// close ends the worker: its standard input closes, it finishes what it
// computes and exits; one that does not within closeWait is killed.
func (s *supervisor) close() error {
	s.mu.Lock()
	s.closed = true
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	_ = c.stdin.Close()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-c.dead:
	case <-t.C:
		c.kill()
		<-c.dead
	}
	if c.err != nil && !errors.Is(c.err, io.EOF) {
		return c.err
	}
	return nil
}

// pid is the running worker's process ID, 0 when none runs.
func (s *supervisor) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.cmd.Process.Pid
}

// child is one worker process and the requests it has not answered.
type child struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started time.Time
	wmu     sync.Mutex // one request at a time on stdin

	mu      sync.Mutex
	pending map[uint64]chan answer
	dead    chan struct{} // closed once the worker exited and err is set
	err     error         // why it ended: io.EOF when it closed its output
}

func (c *child) call(id uint64, frame []byte, timeout time.Duration) ([]byte, error) {
	ch := make(chan answer, 1)
	c.mu.Lock()
	select {
	case <-c.dead:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrWorker, c.err)
	default:
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	c.wmu.Lock()
	_, err := c.stdin.Write(frame)
	c.wmu.Unlock()
	if err != nil {
		c.kill()
		<-c.dead
		return nil, fmt.Errorf("%w: writing to it: %w", ErrWorker, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a := <-ch:
		if a.key == nil {
			return nil, fmt.Errorf("password: the hashing worker refused a request: %s", a.err)
		}
		return a.key, nil
	case <-c.dead:
		return nil, fmt.Errorf("%w: %w", ErrWorker, c.err)
	case <-t.C:
		c.kill()
		<-c.dead
		return nil, fmt.Errorf("%w: no answer within %s", ErrWorker, timeout)
	}
}

// read hands each answer to its caller until the worker's output ends or
// makes no sense; then the worker is killed, reaped, and every caller
// still waiting fails.
func (c *child) read(stdout io.Reader, exited func(*child)) {
	r := bufio.NewReader(stdout)
	var err error
	for {
		var body []byte
		if body, err = readFrame(r); err != nil {
			break
		}
		var a answer
		if a, err = parseAnswer(body); err != nil {
			break
		}
		c.mu.Lock()
		ch := c.pending[a.id]
		c.mu.Unlock()
		// An answer nobody waits for belongs to a request that timed out.
		if ch != nil {
			ch <- a
		}
	}
	c.kill()
	werr := c.cmd.Wait()
	if errors.Is(err, io.EOF) && werr != nil {
		err = fmt.Errorf("the hashing worker ended: %w", werr)
	}
	c.err = err
	// The supervisor forgets this worker before anyone learns it died, so
	// a caller that saw it die gets a new one.
	exited(c)
	c.mu.Lock()
	close(c.dead)
	c.mu.Unlock()
}

func (c *child) kill() { _ = c.cmd.Process.Kill() }
