package password

import (
	"fmt"
	"os"
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

// BenchmarkHashWorkerParallel is BenchmarkHashParallel with the hashes
// computed in a worker process (this test binary), at the server's own
// priority and at the lowest: with nothing else running all three match.
func BenchmarkHashWorkerParallel(b *testing.B) {
	for _, nice := range []int{0, 19} {
		b.Run(fmt.Sprintf("nice=%d", nice), func(b *testing.B) {
			h, err := New(DefaultParams, Options{QueueWait: time.Minute, Queue: 1024, Process: &ProcessOptions{
				Path: os.Args[0], Env: append(os.Environ(), actAsWorker+"=1"), Nice: nice,
			}})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			ctx := b.Context()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
