package main

import (
	"io"
	"strings"
	"testing"
)

func TestOIDCFlags(t *testing.T) {
	env := func(string) string { return "" }
	_, err := parseFlags([]string{"-admin-key", "a", "-app-key", "b", "-phases", "oidc"}, env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-client-id") {
		t.Fatalf("oidc without a client: %v", err)
	}
	cfg, err := parseFlags([]string{"-admin-key", "a", "-app-key", "b", "-phases", "oidc", "-client-id", "c", "-client-secret", "s", "-codes", "51", "-prefix", "ab"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := oidcUsers(cfg); got != 3 {
		t.Errorf("oidcUsers for 51 codes = %d, want 3", got)
	}
	if cfg.issuer() != "http://127.0.0.1:8080/oidc/load" {
		t.Errorf("issuer %q", cfg.issuer())
	}
	if _, err := parseFlags([]string{"-admin-key", "a", "-app-key", "b", "-phases", "oidc", "-client-id", "c", "-client-secret", "s", "-codes", "5001"}, env, io.Discard); err == nil {
		t.Error("-codes 5001 accepted")
	}
	// Without the oidc phase no client is needed and -codes is ignored.
	cfg, err = parseFlags([]string{"-admin-key", "a", "-app-key", "b", "-phases", "password", "-codes", "0"}, env, io.Discard)
	if err != nil || cfg.codes != 0 {
		t.Fatalf("password only: %v, codes %d", err, cfg.codes)
	}
}

func TestSourceBase(t *testing.T) {
	if ip := sourceBase("http://127.0.0.1:8080"); ip == nil || ip.To4()[0] != 127 || ip.To4()[3] != 0 {
		t.Errorf("loopback server: %v", ip)
	}
	if ip := sourceBase("https://mfa.example.org"); ip != nil {
		t.Errorf("remote server: %v", ip)
	}
}
