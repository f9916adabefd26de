// Package mailsink runs internal/testutil/smtpsink, a real SMTP server
// process, for tests that send email through Countersign's SMTP provider.
package mailsink

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sink is a running SMTP server on 127.0.0.1 that keeps every message it
// accepts as a file in Dir.
type Sink struct {
	Host string
	Port int
	Dir  string
}

// Start builds the sink, starts it and stops it when the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "smtpsink")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/countersign/countersign/internal/testutil/smtpsink").CombinedOutput(); err != nil {
		t.Fatalf("build the SMTP sink: %v\n%s", err, out)
	}
	s := &Sink{Dir: t.TempDir()}
	cmd := exec.Command(bin, "-dir", s.Dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the SMTP sink did not say where it listens: %v", err)
	}
	host, port, _ := strings.Cut(strings.TrimSpace(line), ":")
	s.Host = host
	if s.Port, err = strconv.Atoi(port); err != nil {
		t.Fatalf("the SMTP sink's address %q: %v", line, err)
	}
	return s
}

// Wait returns the first message (headers and data as received) that match
// accepts, or fails the test after timeout.
func (s *Sink) Wait(t testing.TB, timeout time.Duration, match func(raw string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		files, _ := os.ReadDir(s.Dir)
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(s.Dir, f.Name()))
			if err == nil && match(string(b)) {
				return string(b)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no matching message reached the SMTP server in %s", timeout)
	return ""
}
