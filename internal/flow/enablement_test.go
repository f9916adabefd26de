package flow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
)

// makeAdmin gives u the console role admin, which another part of the
// server manages; the checklist only counts it.
func (e *env) makeAdmin(u *store.User) {
	e.t.Helper()
	st := e.st.(*sqlstore.Store)
	q := `UPDATE users SET console_role = 'admin' WHERE id = ?`
	if st.Dialect() == sqlstore.DialectPostgres {
		q = `UPDATE users SET console_role = 'admin' WHERE id = $1`
	}
	if _, err := st.DB().ExecContext(e.ctx, q, u.ID); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) group(names ...string) {
	e.t.Helper()
	for _, n := range names {
		if _, err := e.dir.CreateGroup(e.ctx, e.admin, n); err != nil {
			e.t.Fatal(err)
		}
	}
}

func wantName(t *testing.T, what string, err error, name string) {
	t.Helper()
	if got := problem.From(err, problem.Context{}).Name; got != name {
		t.Fatalf("%s: %v (%s), want %s", what, err, got, name)
	}
}

// A1: a person in a phase's group logs in without a second factor before
// the phase starts and needs one from its start; others are not affected.
func TestPhaseBringsPeopleIntoScopeA1(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.group("Nurses")
		if _, err := e.dir.CreateUnit(e.ctx, e.admin, "North"); err != nil {
			t.Fatal(err)
		}
		e.setPolicy(func(p *policy.Policy) { p.MFARequired = policy.MFANobody })
		e.user("nina", "Nurses")
		if _, err := e.dir.CreateUser(e.ctx, e.admin, directory.NewUser{LoginID: "uma", Password: goodPassword, Units: []string{"North"}}); err != nil {
			t.Fatal(err)
		}
		e.user("otto")
		start := e.clock.Now().Add(24 * time.Hour)
		if _, err := e.dir.AddPhase(e.ctx, e.admin, directory.NewPhase{Name: "Nurses first", Groups: []string{"Nurses"}, Units: []string{"North"}, StartsAt: start}); err != nil {
			t.Fatal(err)
		}
		login := func(who string, want string) {
			t.Helper()
			res, err := e.eng.PasswordLogin(e.ctx, e.app, who, goodPassword)
			if err != nil || res.Status != want {
				t.Fatalf("%s at %v: %v %+v, want %s", who, e.clock.Now(), err, res, want)
			}
		}
		login("nina", flow.Allowed)
		login("uma", flow.Allowed)
		e.clock.Add(24 * time.Hour)
		login("nina", flow.EnrolmentRequired)
		login("uma", flow.EnrolmentRequired)
		login("otto", flow.Allowed)

		list, err := e.dir.Phases(e.ctx, e.admin)
		if err != nil || len(list) != 1 || !list[0].Started || list[0].InScope != 2 || list[0].Enrolled != 0 {
			t.Fatalf("Phases = %+v, %v", list, err)
		}
		// A started phase stays.
		wantName(t, "DeletePhase(started)", e.dir.DeletePhase(e.ctx, e.admin, list[0].Phase.ID), "phase_started")
	})
}

