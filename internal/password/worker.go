package password

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
)

// WorkerCommand is the hidden sub-command of countersign that runs
// RunWorker; the server starts its own program with it.
const WorkerCommand = "hash-worker"

// RunWorker is the hashing worker process: it lowers its own CPU priority,
// bounds its memory, then computes argon2id for the requests framed on in
// and answers on out until in closes — the server holds the other end, so
// the worker never outlives it. args are the flags the server passes
// (see ProcessOptions).
func RunWorker(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet(WorkerCommand, flag.ContinueOnError)
	nice := fs.Int("nice", 0, "niceness to run at (0 to 19)")
	slots := fs.Int("slots", runtime.NumCPU(), "most hashes computed at once")
	limit := fs.Int64("memory-limit-mib", 0, "the Go runtime's soft memory limit (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nice < 0 || *nice > 19 || *slots < 1 || *limit < 0 {
		return fmt.Errorf("%s: -nice %d, -slots %d, -memory-limit-mib %d out of range", WorkerCommand, *nice, *slots, *limit)
	}
	if *nice > 0 {
		if err := lowerPriority(*nice); err != nil {
			return fmt.Errorf("%s: lowering the priority: %w", WorkerCommand, err)
		}
	}
	if *limit > 0 {
		debug.SetMemoryLimit(*limit << 20)
	}
	// A terminal's Ctrl-C reaches the whole process group; the server
	// stops gracefully and finishes its logins, so the worker waits for
	// its standard input to close instead.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	return serveWorker(in, out, *slots)
}

// serveWorker answers framed requests from in on out, at most slots at
// once; it returns nil once in closes and every answer is written.
func serveWorker(in io.Reader, out io.Writer, slots int) error {
	r := bufio.NewReader(in)
	sem := make(chan struct{}, slots)
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex // one answer at a time on out
	for {
		body, err := readFrame(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: reading a request: %w", WorkerCommand, err)
		}
		req, err := parseRequest(body)
		if err != nil {
			if req.id == 0 {
				return fmt.Errorf("%s: %w", WorkerCommand, err)
			}
			mu.Lock()
			_, werr := out.Write(answer{id: req.id, err: err.Error()}.marshal())
			mu.Unlock()
			if werr != nil {
				return werr
			}
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			key := derive(req.password, req.salt, req.params)
			<-sem
			mu.Lock()
			defer mu.Unlock()
			// A failed write means the server is gone; the next read
			// sees its end of the pipe closed too.
			_, _ = out.Write(answer{id: req.id, key: key}.marshal())
		})
	}
}
