package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/server"
)

// With pprof_addr the profiler answers on its own loopback address and
// nowhere else; the public address has no /debug/pprof (issue 14).
func TestProfilerOnItsOwnAddress(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	cfg.PprofAddr = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr, stop := serving(t, srv)
	defer stop()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if srv.ProfilerAddr() == "" || srv.ProfilerAddr() == addr {
		t.Fatalf("profiler address %q (server %q)", srv.ProfilerAddr(), addr)
	}
	if code, body := get("http://" + srv.ProfilerAddr() + "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("profiler index: %d %.200s", code, body)
	}
	if code, body := get("http://" + srv.ProfilerAddr() + "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Fatalf("heap profile: %d %.200s", code, body)
	}
	if code, _ := get("http://" + addr + "/debug/pprof/"); code == 200 {
		t.Fatal("the public address serves the profiler")
	}
}
