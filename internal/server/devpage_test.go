package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/countersign/countersign/internal/config"
)

func TestDevPageEnabled(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name    string
		addr    string
		devPage *bool
		want    bool
	}{
		{"ipv4 loopback", "127.0.0.1:8080", nil, true},
		{"ipv6 loopback", "[::1]:8080", nil, true},
		{"localhost", "localhost:8080", nil, true},
		{"all interfaces", "0.0.0.0:8080", nil, false},
		{"private address", "10.1.2.3:8080", nil, false},
		{"explicit on, public", "0.0.0.0:8080", &on, true},
		{"explicit on, private", "10.1.2.3:8080", &on, true},
		{"explicit off, loopback", "127.0.0.1:8080", &off, false},
		{"explicit off, localhost", "localhost:8080", &off, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Addr = tt.addr
			cfg.Delivery.DevPage = tt.devPage
			if got := devPageEnabled(cfg); got != tt.want {
				t.Errorf("devPageEnabled(%q, %v) = %v, want %v", tt.addr, tt.devPage, got, tt.want)
			}
		})
	}
}

func TestDevPageServed(t *testing.T) {
	tests := []struct {
		addr string
		want int
	}{
		{"0.0.0.0:0", http.StatusNotFound},
		{"127.0.0.1:0", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.Addr = tt.addr
			srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			ts := httptest.NewServer(srv.Handler)
			t.Cleanup(ts.Close)
			resp, err := ts.Client().Get(ts.URL + "/dev/outbox")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET /dev/outbox = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