// A1: people a phase covers are told when it is scheduled and when it
// starts, in their language, once each however many servers sweep at once;
// those enrolled meanwhile get no start notice, those added meanwhile do.
func TestPhaseNoticesOnceA1(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.eng.PublicURL = "https://mfa.example.org"
		e.group("Nurses")
		e.setPolicy(func(p *policy.Policy) { p.MFARequired = policy.MFANobody })
		var people []*store.User
		for _, id := range []string{"ann", "ben", "cruz"} {
			u, err := e.dir.CreateUser(e.ctx, e.admin, directory.NewUser{LoginID: id, Password: goodPassword, Email: id + "@example.org", Groups: []string{"Nurses"}})
			if err != nil {
				t.Fatal(err)
			}
			people = append(people, u)
		}
		if err := e.dir.SetLocale(e.ctx, e.admin, people[2].ID, "es"); err != nil {
			t.Fatal(err)
		}
		start := e.clock.Now().Add(48 * time.Hour)
		if _, err := e.dir.AddPhase(e.ctx, e.admin, directory.NewPhase{Name: "Wave 1", Groups: []string{"Nurses"}, StartsAt: start}); err != nil {
			t.Fatal(err)
		}
		// Two servers sweep at once.
		other := &flow.Engine{Store: e.st, Hasher: e.eng.Hasher, Keys: e.eng.Keys, Now: e.clock.Now, Log: e.eng.Log, PublicURL: e.eng.PublicURL}
		sweep := func() {
			t.Helper()
			for _, err := range race(4, func(i int) error {
				eng := e.eng
				if i%2 == 1 {
					eng = other
				}
				_, err := eng.NotifyPhases(e.ctx)
				return err
			}) {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		sweep()
		sweep()
		count := func(to, contains string) int {
			n := 0
			for _, m := range e.deliver() {
				if m.To == to && strings.Contains(m.Text, contains) {
					n++
				}
			}
			return n
		}
		for _, u := range people[:2] {
			if n := count(u.Email, "will need a second step"); n != 1 {
				t.Errorf("%s got %d scheduled notices, want 1", u.LoginID, n)
			}
			if n := count(u.Email, "https://mfa.example.org/portal/acme"); n != 1 {
				t.Errorf("%s: no portal link", u.LoginID)
			}
		}
		if n := count("cruz@example.org", "necesitará un segundo paso"); n != 1 {
			t.Errorf("cruz got %d scheduled notices in Spanish, want 1", n)
		}

		// Ann enrols, Dee joins the group; then the phase starts.
		e.enrol(people[0])
		dee, err := e.dir.CreateUser(e.ctx, e.admin, directory.NewUser{LoginID: "dee", Password: goodPassword, Email: "dee@example.org", Groups: []string{"Nurses"}})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(48 * time.Hour)
		sweep()
		sweep()
		if n := count("ann@example.org", "needs a second step"); n != 0 {
			t.Errorf("enrolled ann got %d start notices", n)
		}
		for _, u := range []*store.User{people[1], dee} {
			if n := count(u.Email, "needs a second step"); n != 1 {
				t.Errorf("%s got %d start notices, want 1", u.LoginID, n)
			}
		}
		if n := count("cruz@example.org", "necesita un segundo paso"); n != 1 {
			t.Errorf("cruz got %d start notices in Spanish, want 1", n)
		}
		if n := count("dee@example.org", "will need a second step"); n != 0 {
			t.Errorf("dee, added after scheduling, got a scheduled notice after the start")
		}
	})
}

