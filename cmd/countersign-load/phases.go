package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countersign/countersign/internal/totp"
)

// maxAttempts bounds every phase even if the server answers faster than
// anything plausible, so the report's memory stays bounded too.
const maxAttempts = 2_000_000

// PhaseReport is one phase's measurement.
type PhaseReport struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Seconds   float64 `json:"seconds"`
	StoppedBy string  `json:"stopped_by"`
	Attempts  int64   `json:"attempts"`
	Successes int64   `json:"successes"`
	Failures  int64   `json:"failures"`
	PerSecond float64 `json:"per_second"` // successes completed per second of the phase window
	Requests  int64   `json:"requests"`
	// Latency covers successful attempts only, from the first request sent
	// to the last answer read.
	Latency  Latency          `json:"latency"`
	Outcomes map[string]int64 `json:"outcomes"` // per HTTP request
	// BusyShare is the share of requests answered 503 (hashing pool full).
	BusyShare float64 `json:"busy_share"`
	// ServerCPUSeconds is the CPU time the server and its child processes
	// used from the phase's start to its end, with -server-pid (for hello,
	// the hello server's, when the tool started it).
	ServerCPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
	// CPUPerOpMicros is that time per success, in µs; not given for the
	// flood, whose checks and logins share it.
	CPUPerOpMicros float64 `json:"server_cpu_us_per_op,omitempty"`
	// IdleShare is the share of worker time spent waiting for a fresh TOTP
	// step because every user had used its usable ones: when it is large the
	// user count, not the server, limited the rate.
	IdleShare float64 `json:"idle_share"`
}

// work performs one attempt, recording it in t; it reports false when no
// user can be tried before the next TOTP step.
type work func(ctx context.Context, t *tally) bool

// runPhase runs work on cfg.concurrency workers until the phase duration
// has passed or maxAttempts attempts (or limit, when one is given: the
// oidc phase's number of codes) were started. Requests in flight at the
// deadline finish and count, so a slow answer is not cut off as an error.
func runPhase(ctx context.Context, cfg config, name, unit string, do work, limit ...int64) PhaseReport {
	start := time.Now()
	deadline := start.Add(cfg.duration)
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var budget atomic.Int64
	budget.Store(maxAttempts)
	capName := "attempt cap"
	if len(limit) > 0 && limit[0] < maxAttempts {
		budget.Store(limit[0])
		capName = "codes used"
	}
	var capped atomic.Bool
	tallies := make([]*tally, cfg.concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		t := newTally(deadline)
		tallies[i] = t
		wg.Go(func() {
			for pctx.Err() == nil {
				if budget.Add(-1) < 0 {
					capped.Store(true)
					return
				}
				if do(ctx, t) {
					continue
				}
				budget.Add(1)
				idle := time.Now()
				sleep(pctx, untilNextStep(idle)+20*time.Millisecond)
				t.idle += time.Since(idle)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The rate counts what completed inside the window: the drain after the
	// deadline would otherwise stretch the time without adding a full
	// window's worth of attempts.
	window := min(elapsed, cfg.duration)

	all := newTally(deadline)
	for _, t := range tallies {
		all.merge(t)
	}
	rep := newPhaseReport(name, unit, all, elapsed, window, cfg.concurrency)
	switch {
	case ctx.Err() != nil:
		rep.StoppedBy = "interrupted"
	case capped.Load():
		rep.StoppedBy = capName
	}
	return rep
}

// newPhaseReport summarizes a phase's merged tally; the rate counts the
// successes completed inside window. workers is 0 for the flood's logins,
// which have no workers and so no idle share.
func newPhaseReport(name, unit string, all *tally, elapsed, window time.Duration, workers int) PhaseReport {
	rep := PhaseReport{
		Name: name, Unit: unit, Seconds: round(elapsed.Seconds(), 2), StoppedBy: "duration",
		Attempts: all.attempts, Successes: all.successes, Failures: all.attempts - all.successes,
		PerSecond: round(float64(all.inWindow)/window.Seconds(), 1), Requests: all.requests,
		Latency: summarize(all.latencies), Outcomes: all.outcomes,
	}
	if workers > 0 {
		rep.IdleShare = round(all.idle.Seconds()/(elapsed.Seconds()*float64(workers)), 3)
	}
	if all.requests > 0 {
		rep.BusyShare = round(float64(all.busy)/float64(all.requests), 4)
	}
	return rep
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// checkWork is the one-shot check: one request per verification.
func checkWork(c *client, pop *population, sched *scheduler) work {
	return func(ctx context.Context, t *tally) bool {
		u, step, ok := sched.take(totp.Step(time.Now()))
		if !ok {
			return false
		}
		user := &pop.totp[u]
		start := time.Now()
		var ans loginAnswer
		r := c.post(ctx, c.appKey, "/api/v1/auth/check", map[string]string{"login_id": user.loginID, "code": totp.CodeAt(user.secret, step)}, &ans)
		d := time.Since(start)
		sched.put(u, step)
		t.record("", statusAnswer(r, ans, "allowed"))
		t.finish(r.ok() && ans.Status == "allowed", d)
		return true
	}
}

// mfaWork is the two-request flow: begin a login transaction, then verify it.
func mfaWork(c *client, pop *population, sched *scheduler) work {
	return func(ctx context.Context, t *tally) bool {
		u, step, ok := sched.take(totp.Step(time.Now()))
		if !ok {
			return false
		}
		user := &pop.totp[u]
		start := time.Now()
		defer sched.put(u, step)
		var begun loginAnswer
		r := c.post(ctx, c.appKey, "/api/v1/auth/mfa", map[string]string{"login_id": user.loginID}, &begun)
		t.record("mfa ", statusAnswer(r, begun, "mfa_required"))
		if !r.ok() || begun.Status != "mfa_required" {
			t.finish(false, time.Since(start))
			return true
		}
		var ans loginAnswer
		r = c.post(ctx, c.appKey, "/api/v1/auth/transactions/"+begun.TransactionID+"/verify", map[string]string{"code": totp.CodeAt(user.secret, step)}, &ans)
		d := time.Since(start)
		t.record("verify ", statusAnswer(r, ans, "allowed"))
		t.finish(r.ok() && ans.Status == "allowed", d)
		return true
	}
}

// passwordWork logs the password users in, round robin. They have no factor
// and the default policy requires one, so success is enrolment_required.
func passwordWork(c *client, pop *population) work {
	var next atomic.Uint64
	return func(ctx context.Context, t *tally) bool {
		passwordLogin(ctx, c, pop.passwords[next.Add(1)%uint64(len(pop.passwords))], t)
		return true
	}
}

// passwordLogin logs one password user in, recording the attempt in t.
func passwordLogin(ctx context.Context, c *client, user passwordUser, t *tally) {
	start := time.Now()
	var ans loginAnswer
	r := c.post(ctx, c.appKey, "/api/v1/auth/login", map[string]string{"login_id": user.loginID, "password": user.password}, &ans)
	d := time.Since(start)
	t.record("", statusAnswer(r, ans, "enrolment_required"))
	t.finish(r.ok() && ans.Status == "enrolment_required", d)
}

// statusAnswer marks a 2xx answer whose status is not the expected one, so
// the report shows it apart from the successes.
func statusAnswer(r reply, ans loginAnswer, want string) reply {
	if r.ok() && ans.Status != want {
		r.name = "status=" + ans.Status
	}
	return r
}
