package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/api"
	"github.com/countersign/countersign/internal/auditchain"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/delivery/devbox"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/oidc"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/portal"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/pushhook"
	"github.com/countersign/countersign/internal/requestid"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
	"github.com/countersign/countersign/internal/voicehook"
)

// Server is an assembled Countersign.
type Server struct {
	Config    config.Config
	Store     *sqlstore.Store
	Engine    *flow.Engine
	Directory *directory.Service
	// Sealer chains the audit events this and other servers append (X6).
	Sealer  *auditchain.Sealer
	Handler http.Handler
	Log     *slog.Logger
	// DevBox is the development provider's mailbox, when one is configured.
	DevBox *devbox.Box
	// devPage is whether DevBox's page is served, at /dev/outbox.
	devPage bool
	portal  *portal.Portal
	// profilerAddr is where pprof_addr's profiler listens, once serving.
	profilerAddr string
	oidc         *oidc.Provider

	lock            *os.File // the SQLite data directory's, nil on PostgreSQL
	route           outbox.Route
	workers         []*outbox.Worker
	instance        string
	observeDelivery func(channel, outcome string)

	// stopping is closed when a stop begins: long polls answer, /readyz turns
	// away new traffic.
	stopping chan struct{}
	stopOnce sync.Once
	// background is the work Start began: workers and the sweep.
	background sync.WaitGroup
}

// Core opens the database and the keyring and builds the engine and the
// directory; the command line uses it without the HTTP part. On SQLite it
// shares the data directory's lock with other commands; beside a running
// server, which holds the lock alone, it neither locks nor migrates.
func Core(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	return core(ctx, cfg, log, false)
}

func core(ctx context.Context, cfg config.Config, log *slog.Logger, exclusive bool) (s *Server, err error) {
	var lock *os.File
	var opts []sqlstore.Option
	if cfg.Dialect() == sqlstore.DialectSQLite {
		lock, err = lockDataDir(cfg.DataDir, exclusive)
		switch {
		case err == nil:
			defer func() {
				if err != nil {
					lock.Close()
				}
			}()
		case !exclusive && errors.Is(err, ErrDataDirInUse):
			opts = append(opts, sqlstore.WithoutMigrating())
		default:
			return nil, err
		}
	}
	// Operator commands hash a password now and then: in this process.
	hasher, err := newHasher(cfg, nil)
	if err != nil {
		return nil, err
	}
	eng := &flow.Engine{Hasher: hasher, Now: time.Now, Log: log, PolicyTTL: 5 * time.Second, PublicURL: cfg.PublicURL}
	// The store asks the engine each time, so a clock set on the engine later
	// (a test's) stamps rows too.
	st, err := sqlstore.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath(), append(opts, sqlstore.WithClock(eng.CurrentTime))...)
	if errors.Is(err, sqlstore.ErrMigrationsPending) {
		return nil, fmt.Errorf("open database: %w, and a server is serving %s: migrations apply only while no server runs. "+
			"Stop the server, then run this command again (or start the new version's server, which applies them)", err, cfg.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// The keys are checked against the database, so it opens first.
	if eng.Keys, err = openKeys(ctx, cfg, st, eng.CurrentTime); err != nil {
		st.Close()
		return nil, err
	}
	eng.Store = st
	dir := &directory.Service{Store: st, Hasher: hasher, Engine: eng, KeyCacheTTL: 30 * time.Second}
	senders, box, err := providers(cfg.Delivery)
	if err != nil {
		st.Close()
		return nil, err
	}
	host, _ := os.Hostname()
	s = &Server{Config: cfg, Store: st, Engine: eng, Directory: dir, Log: log, DevBox: box, lock: lock, instance: host + "-" + store.NewID("srv"),
		stopping: make(chan struct{})}
	s.Sealer = &auditchain.Sealer{Store: st, Keys: eng.Keys, Now: eng.CurrentTime, Log: log, CheckpointEvery: auditchain.DefaultCheckpointEvery}
	s.route = (&router{cfg: cfg.Delivery, senders: senders, store: st}).route
	dir.Providers = func(slug, channel string) (string, string) {
		name := cfg.Delivery.Route(slug, channel)
		if _, ok := senders[name]; !ok {
			return name, ""
		}
		return name, cfg.Delivery.Providers[name].Type
	}
	eng.Notify = s.notify
	return s, nil
}

// newHasher builds the password hasher cfg describes, computing in a
// worker process when process is set.
func newHasher(cfg config.Config, process *password.ProcessOptions) (*password.Hasher, error) {
	pw := cfg.Password
	return password.New(password.Params{
		Memory: pw.MemoryKiB, Iterations: pw.Iterations, Parallelism: pw.Parallelism,
		SaltLen: password.DefaultParams.SaltLen, KeyLen: password.DefaultParams.KeyLen,
	}, password.Options{Workers: pw.Workers, QueueWait: pw.QueueWait, Queue: pw.QueueLength, Process: process})
}

// Option adjusts what New builds.
type Option func(*options)

type options struct {
	hashWorker []string
}

// HashWorker is the command that runs password.RunWorker: the countersign
// program and its hash-worker sub-command. With password.isolation:
// process, New starts it and hashes there at password.nice; without this
// option New hashes in this process whatever the configuration says, since
// only the caller knows which program can act as the worker.
func HashWorker(path string, args ...string) Option {
	return func(o *options) { o.hashWorker = append([]string{path}, args...) }
}

// New builds the whole server, HTTP handler included.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s, err := core(ctx, cfg, log, true)
	if err != nil {
		return nil, err
	}
	if len(o.hashWorker) > 0 && cfg.Password.Isolation == config.IsolationProcess {
		h, err := newHasher(cfg, &password.ProcessOptions{Path: o.hashWorker[0], Args: o.hashWorker[1:], Nice: cfg.Password.Nice, Log: log})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("password hashing: %w", err)
		}
		s.Engine.Hasher, s.Directory.Hasher = h, h
		log.Info("password hashing in a worker process", "pid", h.WorkerPID(), "nice", cfg.Password.Nice)
	}
	m := newMetrics(s.Engine.Hasher, s.Store)
	s.Engine.Observe = m.observeGuess
	s.observeDelivery = m.observeDelivery
	proxies := cfg.TrustedProxyPrefixes()
	a := &api.API{Engine: s.Engine, Directory: s.Directory, Log: log, ClientIP: clientIP(proxies), Observe: m.observeRequest,
		Stopping: s.stopping, PublicBase: PublicBase(cfg)}
	mux := http.NewServeMux()
	a.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", m.handler())
	(&voicehook.Handler{Engine: s.Engine, Provider: s.voiceProvider, Log: log}).Register(mux)
	(&pushhook.Handler{Engine: s.Engine, Log: log}).Register(mux)
	s.Engine.PushBase = PublicBase(cfg)
	pt, err := portal.New(s.Engine, log, clientIP(proxies), strings.HasPrefix(cfg.PublicURL, "https://"))
	if err != nil {
		s.Close()
		return nil, err
	}
	pt.Directory = s.Directory
	pt.Base = PublicBase(cfg)
	pt.Register(mux)
	op, err := oidc.New(s.Engine, PublicBase(cfg), log, clientIP(proxies))
	if err != nil {
		s.Close()
		return nil, err
	}
	op.ErrorPage = pt.SignOnError
	op.Register(mux)
	s.portal, s.oidc = pt, op
	if s.DevBox != nil && devPageEnabled(cfg) {
		s.DevBox.Phone = &devPhone{engine: s.Engine}
		mux.Handle("/dev/", s.DevBox.Handler())
		s.devPage = true
	}
	mux.HandleFunc("GET /{$}", s.home)
	s.Handler = withRequest(log, fromTrustedProxy(proxies), securityHeaders(mux))
	return s, nil
}

