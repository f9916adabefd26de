package server_test

import (
	"testing"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/server"
)

func TestPublicBase(t *testing.T) {
	for _, tt := range []struct{ public, addr, want string }{
		{"https://mfa.example.org/", "127.0.0.1:8080", "https://mfa.example.org"},
		{"https://mfa.example.org", ":8443", "https://mfa.example.org"},
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"", ":8080", "http://127.0.0.1:8080"},
		{"", "10.0.0.5:9000", "http://10.0.0.5:9000"},
	} {
		cfg := config.Default()
		cfg.PublicURL, cfg.Addr = tt.public, tt.addr
		if got := server.PublicBase(cfg); got != tt.want {
			t.Errorf("PublicBase(public_url %q, addr %q) = %q, want %q", tt.public, tt.addr, got, tt.want)
		}
	}
}
