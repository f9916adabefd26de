package flow_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/delivery/devbox"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
	"github.com/countersign/countersign/internal/testutil/pgtest"
	"github.com/countersign/countersign/internal/totp"
)

// Cheap hashing parameters keep the suite fast; the flow does not depend on cost.
var testParams = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable time source shared by the engine and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	eng    *flow.Engine
	dir    *directory.Service
	clock  *clock
	tenant *store.Tenant
	app    flow.Caller
	app2   flow.Caller
	admin  flow.Caller
	box    *devbox.Box
	worker *outbox.Worker
}

// eachStore runs fn against SQLite and PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cs.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, newEnv(t, st))
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		st, err := sqlstore.OpenPostgres(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, newEnv(t, st))
	})
}

func newEnv(t *testing.T, st store.Store) *env {
	t.Helper()
	keys, err := keyring.New(map[string][]byte{"k1": make([]byte, 32)}, "k1", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	// Start mid-step so drift tests are not on a boundary.
	c := &clock{t: time.Unix(1_900_000_005, 0).UTC()}
	eng := &flow.Engine{Store: st, Hasher: password.NewHasher(testParams, 4, time.Second), Keys: keys, Now: c.Now,
		Log: slog.New(slog.DiscardHandler)}
	dir := &directory.Service{Store: st, Hasher: eng.Hasher, Engine: eng, KeyCacheTTL: time.Minute}
	ctx := t.Context()
	tn, err := dir.CreateTenant(ctx, "acme", "Acme Health")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, st: st, eng: eng, dir: dir, clock: c, tenant: tn,
		admin: flow.Caller{TenantID: tn.ID, Actor: "admin:test", IP: "192.0.2.1", Role: store.RoleAdmin}}
	a1, _, err := dir.CreateApplication(ctx, e.admin, "portal")
	if err != nil {
		t.Fatal(err)
	}
	a2, _, err := dir.CreateApplication(ctx, e.admin, "desktop")
	if err != nil {
		t.Fatal(err)
	}
	e.box = &devbox.Box{}
	e.worker = &outbox.Worker{Store: st, Keys: keys, ID: "test", Now: c.Now,
		Route: func(string, string) (string, delivery.Sender, error) { return "dev", e.box, nil }}
	e.app = flow.Caller{TenantID: tn.ID, ApplicationID: a1.ID, Actor: "app:" + a1.ID, IP: "198.51.100.7"}
	e.app2 = flow.Caller{TenantID: tn.ID, ApplicationID: a2.ID, Actor: "app:" + a2.ID, IP: "198.51.100.8"}
	return e
}

const goodPassword = "Correct-Horse-42"

func (e *env) user(loginID string, groups ...string) *store.User {
	e.t.Helper()
	u, err := e.dir.CreateUser(e.ctx, e.admin, directory.NewUser{LoginID: loginID, Password: goodPassword, Groups: groups})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// enrol gives u an active authenticator and returns its secret.
func (e *env) enrol(u *store.User) []byte {
	e.t.Helper()
	en, err := e.eng.AdminBeginTOTPEnrolment(e.ctx, e.admin, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	secret := secretOf(e.t, en)
	// Confirm with the previous step's code so the current step stays usable.
	code := totp.CodeAt(secret, totp.Step(e.clock.Now())-1)
	if _, err := e.eng.ConfirmTOTPEnrolment(e.ctx, e.admin, en.Factor.ID, code, nil); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

func secretOf(t *testing.T, en *flow.Enrolment) []byte {
	t.Helper()
	var compact []byte
	for _, c := range en.Secret {
		if c != ' ' {
			compact = append(compact, byte(c))
		}
	}
	s, err := base32NoPad.DecodeString(string(compact))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) code(secret []byte, offset int64) string {
	return totp.CodeAt(secret, totp.Step(e.clock.Now())+offset)
}

func (e *env) setPolicy(mut func(p *policy.Policy)) {
	e.t.Helper()
	_, p, err := e.eng.Policy(e.ctx, e.tenant.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	mut(&p)
	doc, err := json.Marshal(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.dir.SetPolicy(e.ctx, e.admin, doc); err != nil {
		e.t.Fatal(err)
	}
}

// audit returns the events of one user with this event name and outcome.
func (e *env) audit(userID, event, outcome string) []store.AuditEvent {
	e.t.Helper()
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{TenantID: e.tenant.ID, UserID: userID, Event: event, Outcome: outcome, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func (e *env) reload(u *store.User) *store.User {
	e.t.Helper()
	got, err := e.st.UserByID(e.ctx, e.tenant.ID, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// deliver runs the outbox and returns every message delivered so far, newest first.
func (e *env) deliver() []devbox.Entry {
	e.t.Helper()
	for {
		n, err := e.worker.RunOnce(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return e.box.Entries()
		}
	}
}

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

// lastCode returns the code in the newest message to this destination.
func (e *env) lastCode(to string) string {
	e.t.Helper()
	for _, m := range e.deliver() {
		if m.To == to {
			if c := codeRE.FindString(m.Text); c != "" {
				return c
			}
		}
	}
	e.t.Fatalf("no code delivered to %s", to)
	return ""
}

// race starts n goroutines at once and collects their errors.
func race(n int, fn func(i int) error) []error {
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)
