package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// maxDuration caps each phase so a mistyped -duration cannot run for hours.
	maxDuration = 2 * time.Minute
	maxRounds   = 10
)

type config struct {
	url           string
	appKey        string
	adminKey      string
	users         int
	passwordUsers int
	concurrency   int
	duration      time.Duration
	phases        []string
	prefix        string
	json          bool
	tenant        string
	clientID      string
	clientSecret  string
	codes         int
	helloURL      string
	floodFactor   float64
	serverCPUs    int
	hashMS        float64
	serverPID     int
	floodInflight int
	rounds        int
	jsonFile      string
}

var phaseNames = []string{"hello", "totp", "password", "mfa", "oidc", "flood"}

// defaultPhases leaves out oidc, which needs a registered client, the
// hello reference and the flood.
var defaultPhases = []string{"totp", "password", "mfa"}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	var phases string
	fs := flag.NewFlagSet("countersign-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.url, "url", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&cfg.appKey, "app-key", getenv("COUNTERSIGN_LOAD_APP_KEY"), "application API key (env COUNTERSIGN_LOAD_APP_KEY)")
	fs.StringVar(&cfg.adminKey, "admin-key", getenv("COUNTERSIGN_LOAD_ADMIN_KEY"), "admin API key with role admin (env COUNTERSIGN_LOAD_ADMIN_KEY)")
	fs.IntVar(&cfg.users, "users", 3000, "distinct TOTP users; each allows about two verifications per 30 s")
	fs.IntVar(&cfg.passwordUsers, "password-users", 50, "users with a password for the password and flood phases")
	fs.IntVar(&cfg.concurrency, "concurrency", 64, "concurrent workers")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each phase (at most 2m)")
	fs.StringVar(&phases, "phases", strings.Join(defaultPhases, ","), "phases to run, in order: hello, totp, password, mfa, oidc, flood")
	fs.StringVar(&cfg.prefix, "prefix", randomString(4, alnum), "login ID prefix, random by default so runs do not collide")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.StringVar(&cfg.tenant, "tenant", "load", "tenant slug, for the oidc phase's issuer and hosted login")
	fs.StringVar(&cfg.clientID, "client-id", getenv("COUNTERSIGN_LOAD_CLIENT_ID"), "OpenID Connect client for the oidc phase (env COUNTERSIGN_LOAD_CLIENT_ID; see countersign oidc client create)")
	fs.StringVar(&cfg.clientSecret, "client-secret", getenv("COUNTERSIGN_LOAD_CLIENT_SECRET"), "its secret (env COUNTERSIGN_LOAD_CLIENT_SECRET)")
	fs.IntVar(&cfg.codes, "codes", 200, "authorization codes the oidc phase obtains (starting sign-ins for at most 35 s, as codes live a minute) before timing their exchange (at most 5000)")
	fs.StringVar(&cfg.helloURL, "hello-url", "", "base URL of an external hello-world server for the hello phase (default: one the tool starts in-process)")
	fs.Float64Var(&cfg.floodFactor, "flood-factor", 10, "the flood phase sends password logins at this many times the server's hashing capacity")
	fs.IntVar(&cfg.serverCPUs, "server-cpus", runtime.NumCPU(), "cores of the server's machine, for the hashing capacity (cores ÷ one hash time)")
	fs.Float64Var(&cfg.hashMS, "hash-ms", 0, "one argon2id hash on the server, in ms (default: measured here with the server's default parameters)")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "server process ID on this machine, to report its CPU per operation and, after the flood phase, its peak RSS (VmHWM), child processes included")
	fs.IntVar(&cfg.floodInflight, "flood-inflight", 1024, "the flood phase keeps at most this many logins in flight; those falling due beyond it are counted as not sent (at most 10000)")
	fs.IntVar(&cfg.rounds, "rounds", 1, "run the phases this many times in order after one setup, and summarize each ratio's min, median and max (at most 10)")
	fs.StringVar(&cfg.jsonFile, "json-file", "", "also write the JSON report to this file")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for p := range strings.SplitSeq(phases, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.phases = append(cfg.phases, p)
		}
	}
	cfg.url = strings.TrimRight(cfg.url, "/")
	cfg.helloURL = strings.TrimRight(cfg.helloURL, "/")
	return cfg, cfg.validate()
}

