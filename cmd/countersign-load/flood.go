package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/countersign/countersign/internal/password"
)

// The flood phase runs the totp phase's checks while password logins arrive
// at -flood-factor times the server's hashing capacity, so the report shows
// what a password flood costs the checks (issue 14). The logins are open
// loop: they are sent on a schedule, not when an answer comes back, as a
// flood would be; at most maxInFlight are outstanding, and those due while
// all slots were taken are counted as not sent rather than queued.

const (
	maxInFlight = 256
	// floodTick is how often the schedule sends the logins that fell due.
	floodTick = 5 * time.Millisecond
)

// FloodReport describes the flood's logins beside the checks' row.
type FloodReport struct {
	Factor       float64 `json:"factor"`
	ServerCPUs   int     `json:"server_cpus"`
	HashMS       float64 `json:"hash_ms"`       // one argon2id hash with the server's default parameters
	HashMeasured bool    `json:"hash_measured"` // false when -hash-ms gave it
	Capacity     float64 `json:"capacity_per_second"`
	Target       float64 `json:"target_per_second"`
	Sent         int64   `json:"sent"`
	Unsent       int64   `json:"unsent"` // due while maxInFlight logins were outstanding
	// PeakRSSKiB is the server's VmHWM at the end of the phase: its peak
	// resident set over its whole life, setup included. Zero without -server-pid.
	PeakRSSKiB int64 `json:"server_peak_rss_kib,omitempty"`
}

// hashTime measures one argon2id hash with the server's default parameters
// on this machine: the fastest of three, after one to warm up.
func hashTime() time.Duration {
	p := password.DefaultParams
	salt := make([]byte, p.SaltLen)
	best := time.Duration(1<<63 - 1)
	for i := range 4 {
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
// logins at the flood rate, both for cfg.duration.
func runFlood(ctx context.Context, cfg config, c *client, pop *population, sched *scheduler) (checks, logins PhaseReport, fr FloodReport) {
	hash := time.Duration(cfg.hashMS * float64(time.Millisecond))
	fr.HashMeasured = hash <= 0
	if fr.HashMeasured {
		hash = hashTime()
	}
	fr.Factor, fr.ServerCPUs, fr.HashMS = cfg.floodFactor, cfg.serverCPUs, round(hash.Seconds()*1000, 2)
	fr.Capacity = round(capacity(cfg.serverCPUs, hash), 1)
	fr.Target = round(cfg.floodFactor*capacity(cfg.serverCPUs, hash), 1)
	fmt.Fprintf(os.Stderr, "phase flood: one hash %.1f ms, %d server CPUs: capacity %.0f/s, sending logins at %.0f/s beside the checks…\n",
		fr.HashMS, fr.ServerCPUs, fr.Capacity, fr.Target)

	// The logins get their own connection pool, so they neither starve the
	// checks' connections nor reuse them.
	lc := newClient(c.base, c.appKey, c.adminKey, maxInFlight)
	done := make(chan struct{})
	go func() {
		defer close(done)
		logins, fr.Sent, fr.Unsent = floodLogins(ctx, lc, pop, fr.Target, cfg.duration)
	}()
	checks = runPhase(ctx, cfg, "flood", "verifications", checkWork(c, pop, sched))
	<-done
	if cfg.serverPID > 0 {
		if kib, err := peakRSS(cfg.serverPID); err != nil {
			fmt.Fprintf(os.Stderr, "phase flood: server peak RSS: %v\n", err)
		} else {
			fr.PeakRSSKiB = kib
		}
	}
	return checks, logins, fr
}

// floodLogins sends password logins at rate per second for duration, round
// robin over the password users. It stops sending at the deadline (or after
// rate × duration logins, at most maxAttempts) and waits for the answers.
func floodLogins(ctx context.Context, c *client, pop *population, rate float64, duration time.Duration) (rep PhaseReport, sent, unsent int64) {
	start := time.Now()
	deadline := start.Add(duration)
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	all := newTally(deadline)
	var mu sync.Mutex // guards all; a few hundred logins a second contend little
	sem := make(chan struct{}, maxInFlight)
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

// peakRSS reads a process's VmHWM, its peak resident set, in KiB.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmHWM(string(data))
}

func parseVmHWM(status string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM line")
}

// floodRatios compares the checks under the flood with the checks alone,
// when both the totp and the flood phase ran.
func floodRatios(phases []PhaseReport) []Ratio {
	var alone, flood *PhaseReport
	for i := range phases {
		switch phases[i].Name {
		case "totp":
			alone = &phases[i]
		case "flood":
			flood = &phases[i]
		}
	}
	if alone == nil || flood == nil || alone.PerSecond <= 0 {
		return nil
	}
	note := idleNote(*alone, *flood)
	out := []Ratio{{Name: "flood checks ÷ checks alone", Value: round(flood.PerSecond/alone.PerSecond, 3), Note: note}}
	if alone.Latency.P99 > 0 && flood.Successes > 0 {
		out = append(out, Ratio{Name: "flood checks' p99 ÷ checks alone's p99", Value: round(flood.Latency.P99/alone.Latency.P99, 3), Note: note})
	}
	return out
}
