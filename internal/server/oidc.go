package server

import (
	"strings"

	"github.com/countersign/countersign/internal/config"
)

// PublicBase is where people and applications reach this server, without
// a trailing slash: public_url when set, otherwise http:// and the listen
// address (127.0.0.1 for an address that names no host). Issuers of the
// OpenID Connect provider are {PublicBase}/oidc/{tenant}.
func PublicBase(cfg config.Config) string {
	if b := strings.TrimRight(cfg.PublicURL, "/"); b != "" {
		return b
	}
	addr := cfg.Addr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	if strings.HasPrefix(addr, "0.0.0.0:") {
		addr = "127.0.0.1" + strings.TrimPrefix(addr, "0.0.0.0")
	}
	return "http://" + addr
}
