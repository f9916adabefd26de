package flow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// C10: accounts with no login for 180 days become Disabled; the person is
// told where to re-enable (a link without a secret) by email, or by text
// when there is no email; re-enabling with a code sent there works and is
// not undone by the next sweep; a recent login keeps an account Active.
func TestDisableInactiveAccountsC10(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.eng.PublicURL = "https://mfa.example.org/"
		e.setPolicy(func(p *policy.Policy) { p.Portal.IdentityAttempts = 100 })
		if got := time.Duration(e.policyNow().DisableAfterInactive); got != 180*24*time.Hour {
			t.Fatalf("default disable_after_inactive = %v, want 180 days", got)
		}
		mail := e.person(directory.NewUser{LoginID: "ines", Email: "ines@example.org", Phone: "5555550171"})
		text := e.person(directory.NewUser{LoginID: "omar", Phone: "5555550172"})
		quiet := e.person(directory.NewUser{LoginID: "quiet"})
		busy := e.person(directory.NewUser{LoginID: "busy", Email: "busy@example.org"})

		secret := e.enrol(busy)
		e.clock.Add(100 * 24 * time.Hour)
		res, err := e.eng.PasswordLogin(e.ctx, e.app, "busy", goodPassword)
		if err != nil || res.Status != flow.MFARequired {
			t.Fatalf("busy logs in on day 100: %v %+v", err, res)
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, res.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); err != nil {
			t.Fatalf("busy's second factor: %v", err)
		}
		e.clock.Add(79 * 24 * time.Hour) // day 179: nobody is due yet
		if n, err := e.eng.DisableInactiveUsers(e.ctx); err != nil || n != 0 {
			t.Fatalf("day 179: disabled %d, %v; want none", n, err)
		}
		e.clock.Add(2 * 24 * time.Hour) // day 181
		n, err := e.eng.DisableInactiveUsers(e.ctx)
		if err != nil || n != 3 {
			t.Fatalf("day 181: disabled %d, %v; want ines, omar and quiet", n, err)
		}
		for _, u := range []*store.User{mail, text, quiet} {
			if st := e.reload(u).Status; st != store.StatusDisabled {
				t.Errorf("%s is %s, want disabled", u.LoginID, st)
			}
			if len(e.audit(u.ID, "user.disabled", "inactive")) != 1 {
				t.Errorf("%s: no user.disabled/inactive audit event", u.LoginID)
			}
		}
		if st := e.reload(busy).Status; st != store.StatusActive {
			t.Errorf("busy (login on day 100) is %s, want active", st)
		}
		const link = "https://mfa.example.org/portal/acme/recover/reenable"
		if m := e.newestTo("ines@example.org"); !strings.Contains(m, link) || !strings.Contains(m, "180 days") || codeRE.MatchString(m) {
			t.Errorf("notice by email = %q, want the re-enable link, the period and no code", m)
		}
		if m := e.newestTo("+15555550172"); !strings.Contains(m, link) {
			t.Errorf("notice by text = %q, want the re-enable link", m)
		}
		if n := e.deliveredTo("+15555550171"); n != 0 {
			t.Errorf("ines has an email and also got %d texts", n)
		}

		// C1: a disabled account reaches no application.
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "ines", goodPassword); !errors.Is(err, flow.ErrAccountDisabled) {
			t.Fatalf("login of a disabled account: %v, want ErrAccountDisabled", err)
		}
		// The person re-enables through the link's page; asking twice (the
		// re-send) leaves the newest code working.
		pc := e.portal()
		for range 2 {
			if err := e.eng.SendRecoveryCode(e.ctx, pc, flow.PurposeReenable, "ines", "email"); err != nil {
				t.Fatal(err)
			}
			e.deliver() // one at a time, so the newest delivered is the newest sent
		}
		if err := e.eng.ReenableWithCode(e.ctx, pc, "ines", e.lastCode("ines@example.org")); err != nil {
			t.Fatalf("re-enable: %v", err)
		}
		if n, err := e.eng.DisableInactiveUsers(e.ctx); err != nil || n != 0 {
			t.Fatalf("sweep right after re-enabling disabled %d, %v; want none", n, err)
		}
		if st := e.reload(mail).Status; st != store.StatusActive {
			t.Fatalf("ines is %s after re-enabling, want active", st)
		}
		// An administrator's re-enable counts the same way.
		if err := e.dir.SetStatus(e.ctx, e.admin, quiet.ID, store.StatusActive); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.eng.DisableInactiveUsers(e.ctx); n != 0 {
			t.Fatalf("sweep after an administrator re-enabled quiet disabled %d", n)
		}
		e.clock.Add(181 * 24 * time.Hour)
		if n, _ := e.eng.DisableInactiveUsers(e.ctx); n != 3 {
			t.Fatalf("181 more quiet days disabled %d, want ines, quiet and busy", n)
		}

		// Zero turns it off.
		e.setPolicy(func(p *policy.Policy) { p.DisableAfterInactive = 0 })
		e.person(directory.NewUser{LoginID: "later"})
		e.clock.Add(400 * 24 * time.Hour)
		if n, _ := e.eng.DisableInactiveUsers(e.ctx); n != 0 {
			t.Fatalf("with disable_after_inactive 0, %d disabled", n)
		}
	})
}

// Several servers sweeping at once: every idle account is disabled,
// audited and told exactly once.
func TestDisableInactiveConcurrentC10(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		const people = 12
		for i := range people {
			e.person(directory.NewUser{LoginID: "idle" + string(rune('a'+i)), Email: "idle" + string(rune('a'+i)) + "@example.org"})
		}
		e.clock.Add(181 * 24 * time.Hour)
		counts := make([]int, 4)
		errs := race(len(counts), func(i int) error {
			n, err := e.eng.DisableInactiveUsers(e.ctx)
			counts[i] = n
			return err
		})
		total := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("sweeper %d: %v", i, err)
			}
			total += counts[i]
		}
		if total != people {
			t.Fatalf("sweepers disabled %v = %d in all, want %d", counts, total, people)
		}
		evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{TenantID: e.tenant.ID, Event: "user.disabled", Outcome: "inactive", Limit: 100})
		if err != nil || len(evs) != people {
			t.Fatalf("%d audit events, %v; want %d", len(evs), err, people)
		}
		if n := len(e.deliver()); n != people {
			t.Fatalf("%d notices delivered, want %d", n, people)
		}
	})
}