// B1: enabling is refused until the checklist is ready and confirmed with
// the slug; afterwards no path narrows MFA, even racing the enablement.
func TestEnablementB1(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.group("Billing")
		support := e.admin
		support.Role = store.RoleSupport
		cl, err := e.dir.Enablement(e.ctx, support)
		if err != nil || cl.Ready || cl.EnabledAt != nil {
			t.Fatalf("Enablement (support) = %+v, %v; want not ready", cl, err)
		}
		if _, err := e.dir.Enable(e.ctx, support, "acme"); !errors.Is(err, flow.ErrForbidden) {
			t.Fatalf("Enable by support: %v, want forbidden", err)
		}
		if _, err := e.dir.AddPhase(e.ctx, support, directory.NewPhase{Name: "x", Groups: []string{"Billing"}, StartsAt: e.clock.Now().Add(time.Hour)}); !errors.Is(err, flow.ErrForbidden) {
			t.Fatalf("AddPhase by support: %v, want forbidden", err)
		}
		if err := e.dir.SendTestMessage(e.ctx, support, "email", "it@example.org"); !errors.Is(err, flow.ErrForbidden) {
			t.Fatalf("SendTestMessage by support: %v, want forbidden", err)
		}
		if _, err := e.dir.Phases(e.ctx, support); err != nil {
			t.Fatalf("Phases by support: %v", err)
		}
		_, err = e.dir.Enable(e.ctx, e.admin, "acme")
		wantName(t, "Enable while not ready", err, "enablement_not_ready")
		if msg := problem.From(err, problem.Context{}).Message; !strings.Contains(msg, "delivery, help_desk, alerts, administrators") {
			t.Errorf("E55 message %q does not list what is missing", msg)
		}

		// Complete the checklist from the tenant's real state.
		e.dir.Providers = func(slug, channel string) (string, string) { return "mail", "smtp" }
		if err := e.dir.SendTestMessage(e.ctx, e.admin, "email", "it@example.org"); err != nil {
			t.Fatal(err)
		}
		e.setPolicy(func(p *policy.Policy) {
			p.HelpDesk = policy.HelpDesk{Name: "Acme IT", Phone: "+1 555 0100"}
			p.AlertEmails = []string{"security@example.org"}
			p.MFARequired, p.MFAGroups = policy.MFAGroups, []string{"Billing"}
		})
		boss := e.user("boss")
		e.makeAdmin(boss)
		cl, _ = e.dir.Enablement(e.ctx, e.admin)
		if cl.Ready {
			t.Fatalf("ready before the test message was delivered and the administrator enrolled: %+v", cl)
		}
		e.deliver()
		e.enrol(boss)
		cl, err = e.dir.Enablement(e.ctx, e.admin)
		if err != nil || !cl.Ready {
			t.Fatalf("checklist = %+v, %v; want ready", cl, err)
		}
		// A development outbox is not a production provider.
		e.dir.Providers = func(slug, channel string) (string, string) { return "dev", "dev" }
		if cl, _ := e.dir.Enablement(e.ctx, e.admin); cl.Ready || !strings.Contains(cl.Items[0].Detail, "development outbox") {
			t.Errorf("with the development outbox: %+v", cl.Items[0])
		}
		e.dir.Providers = func(slug, channel string) (string, string) { return "mail", "smtp" }

		if _, err := e.dir.Enable(e.ctx, e.admin, "not-acme"); !errors.As(err, new(interface{ Error() string })) || problem.From(err, problem.Context{}).Name != "validation_failed" {
			t.Fatalf("Enable with the wrong confirmation: %v", err)
		}
		// Enabling races two policy writers narrowing MFA.
		errs := race(3, func(i int) error {
			switch i {
			case 0:
				_, err := e.dir.Enable(e.ctx, e.admin, "acme")
				return err
			case 1:
				_, err := e.dir.PatchPolicy(e.ctx, e.admin, []byte(`{"mfa_required":"nobody"}`))
				if errors.Is(err, directory.ErrEnabledPermanently) {
					return nil
				}
				return err
			default:
				_, err := e.dir.SetPolicy(e.ctx, e.admin, []byte(`{"mfa_required":"groups","mfa_groups":["Billing"],"help_desk":{"phone":"+1 555 0100"},"alert_emails":["security@example.org"]}`))
				if errors.Is(err, directory.ErrEnabledPermanently) {
					return nil
				}
				return err
			}
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		tn, err := e.st.TenantByID(e.ctx, e.tenant.ID)
		if err != nil || tn.MFAEnabledAt == nil || tn.MFAEnabledBy != "admin:test" {
			t.Fatalf("tenant after enabling = %+v, %v", tn, err)
		}
		if p, err := policy.Parse(tn.Policy); err != nil || p.MFARequired != policy.MFAEveryone {
			t.Fatalf("stored policy after the race: %s, %v", tn.Policy, err)
		}
		if len(e.audit("", "mfa.enabled", "success")) != 1 {
			t.Error("mfa.enabled not audited once")
		}
		// Every path refuses narrowing; other settings still change.
		for _, doc := range []string{`{"mfa_required":"nobody"}`, `{"mfa_required":"groups","mfa_groups":["Billing"]}`} {
			_, err := e.dir.SetPolicy(e.ctx, e.admin, []byte(doc))
			wantName(t, "SetPolicy "+doc, err, "mfa_enabled_permanently")
			_, err = e.dir.PatchPolicy(e.ctx, e.admin, []byte(doc))
			wantName(t, "PatchPolicy "+doc, err, "mfa_enabled_permanently")
		}
		if _, err := e.dir.PatchPolicy(e.ctx, e.admin, []byte(`{"mfa_attempts":5}`)); err != nil {
			t.Fatalf("another setting after enabling: %v", err)
		}
		if _, err := e.dir.SetPolicy(e.ctx, e.admin, []byte(`{}`)); err != nil {
			t.Fatalf("a whole document keeping everyone: %v", err)
		}
		// Enabling again is harmless; a phase is pointless now.
		if cl, err := e.dir.Enable(e.ctx, e.admin, "acme"); err != nil || cl.EnabledAt == nil {
			t.Fatalf("Enable again = %+v, %v", cl, err)
		}
		_, err = e.dir.AddPhase(e.ctx, e.admin, directory.NewPhase{Name: "late", Groups: []string{"Billing"}, StartsAt: e.clock.Now().Add(time.Hour)})
		wantName(t, "AddPhase after enabling", err, "validation_failed")
		// Everyone now needs a second factor.
		e.user("zoe")
		if res, err := e.eng.PasswordLogin(e.ctx, e.app, "zoe", goodPassword); err != nil || res.Status != flow.EnrolmentRequired {
			t.Fatalf("login after enabling: %v %+v", err, res)
		}
	})
}