// validate reports every problem at once.
func (cfg *config) validate() error {
	var errs []error
	needs := map[string]bool{}
	for _, p := range cfg.phases {
		if !slices.Contains(phaseNames, p) {
			errs = append(errs, fmt.Errorf("-phases: unknown phase %q (want %s)", p, strings.Join(phaseNames, ", ")))
		}
		needs[p] = true
	}
	if len(cfg.phases) == 0 {
		errs = append(errs, errors.New("-phases: name at least one phase"))
	}
	// The hello phase alone talks to no Countersign server.
	onlyHello := len(cfg.phases) > 0 && !slices.ContainsFunc(cfg.phases, func(p string) bool { return p != "hello" })
	if cfg.adminKey == "" && !onlyHello {
		errs = append(errs, errors.New("-admin-key (or COUNTERSIGN_LOAD_ADMIN_KEY) is required to create the users"))
	}
	if cfg.appKey == "" && !onlyHello {
		errs = append(errs, errors.New("-app-key (or COUNTERSIGN_LOAD_APP_KEY) is required"))
	}
	if cfg.concurrency < 1 {
		errs = append(errs, errors.New("-concurrency must be at least 1"))
	}
	if cfg.duration <= 0 {
		errs = append(errs, errors.New("-duration must be positive"))
	}
	cfg.duration = min(cfg.duration, maxDuration)
	if (needs["totp"] || needs["mfa"] || needs["flood"]) && cfg.users < 1 {
		errs = append(errs, errors.New("-users must be at least 1 for the totp, mfa and flood phases"))
	}
	if !needs["totp"] && !needs["mfa"] && !needs["flood"] {
		cfg.users = 0
	}
	if (needs["password"] || needs["flood"]) && cfg.passwordUsers < 1 {
		errs = append(errs, errors.New("-password-users must be at least 1 for the password and flood phases"))
	}
	if !needs["password"] && !needs["flood"] {
		cfg.passwordUsers = 0
	}
	if needs["flood"] {
		if cfg.floodFactor <= 0 || cfg.floodFactor > 1000 {
			errs = append(errs, errors.New("-flood-factor must be above 0 and at most 1000"))
		}
		if cfg.floodInflight < 1 || cfg.floodInflight > maxFloodInflight {
			errs = append(errs, fmt.Errorf("-flood-inflight must be between 1 and %d", maxFloodInflight))
		}
	}
	if needs["password"] || needs["flood"] {
		if cfg.serverCPUs < 1 {
			errs = append(errs, errors.New("-server-cpus must be at least 1"))
		}
		if cfg.hashMS < 0 {
			errs = append(errs, errors.New("-hash-ms must not be negative"))
		}
	}
	if cfg.rounds < 1 || cfg.rounds > maxRounds {
		errs = append(errs, fmt.Errorf("-rounds must be between 1 and %d", maxRounds))
	}
	if needs["oidc"] && cfg.rounds > 1 {
		errs = append(errs, errors.New("-rounds: the oidc phase uses up the codes it prepared; run it with -rounds 1"))
	}
	if cfg.serverPID < 0 {
		errs = append(errs, errors.New("-server-pid must not be negative"))
	}
	if needs["oidc"] {
		if cfg.clientID == "" || cfg.clientSecret == "" {
			errs = append(errs, errors.New("-client-id and -client-secret are required for the oidc phase (countersign oidc client create --json prints them)"))
		}
		if cfg.codes < 1 || cfg.codes > maxCodes {
			errs = append(errs, fmt.Errorf("-codes must be between 1 and %d", maxCodes))
		}
		if strings.Trim(cfg.tenant, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || cfg.tenant == "" {
			errs = append(errs, fmt.Errorf("-tenant %q: not a tenant slug", cfg.tenant))
		}
	}
	if !needs["oidc"] {
		cfg.codes = 0
	}
	cfg.users, cfg.passwordUsers = max(cfg.users, 0), max(cfg.passwordUsers, 0)
	if strings.Trim(cfg.prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") != "" || cfg.prefix == "" {
		errs = append(errs, fmt.Errorf("-prefix %q: use letters, digits and ._-@ only", cfg.prefix))
	}
	// Login IDs are prefix, a kind letter and an index; the seed policy allows 15 characters.
	if longest := len(cfg.prefix) + 1 + len(strconv.Itoa(max(cfg.users, cfg.passwordUsers, oidcUsers(*cfg), 1)-1)); longest > 15 {
		errs = append(errs, fmt.Errorf("-prefix %q: login IDs would be %d characters, more than 15", cfg.prefix, longest))
	}
	return errors.Join(errs...)
}

// Report is the whole result, as -json prints it.
type Report struct {
	URL         string      `json:"url"`
	Machine     Machine     `json:"client_machine"`
	Concurrency int         `json:"concurrency"`
	Duration    float64     `json:"phase_seconds"`
	Prefix      string      `json:"prefix"`
	Setup       SetupReport `json:"setup"`
	// Hashing is the server's hashing capacity, when the password or flood
	// phase ran.
	Hashing *Hashing `json:"hashing,omitempty"`
	// Codes is the oidc phase's preparation, when it ran.
	Codes  *PrepareReport `json:"oidc_codes,omitempty"`
	Rounds []Round        `json:"rounds"`
	// Summary is each ratio's min, median and max over the rounds, when
	// there were several.
	Summary []Summary `json:"summary,omitempty"`
}

// Round is one pass over the phases.
type Round struct {
	Phases []PhaseReport `json:"phases"`
	// Flood describes the flood phase's logins, when it ran.
	Flood *FloodReport `json:"flood,omitempty"`
	// Ratios are issue 14's ratios and figures among the phases that ran.
	Ratios []Ratio `json:"ratios,omitempty"`
}

// Machine describes where the tool ran; with scripts/load the server shares it.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	OS       string `json:"os"`
}

