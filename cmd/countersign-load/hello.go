package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The hello phase measures a minimal net/http server the same way the other
// phases measure Countersign, so a phase's rate divided by hello's says what
// share of the machine's plain HTTP capacity a verification keeps (issue 14).

// helloAnswer is what the reference server writes: the shape of an allowed check.
const helloAnswer = `{"status":"allowed"}` + "\n"

// helloHandler reads the request body, as a real handler must, and answers
// POST with helloAnswer; anything else is 405.
func helloHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16)); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, helloAnswer)
}

// startHello serves helloHandler on a free 127.0.0.1 port in this process
// and returns its base URL and a function that shuts it down.
func startHello() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("hello server: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(helloHandler), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "hello server: %v\n", err)
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// helloChildEnv, set to 1, makes the tool's binary the hello server: the
// tool starts itself again with it, so the hello server's CPU time can be
// read from /proc like the Countersign server's and is not mixed with the
// tool's own.
const helloChildEnv = "COUNTERSIGN_LOAD_HELLO_CHILD"

// serveHelloChild is the re-executed tool's work: serve hello, print the
// base URL as one line on stdout, and stop when stdin closes, which it does
// when the parent stops it or dies.
func serveHelloChild(stdin io.Reader, stdout io.Writer) error {
	url, stop, err := startHello()
	if err != nil {
		return err
	}
	defer stop()
	if _, err := fmt.Fprintln(stdout, url); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, stdin)
	return err
}

// helloChild is a hello server running as a child process of the tool.
type helloChild struct {
	url  string
	pid  int
	stop func()
}

// startHelloChild runs the tool's own binary as a hello server and waits
// up to ten seconds for its address.
func startHelloChild() (helloChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return helloChild{}, fmt.Errorf("hello server: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helloChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return helloChild{}, fmt.Errorf("hello server: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return helloChild{}, fmt.Errorf("hello server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return helloChild{}, fmt.Errorf("hello server: %w", err)
	}
	exited := make(chan struct{})
	stop := func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	lines := make(chan string, 1)
	go func() {
		// Wait closes stdout, so it must follow the read.
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		cmd.Wait()
		close(exited)
	}()
	select {
	case line := <-lines:
		if strings.HasPrefix(line, "http://127.0.0.1:") {
			return helloChild{url: line, pid: cmd.Process.Pid, stop: stop}, nil
		}
		stop()
		return helloChild{}, fmt.Errorf("hello server: printed %q, not its address", line)
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
		return helloChild{}, errors.New("hello server: no address within 10 s")
	}
}

// helloWork posts a body shaped like an auth/check request (a login ID of
// the usual length and a six-digit code) and expects the allowed status.
func helloWork(c *client, prefix string) work {
	body := map[string]string{"login_id": prefix + "t1234", "code": "123456"}
	return func(ctx context.Context, t *tally) bool {
		start := time.Now()
		var ans loginAnswer
		r := c.post(ctx, c.appKey, "/api/v1/auth/check", body, &ans)
		d := time.Since(start)
		t.record("", statusAnswer(r, ans, "allowed"))
		t.finish(r.ok() && ans.Status == "allowed", d)
		return true
	}
}