// ready answers 200 only while the database takes writes: one that answers
// reads but cannot write (a full disk, a read-only file or standby) signs
// nobody in, and a load balancer should send people elsewhere.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	select {
	case <-s.stopping:
		// A stopping server takes no new work: the balancer moves on.
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("stopping\n"))
		return
	default:
	}
	if err := s.Store.ProbeWrite(ctx, s.Engine.CurrentTime()); err != nil {
		s.Log.Warn("readiness check failed", "err", err, "request_id", requestid.ID(r.Context()))
		if e, ok := problem.Lookup("temporarily_unavailable"); ok {
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database not writable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// isTrusted reports whether a is one of the trusted proxies.
func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromTrustedProxy reports whether a request's connection comes from a
// trusted proxy, the rule clientIP believes X-Forwarded-For by.
func fromTrustedProxy(trusted []netip.Prefix) func(*http.Request) bool {
	return func(r *http.Request) bool {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		return err == nil && isTrusted(trusted, ap.Addr().Unmap())
	}
}

// clientIP believes X-Forwarded-For only from trusted proxies, taking the
// right-most address that is not itself a trusted proxy.
func clientIP(trusted []netip.Prefix) func(*http.Request) string {
	return func(r *http.Request) string {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return ""
		}
		addr := ap.Addr().Unmap()
		if !isTrusted(trusted, addr) {
			return addr.String()
		}
		hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			if !isTrusted(trusted, a.Unmap()) {
				return a.Unmap().String()
			}
		}
		return addr.String()
	}
}