// SetupReport says what setup created and how long it took.
type SetupReport struct {
	TOTPUsers     int     `json:"totp_users"`
	PasswordUsers int     `json:"password_users"`
	Seconds       float64 `json:"seconds"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "table" {
		return runTable(args[1:], stdout, os.Stderr)
	}
	cfg, err := parseFlags(args, os.Getenv, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	c := newClient(cfg.url, cfg.appKey, cfg.adminKey, cfg.concurrency)
	rep := Report{URL: cfg.url, Machine: machine(), Concurrency: cfg.concurrency, Duration: cfg.duration.Seconds(), Prefix: cfg.prefix}

	fmt.Fprintf(os.Stderr, "setup: creating %d TOTP users and %d password users (prefix %s)…\n", cfg.users, cfg.passwordUsers, cfg.prefix)
	start := time.Now()
	pop, err := setup(ctx, c, cfg)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	rep.Setup = SetupReport{TOTPUsers: cfg.users, PasswordUsers: cfg.passwordUsers, Seconds: round(time.Since(start).Seconds(), 2)}

	proc := os.DirFS("/proc")
	r := runner{cfg: cfg, c: c, pop: pop, sched: newScheduler(pop.lastStep), server: cpuMeter{proc: proc, pid: cfg.serverPID}}
	if slices.Contains(cfg.phases, "hello") {
		r.helloURL = cfg.helloURL
		if r.helloURL == "" {
			h, err := startHelloChild()
			if err != nil {
				return err
			}
			defer h.stop()
			r.helloURL, r.hello = h.url, cpuMeter{proc: proc, pid: h.pid}
		}
	}
	if slices.Contains(cfg.phases, "password") || slices.Contains(cfg.phases, "flood") {
		h := hashingCapacity(cfg)
		rep.Hashing, r.hashing = &h, h
	}
	for i := range cfg.rounds {
		if ctx.Err() != nil {
			break
		}
		if cfg.rounds > 1 {
			fmt.Fprintf(os.Stderr, "round %d of %d\n", i+1, cfg.rounds)
		}
		round, err := r.round(ctx, &rep)
		rep.Rounds = append(rep.Rounds, round)
		if err != nil {
			return err
		}
	}
	if len(rep.Rounds) > 1 {
		ratios := make([][]Ratio, len(rep.Rounds))
		for i, round := range rep.Rounds {
			ratios[i] = round.Ratios
		}
		rep.Summary = summarizeRounds(ratios)
	}
	if cfg.jsonFile != "" {
		if err := writeJSON(cfg.jsonFile, rep); err != nil {
			return err
		}
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printReport(stdout, rep)
}

func writeJSON(name string, rep Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(name, append(data, '\n'), 0o644)
}

// runner holds what every round's phases share: the users and their TOTP
// steps, the hello server and what measures the CPU.
type runner struct {
	cfg      config
	c        *client
	pop      *population
	sched    *scheduler
	helloURL string
	hello    cpuMeter // the hello server's process, when the tool started it
	server   cpuMeter // the Countersign server's, with -server-pid
	hashing  Hashing
}

// round runs every phase once, in order.
func (r *runner) round(ctx context.Context, rep *Report) (Round, error) {
	cfg := r.cfg
	var out Round
	for _, p := range cfg.phases {
		if ctx.Err() != nil {
			break
		}
		if p != "oidc" {
			fmt.Fprintf(os.Stderr, "phase %s: %s with %d workers…\n", p, cfg.duration, cfg.concurrency)
		}
		switch p {
		case "hello":
			hc := newClient(r.helloURL, "hello", "", cfg.concurrency)
			out.Phases = append(out.Phases, measured(r.hello, func() PhaseReport {
				return runPhase(ctx, cfg, p, "answers", helloWork(hc, cfg.prefix))
			}))
		case "totp":
			out.Phases = append(out.Phases, measured(r.server, func() PhaseReport {
				return runPhase(ctx, cfg, p, "verifications", checkWork(r.c, r.pop, r.sched))
			}))
		case "password":
			out.Phases = append(out.Phases, measured(r.server, func() PhaseReport {
				return runPhase(ctx, cfg, p, "logins", passwordWork(r.c, r.pop))
			}))
		case "mfa":
			out.Phases = append(out.Phases, measured(r.server, func() PhaseReport {
				return runPhase(ctx, cfg, p, "logins", mfaWork(r.c, r.pop, r.sched))
			}))
		case "flood":
			checks, logins, fr := runFlood(ctx, cfg, r.hashing, r.c, r.pop, r.sched, r.server)
			out.Phases = append(out.Phases, checks, logins)
			out.Flood = &fr
		case "oidc":
			fmt.Fprintf(os.Stderr, "phase oidc: obtaining %d authorization codes through the hosted login…\n", cfg.codes)
			codes, prep, err := prepareCodes(ctx, r.c, cfg)
			rep.Codes = &prep
			if err != nil {
				return out, fmt.Errorf("oidc phase: %w", err)
			}
			fmt.Fprintf(os.Stderr, "phase oidc: %d codes in %.1fs; exchanging them with %d workers…\n", len(codes), prep.Seconds, cfg.concurrency)
			out.Phases = append(out.Phases, measured(r.server, func() PhaseReport {
				return runPhase(ctx, cfg, p, "exchanges", exchangeWork(r.c, cfg, codes), int64(len(codes)))
			}))
		}
	}
	var h *Hashing
	if rep.Hashing != nil {
		h = &r.hashing
	}
	out.Ratios = roundRatios(out.Phases, out.Flood, h)
	return out, nil
}

// measured runs a phase and adds the CPU m's process tree used meanwhile.
func measured(m cpuMeter, phase func() PhaseReport) PhaseReport {
	stop := m.start()
	p := phase()
	if d, ok := stop(); ok {
		p.ServerCPUSeconds = round(d.Seconds(), 2)
		p.CPUPerOpMicros = cpuPerOp(d, p.Successes)
	}
	return p
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func round(x float64, places int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}
