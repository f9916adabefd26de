package server

import (
	"strings"

	"github.com/countersign/countersign/internal/config"
)

// PublicBase is the scheme and host Countersign is reached at, without a
// trailing slash: the configured public_url, or else http:// and the
// listen address (127.0.0.1 when the address names no host). The OpenID
// Connect issuer of a tenant is PublicBase + "/oidc/" + its slug.
func PublicBase(cfg config.Config) string {
	if u := strings.TrimRight(strings.TrimSpace(cfg.PublicURL), "/"); u != "" {
		return u
	}
	addr := cfg.Addr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	return "http://" + addr
}