// Phases are validated, and another tenant's phase is not found.
func TestPhaseInput(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.group("Billing")
		now := e.clock.Now()
		for _, tc := range []struct {
			name string
			in   directory.NewPhase
		}{
			{"no name", directory.NewPhase{Groups: []string{"Billing"}, StartsAt: now.Add(time.Hour)}},
			{"nobody named", directory.NewPhase{Name: "x", StartsAt: now.Add(time.Hour)}},
			{"unknown group", directory.NewPhase{Name: "x", Groups: []string{"Nope"}, StartsAt: now.Add(time.Hour)}},
			{"unknown unit", directory.NewPhase{Name: "x", Units: []string{"Nope"}, StartsAt: now.Add(time.Hour)}},
			{"in the past", directory.NewPhase{Name: "x", Groups: []string{"Billing"}, StartsAt: now.Add(-time.Hour)}},
			{"no start", directory.NewPhase{Name: "x", Groups: []string{"Billing"}}},
		} {
			_, err := e.dir.AddPhase(e.ctx, e.admin, tc.in)
			wantName(t, tc.name, err, "validation_failed")
		}
		ph, err := e.dir.AddPhase(e.ctx, e.admin, directory.NewPhase{Name: "ok", Groups: []string{"Billing", "Billing"}, StartsAt: now.Add(-30 * time.Second)})
		if err != nil || len(ph.Groups) != 1 {
			t.Fatalf("AddPhase within a minute's leeway = %+v, %v", ph, err)
		}
		other, err := e.dir.CreateTenant(e.ctx, "other", "Other")
		if err != nil {
			t.Fatal(err)
		}
		stranger := flow.Caller{TenantID: other.ID, Actor: "admin:x", Role: store.RoleAdmin}
		if err := e.dir.DeletePhase(e.ctx, stranger, ph.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another tenant's phase: %v, want not found", err)
		}
		if err := e.dir.DeletePhase(e.ctx, e.admin, "phs_missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown phase: %v", err)
		}
		// Started 30 seconds ago: it stays.
		wantName(t, "DeletePhase", e.dir.DeletePhase(e.ctx, e.admin, ph.ID), "phase_started")
		future, err := e.dir.AddPhase(e.ctx, e.admin, directory.NewPhase{Name: "later", Groups: []string{"Billing"}, StartsAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.dir.DeletePhase(e.ctx, e.admin, future.ID); err != nil {
			t.Fatalf("DeletePhase before the start: %v", err)
		}
	})
}
