package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/countersign/countersign/internal/password"
)

// The flood phase runs the totp phase's checks while password logins arrive
// at -flood-factor times the server's hashing capacity, so the report shows
// what a password flood costs the checks (issue 14). The logins are open
// loop: they are sent on a schedule, not when an answer comes back, as a
// flood would be; at most -flood-inflight are outstanding, and those due
// while all slots were taken are counted as not sent rather than queued.

const (
	maxFloodInflight = 10000
	// floodTick is how often the schedule sends the logins that fell due.
	floodTick = 5 * time.Millisecond
)

// Hashing is the server's password hashing capacity: its cores divided by
// one argon2id hash with its default parameters. The password phase is
// compared with it and the flood phase's schedule is a multiple of it.
type Hashing struct {
	ServerCPUs int     `json:"server_cpus"`
	HashMS     float64 `json:"hash_ms"`
	Measured   bool    `json:"hash_measured"` // false when -hash-ms gave it
	PerSecond  float64 `json:"capacity_per_second"`
}

// hashingCapacity takes one hash's time from -hash-ms or measures it here.
func hashingCapacity(cfg config) Hashing {
	hash := time.Duration(cfg.hashMS * float64(time.Millisecond))
	h := Hashing{ServerCPUs: cfg.serverCPUs, Measured: hash <= 0}
	if h.Measured {
		hash = hashTime()
	}
	h.HashMS = round(hash.Seconds()*1000, 2)
	h.PerSecond = round(capacity(cfg.serverCPUs, hash), 1)
	return h
}

// FloodReport describes the flood's logins beside the checks' row.
type FloodReport struct {
	Factor       float64 `json:"factor"`
	ServerCPUs   int     `json:"server_cpus"`
	HashMS       float64 `json:"hash_ms"`       // one argon2id hash with the server's default parameters
	HashMeasured bool    `json:"hash_measured"` // false when -hash-ms gave it
	Capacity     float64 `json:"capacity_per_second"`
	Target       float64 `json:"target_per_second"`
	Inflight     int     `json:"inflight"` // most logins outstanding at once (-flood-inflight)
	Sent         int64   `json:"sent"`
	Unsent       int64   `json:"unsent"` // due while Inflight logins were outstanding
	// PeakRSSKiB is the sum of the server's and its child processes' VmHWM at
	// the end of the phase: each one's peak resident set over its whole
	// life, setup included. Zero without -server-pid.
	PeakRSSKiB   int64 `json:"server_peak_rss_kib,omitempty"`
	PeakRSSProcs int   `json:"server_peak_rss_processes,omitempty"`
}

// hashTime measures one argon2id hash with the server's default parameters
// on this machine: the fastest of ten, after one to warm up, each on memory
// the collector has just freed (as in a server hashing steadily) rather than
// on pages fresh from the kernel, whose first touch alone can add half the
// hash's time.
func hashTime() time.Duration {
	p := password.DefaultParams
	salt := make([]byte, p.SaltLen)
	best := time.Duration(1<<63 - 1)
	for i := range 11 {
		runtime.GC()
		start := time.Now()
		argon2.IDKey([]byte("load-tool-password"), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
		if d := time.Since(start); i > 0 {
			best = min(best, d)
		}
	}
	return best
}

// capacity is how many password hashes per second cpus cores sustain.
func capacity(cpus int, hash time.Duration) float64 {
	if hash <= 0 {
		return 0
	}
	return float64(cpus) / hash.Seconds()
}

// runFlood runs the checks on cfg.concurrency workers and, alongside, the
// logins at the flood rate, both for cfg.duration; server measures the
// server's CPU over the phase.
func runFlood(ctx context.Context, cfg config, h Hashing, c *client, pop *population, sched *scheduler, server cpuMeter) (checks, logins PhaseReport, fr FloodReport) {
	fr = FloodReport{Factor: cfg.floodFactor, ServerCPUs: h.ServerCPUs, HashMS: h.HashMS, HashMeasured: h.Measured,
		Capacity: h.PerSecond, Target: round(cfg.floodFactor*h.PerSecond, 1), Inflight: cfg.floodInflight}
	fmt.Fprintf(os.Stderr, "phase flood: one hash %.1f ms, %d server CPUs: capacity %.0f/s, sending logins at %.0f/s (at most %d in flight) beside the checks…\n",
		fr.HashMS, fr.ServerCPUs, fr.Capacity, fr.Target, fr.Inflight)

	// The logins get their own connection pool, so they neither starve the
	// checks' connections nor reuse them.
	lc := newClient(c.base, c.appKey, c.adminKey, cfg.floodInflight)
	stopCPU := server.start()
	done := make(chan struct{})
	go func() {
		defer close(done)
		logins, fr.Sent, fr.Unsent = floodLogins(ctx, lc, pop, fr.Target, cfg.duration, cfg.floodInflight)
	}()
	checks = runPhase(ctx, cfg, "flood", "verifications", checkWork(c, pop, sched))
	<-done
	// The CPU goes to the checks and the logins alike, so none is per check.
	if d, ok := stopCPU(); ok {
		checks.ServerCPUSeconds = round(d.Seconds(), 2)
	}
	if server.pid > 0 {
		if kib, procs, err := treePeakRSS(server.proc, server.pid); err != nil {
			fmt.Fprintf(os.Stderr, "phase flood: server peak RSS: %v\n", err)
		} else {
			fr.PeakRSSKiB, fr.PeakRSSProcs = kib, procs
		}
	}
	return checks, logins, fr
}

// floodLogins sends password logins at rate per second for duration, round
// robin over the password users, at most inflight at once. It stops sending at the deadline (or after
// rate × duration logins, at most maxAttempts) and waits for the answers.
func floodLogins(ctx context.Context, c *client, pop *population, rate float64, duration time.Duration, inflight int) (rep PhaseReport, sent, unsent int64) {
	start := time.Now()
	deadline := start.Add(duration)
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	all := newTally(deadline)
	var mu sync.Mutex // guards all; a few hundred logins a second contend little
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	tick := time.NewTicker(floodTick)
	defer tick.Stop()
	limit := min(int64(rate*duration.Seconds())+1, maxAttempts)
	for issued := int64(0); issued < limit; {
		select {
		case <-pctx.Done():
		case <-tick.C:
		}
		if pctx.Err() != nil {
			break
		}
		for due := min(int64(rate*time.Since(start).Seconds())+1, limit); issued < due; issued++ {
			select {
			case sem <- struct{}{}:
			default:
				unsent++
				continue
			}
			user := pop.passwords[issued%int64(len(pop.passwords))]
			sent++
			wg.Go(func() {
				defer func() { <-sem }()
				t := newTally(deadline)
				passwordLogin(ctx, c, user, t)
				mu.Lock()
				all.merge(t)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	rep = newPhaseReport("flood logins", "logins", all, elapsed, min(elapsed, duration), 0)
	if ctx.Err() != nil {
		rep.StoppedBy = "interrupted"
	} else if sent+unsent == maxAttempts {
		rep.StoppedBy = "attempt cap"
	}
	return rep, sent, unsent
}
