package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The countersign binary, built once for every test of the package that
// runs real server processes.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		_ = os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "countersign-bin-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "countersign")
		if out, err := exec.Command("go", "build", "-o", binary.path, "../../cmd/countersign").CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatalf("build: %v", binary.err)
	}
	return binary.path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("server on %s not ready", addr)
}

// X7, issue 10 item 9: a second server refuses an SQLite data directory that
// a server is serving, since the single-writer guarantees hold only within
// one process; operator commands still run beside it, as the quick start
// has them; once the server has stopped, the directory serves again.
func TestOneServerPerDataDirectory(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	env := append(os.Environ(), "COUNTERSIGN_DATA_DIR="+dataDir, "COUNTERSIGN_DATABASE_URL=", "COUNTERSIGN_MASTER_KEY=", "COUNTERSIGN_LOG_LEVEL=warn")
	run := func(ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(env, "COUNTERSIGN_ADDR="+freeAddr(t))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		return cmd, &stderr
	}

	first, firstLog := run(t.Context(), "serve")
	addr := first.Env[len(first.Env)-1][len("COUNTERSIGN_ADDR="):]
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = first.Process.Kill()
		_ = first.Wait()
		if t.Failed() {
			t.Logf("first server's log:\n%s", firstLog)
		}
	})
	waitReady(t, addr)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	second, stderr := run(ctx, "serve")
	err := second.Run()
	timedOut := ctx.Err() != nil
	cancel()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || timedOut {
		t.Fatalf("a second serve: %v, want it to exit non-zero at once\n%s", err, stderr)
	}
	for _, want := range []string{"in use by another countersign process", dataDir, "countersign.lock", "PostgreSQL"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the second serve's message does not mention %q:\n%s", want, stderr)
		}
	}
	cmd, stderr := run(t.Context(), "tenant", "create", "--slug", "acme", "--name", "Acme")
	if err := cmd.Run(); err != nil {
		t.Fatalf("a command beside the server: %v\n%s", err, stderr)
	}

	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first server: %v", err)
	}
	third, _ := run(t.Context(), "serve")
	if err := third.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = third.Process.Kill(); _ = third.Wait() }()
	waitReady(t, third.Env[len(third.Env)-1][len("COUNTERSIGN_ADDR="):])
}
