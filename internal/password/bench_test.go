package password

import (
	"testing"
	"time"
)

// BenchmarkHash times one argon2id hash at DefaultParams, the cost that
// bounds password-login throughput: about cores ÷ this time per second.
func BenchmarkHash(b *testing.B) {
	h := NewHasher(DefaultParams, 1, time.Minute)
	ctx := b.Context()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashParallel runs one hash per CPU at once, as the server's pool
// does when full; memory bandwidth, not only CPU, limits it.
func BenchmarkHashParallel(b *testing.B) {
	h := NewHasher(DefaultParams, 0, time.Minute)
	ctx := b.Context()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
