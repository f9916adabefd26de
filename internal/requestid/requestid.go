package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// Header carries the ID in both directions.
const Header = "X-Request-Id"

// MaxLen bounds an ID taken from a proxy, so a log line stays a line.
const MaxLen = 64

// New returns a fresh ID: 96 random bits, so IDs from many servers never meet.
func New() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return "req_" + hex.EncodeToString(b)
}

// Valid reports whether id is safe to repeat in headers, logs and pages:
// 1 to MaxLen letters, digits, dots, underscores or hyphens.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

type key struct{}

// record is what a request's context knows of it. The tenant is learnt by
// a front door after the context is made, hence the pointer and the lock.
type record struct {
	id     string
	mu     sync.Mutex
	tenant string
}

// With returns ctx naming its request id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, &record{id: id})
}

// ID is the request's ID, or "" outside a request the server named.
func ID(ctx context.Context) string {
	if r, ok := ctx.Value(key{}).(*record); ok {
		return r.id
	}
	return ""
}

// SetTenant records the tenant a front door resolved the request to.
func SetTenant(ctx context.Context, tenant string) {
	if r, ok := ctx.Value(key{}).(*record); ok {
		r.mu.Lock()
		r.tenant = tenant
		r.mu.Unlock()
	}
}

// Tenant is the tenant recorded by SetTenant, or "".
func Tenant(ctx context.Context) string {
	if r, ok := ctx.Value(key{}).(*record); ok {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.tenant
	}
	return ""
}