// Serve listens on the configured address until ctx ends, then shuts down
// gracefully within the configured timeout: long polls answer at once, the
// outbox workers finish their provider calls and hand back the rest of their
// batches, and Serve returns once the last request and the last worker are
// done, so the store can be closed under nothing. ready, if not nil,
// receives the bound address once listening.
func (s *Server) Serve(ctx context.Context, ready chan<- string) error {
	ln, err := net.Listen("tcp", s.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Config.Addr, err)
	}
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	if s.Config.PublicURL == "" && s.oidc != nil {
		// Without public_url the issuer is the address actually bound (a
		// port chosen by the system included), fixed before any request.
		base := "http://" + ln.Addr().String()
		s.oidc.Base, s.portal.Base, s.Engine.PushBase = base, base, base
	}
	if s.Config.PprofAddr != "" {
		stopProfiler, err := s.serveProfiler(s.Config.PprofAddr)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stopProfiler()
	}
	s.Log.Info("countersign listening", "addr", ln.Addr().String(), "database", s.Store.Dialect())
	s.logReady(ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	// The background work ends with ctx, or with Serve when serving fails,
	// so that Close never waits for workers nobody will stop.
	bg, stopBg := context.WithCancel(ctx)
	defer stopBg()
	s.Start(bg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopBg()
		s.background.Wait()
		return err
	case <-ctx.Done():
	}
	s.Log.Info("countersign stopping", "timeout", s.Config.ShutdownTimeout)
	s.stop()
	shutCtx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	// The workers began to stop with ctx; they are bounded by Drain and their
	// statements' own timeouts, so this wait ends.
	s.background.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.Log.Info("countersign stopped")
	return nil
}

// serveProfiler serves Go's profiler on its own loopback address (the
// configuration refuses any other), so that anyone operating the server
// can take a CPU or heap profile under load; nothing else is served there
// and the profiler is never on the public address.
func (s *Server) serveProfiler(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof_addr: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.Log.Info("profiler listening", "addr", ln.Addr().String())
	s.profilerAddr = ln.Addr().String()
	return func() { _ = srv.Close() }, nil
}

// ProfilerAddr is the address the profiler listens on, once Serve began it.
func (s *Server) ProfilerAddr() string { return s.profilerAddr }

// stop tells long polls and readiness that the server is going.
func (s *Server) stop() {
	s.stopOnce.Do(func() { close(s.stopping) })
}

// Start runs the background work, outbox workers and sweeping, until ctx
// ends.
func (s *Server) Start(ctx context.Context) {
	s.background.Go(func() { s.sweep(ctx) })
	s.background.Go(func() { s.seal(ctx) })
	s.startWorkers(ctx)
}

// seal chains new audit events at start and then every second, so an
// event waits about a second to be covered by its tenant's chain. Every
// server seals; the tenant's chain head lock makes them take turns.
func (s *Server) seal(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if _, err := s.Sealer.Seal(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("sealing audit events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep deletes login transactions, rate windows, portal sessions and the
// OpenID Connect provider's requests and tokens long past their end, tells
// people of enforcement phases scheduled and started (A1), and once an hour disables accounts left unused for the
// tenant's disable_after_inactive (C10).
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var inactiveAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := s.Engine.CurrentTime()
			if _, err := s.Store.DeleteExpiredLoginTxns(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				s.Log.Warn("sweeping expired login transactions", "err", err)
			}
			if _, err := s.Store.DeleteRateWindows(ctx, now.Add(-32*24*time.Hour)); err != nil && ctx.Err() == nil {
				s.Log.Warn("sweeping old rate windows", "err", err)
			}
			if _, err := s.Store.DeleteExpiredPortalSessions(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				s.Log.Warn("sweeping ended portal sessions", "err", err)
			}
			if _, err := s.Store.DeletePushChallengesBefore(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				s.Log.Warn("sweeping expired pushes", "err", err)
			}
			if _, err := s.Engine.CleanSignOn(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("sweeping expired sign-on requests and tokens", "err", err)
			}
			if n, err := s.Engine.NotifyPhases(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("telling people of enforcement phases", "err", err)
			} else if n > 0 {
				s.Log.Info("told people of enforcement phases", "messages", n)
			}
			if now.Sub(inactiveAt) >= time.Hour {
				inactiveAt = now
				if n, err := s.Engine.DisableInactiveUsers(ctx); err != nil && ctx.Err() == nil {
					s.Log.Warn("disabling inactive accounts", "err", err)
				} else if n > 0 {
					s.Log.Info("disabled inactive accounts", "count", n)
				}
			}
		}
	}
}

// Close ends the hashing worker process and releases the database once
// the background work Start began has ended (end its ctx first), then the
// data directory's lock.
func (s *Server) Close() error {
	s.stop()
	s.background.Wait()
	err := errors.Join(s.Engine.Hasher.Close(), s.Store.Close())
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
		s.lock = nil
	}
	return err
}
