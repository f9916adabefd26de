package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/server"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// gcPercent trades memory for CPU: a check allocates little that lives, so
// collecting less often saves about a tenth of the CPU under load while the
// heap stays in the tens of megabytes. GOGC, when set, wins.
const gcPercent = 400

func serve(ctx context.Context, c *cmdCtx) error {
	cfg := c.cfg
	if c.env.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	// A flood of password hashes leaves their memory behind faster than a
	// collector at gcPercent returns it: the soft limit bounds the process
	// (issue 14). GOMEMLIMIT, when set, is the runtime's own.
	if c.env.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.MemoryLimit())
		c.log.Info("memory limit", "mib", cfg.MemoryLimit()>>20)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The OpenID Connect library logs through the default logger: make
	// it the server's, so its lines share the configured format.
	slog.SetDefault(c.log)
	var opts []server.Option
	if cfg.Password.Isolation == config.IsolationProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("password.isolation: %s needs this program's path to start the hashing worker: %w", config.IsolationProcess, err)
		}
		opts = append(opts, server.HashWorker(exe, password.WorkerCommand))
	}
	srv, err := server.New(ctx, cfg, c.log, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.Serve(ctx, nil)
}

func migrate(_ context.Context, c *cmdCtx) error {
	// Opening the store applied the migrations.
	return c.out(map[string]string{"status": "migrated", "dialect": c.srv.Store.Dialect()}, func(w io.Writer) {
		fmt.Fprintf(w, "database (%s) is up to date\n", c.srv.Store.Dialect())
	})
}

func (c *cmdCtx) tenant(ctx context.Context) (*store.Tenant, error) {
	if err := c.require("tenant", c.o.tenant); err != nil {
		return nil, err
	}
	t, err := c.srv.Directory.Tenant(ctx, c.o.tenant)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", c.o.tenant, err)
	}
	return t, nil
}

type tenantBody struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

func tenantCreate(ctx context.Context, c *cmdCtx) error {
	if err := c.require("slug", c.o.slug, "name", c.o.name); err != nil {
		return err
	}
	t, err := c.srv.Directory.CreateTenant(ctx, c.o.slug, c.o.name)
	if err != nil {
		return err
	}
	return c.out(tenantBody{t.ID, t.Slug, t.Name}, func(w io.Writer) { fmt.Fprintf(w, "created tenant %s (%s)\n", t.Slug, t.ID) })
}

func tenantList(ctx context.Context, c *cmdCtx) error {
	ts, err := c.srv.Directory.Tenants(ctx)
	if err != nil {
		return err
	}
	out := []tenantBody{}
	for _, t := range ts {
		out = append(out, tenantBody{t.ID, t.Slug, t.Name})
	}
	return c.out(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tID\tNAME")
		for _, t := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Slug, t.ID, t.Name)
		}
		tw.Flush()
	})
}

// namedBody is a unit or group as --json prints it; the store records carry
// no JSON names of their own.
type namedBody struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
}

func unitCreate(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	u, err := c.srv.Directory.CreateUnit(ctx, c.operator(t.ID), c.o.name)
	if err != nil {
		return err
	}
	return c.out(namedBody{u.ID, u.TenantID, u.Name}, func(w io.Writer) { fmt.Fprintf(w, "created unit %q (%s)\n", u.Name, u.ID) })
}

func groupCreate(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	g, err := c.srv.Directory.CreateGroup(ctx, c.operator(t.ID), c.o.name)
	if err != nil {
		return err
	}
	return c.out(namedBody{g.ID, g.TenantID, g.Name}, func(w io.Writer) { fmt.Fprintf(w, "created group %q (%s)\n", g.Name, g.ID) })
}

func appCreate(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	a, key, err := c.srv.Directory.CreateApplication(ctx, c.operator(t.ID), c.o.name)
	if err != nil {
		return err
	}
	return c.out(map[string]string{"id": a.ID, "tenant_id": t.ID, "name": a.Name, "api_key": key}, func(w io.Writer) {
		fmt.Fprintf(w, "created application %q (%s)\nAPI key (shown once, store it now): %s\n", a.Name, a.ID, key)
	})
}

func adminKeyCreate(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	k, key, err := c.srv.Directory.CreateAdminKey(ctx, c.operator(t.ID), c.o.name, c.o.role)
	if err != nil {
		return err
	}
	return c.out(map[string]string{"id": k.ID, "tenant_id": t.ID, "name": k.Name, "role": k.Role, "admin_key": key}, func(w io.Writer) {
		fmt.Fprintf(w, "created %s key %q (%s)\nAdmin key (shown once, store it now): %s\n", k.Role, k.Name, k.ID, key)
	})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func userCreate(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	in := directory.NewUser{LoginID: c.o.loginID, Email: c.o.email, Phone: c.o.phone, DisplayName: c.o.display, Status: c.o.status,
		Groups: splitList(c.o.groups), Units: splitList(c.o.units), DateOfBirth: c.o.dob, SSN: c.o.ssn, Locale: c.o.locale, ConsoleRole: c.o.role}
	if c.o.pwStdin {
		line, err := bufio.NewReader(c.env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("--password-stdin: no password on standard input")
		}
		in.Password = strings.TrimRight(line, "\r\n")
	}
	u, err := c.srv.Directory.CreateUser(ctx, c.operator(t.ID), in)
	if err != nil {
		return err
	}
	return c.out(directory.ToUserBody(u), func(w io.Writer) { fmt.Fprintf(w, "created user %s (%s)\n", u.LoginID, u.ID) })
}

func (c *cmdCtx) user(ctx context.Context) (*store.Tenant, *store.User, error) {
	t, err := c.tenant(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := c.require("user", c.o.user); err != nil {
		return nil, nil, err
	}
	u, err := c.srv.Directory.User(ctx, t.ID, c.o.user)
	if err != nil {
		return nil, nil, fmt.Errorf("user %q: %w", c.o.user, err)
	}
	return t, u, nil
}

// checkLimit refuses a --limit the store would silently replace with its
// default, so asking for 5000 events does not quietly print 100.
func (c *cmdCtx) checkLimit() error {
	if c.o.limit < 1 || c.o.limit > 1000 {
		return fmt.Errorf("--limit: %d is outside 1 to 1000", c.o.limit)
	}
	return nil
}

func userList(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.checkLimit(); err != nil {
		return err
	}
	users, err := c.srv.Directory.SearchUsers(ctx, c.operator(t.ID), directory.UserSearch{Query: c.o.search, Status: c.o.status, After: c.o.after, Limit: c.o.limit})
	if err != nil {
		return err
	}
	out := []directory.UserBody{}
	for i := range users {
		out = append(out, directory.ToUserBody(&users[i]))
	}
	return c.out(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOGIN ID\tID\tSTATUS\tNAME\tEMAIL\tPHONE\tMFA FAILURES")
		for _, u := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", u.LoginID, u.ID, u.Status, u.DisplayName, u.Email, u.Phone, u.MFAFailures)
		}
		tw.Flush()
	})
}

// userTerminate ends a compromised account (C14). It names the account by
// its login ID only and wants --yes, so a slip of the keyboard cannot end
// the wrong one.
func userTerminate(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.require("login-id", c.o.loginID, "reason", c.o.reason); err != nil {
		return err
	}
	if !c.o.yes {
		return fmt.Errorf("terminating %s cannot be undone: add --yes to confirm", c.o.loginID)
	}
	u, err := c.srv.Directory.User(ctx, t.ID, c.o.loginID)
	if err == nil && !strings.EqualFold(u.LoginID, c.o.loginID) {
		err = store.ErrNotFound // an id, not a login ID
	}
	if err != nil {
		return fmt.Errorf("login ID %q: %w", c.o.loginID, err)
	}
	res, err := c.srv.Directory.Terminate(ctx, c.operator(t.ID), u.ID, c.o.reason)
	if err != nil {
		return err
	}
	return c.out(res, func(w io.Writer) {
		fmt.Fprintf(w, "terminated %s (%s): %d factor(s), %d portal session(s), %d trusted device(s), %d login(s), %d message(s), %d push(es), %d code(s), %d OpenID Connect token(s) and %d code(s) ended\n",
			res.LoginID, res.UserID, res.Factors, res.PortalSessions, res.TrustedDevices, res.LoginTxns, res.OutboxMessages, res.PushChallenges, res.Challenges, res.OIDCTokens, res.OIDCCodes)
	})
}

func userResend(ctx context.Context, c *cmdCtx) error {
	t, u, err := c.user(ctx)
	if err != nil {
		return err
	}
	if err := c.require("kind", c.o.kind); err != nil {
		return err
	}
	if err := c.srv.Directory.ResendMessage(ctx, c.operator(t.ID), u.ID, c.o.kind); err != nil {
		return err
	}
	return c.out(map[string]string{"user_id": u.ID, "kind": c.o.kind, "status": "queued"}, func(w io.Writer) {
		fmt.Fprintf(w, "queued the %s message to %s\n", c.o.kind, u.LoginID)
	})
}

func userShow(ctx context.Context, c *cmdCtx) error {
	_, u, err := c.user(ctx)
	if err != nil {
		return err
	}
	factors, err := c.srv.Directory.Factors(ctx, u.ID)
	if err != nil {
		return err
	}
	type factor struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		State string `json:"state"`
	}
	body := struct {
		directory.UserBody
		Factors []factor `json:"factors"`
	}{UserBody: directory.ToUserBody(u), Factors: []factor{}}
	for _, f := range factors {
		body.Factors = append(body.Factors, factor{f.ID, f.Kind, f.State})
	}
	return c.out(body, func(w io.Writer) {
		b, _ := json.MarshalIndent(body, "", "  ")
		fmt.Fprintln(w, string(b))
	})
}

func userUnlock(ctx context.Context, c *cmdCtx) error {
	t, u, err := c.user(ctx)
	if err != nil {
		return err
	}
	// The operator of the server acts with a tenant administrator's authority.
	if err := c.srv.Directory.Unlock(ctx, c.operator(t.ID), u.ID); err != nil {
		return err
	}
	return c.out(map[string]string{"user_id": u.ID, "status": "unlocked"}, func(w io.Writer) { fmt.Fprintf(w, "unlocked %s\n", u.LoginID) })
}

func userResetFactors(ctx context.Context, c *cmdCtx) error {
	t, u, err := c.user(ctx)
	if err != nil {
		return err
	}
	n, err := c.srv.Directory.ResetFactors(ctx, c.operator(t.ID), u.ID)
	if err != nil {
		return err
	}
	return c.out(map[string]any{"user_id": u.ID, "revoked": n}, func(w io.Writer) {
		fmt.Fprintf(w, "revoked %d factor(s) of %s; they must enrol again\n", n, u.LoginID)
	})
}

func userConsoleRole(ctx context.Context, c *cmdCtx) error {
	t, u, err := c.user(ctx)
	if err != nil {
		return err
	}
	role := c.o.role
	if role == "none" {
		role = ""
	}
	if err := c.srv.Directory.SetConsoleRole(ctx, c.operator(t.ID), u.ID, role); err != nil {
		return err
	}
	return c.out(map[string]string{"user_id": u.ID, "console_role": role}, func(w io.Writer) {
		if role == "" {
			fmt.Fprintf(w, "%s no longer has a console role\n", u.LoginID)
			return
		}
		fmt.Fprintf(w, "%s may now use the admin console as %s\n", u.LoginID, role)
	})
}

func userSetStatus(ctx context.Context, c *cmdCtx) error {
	t, u, err := c.user(ctx)
	if err != nil {
		return err
	}
	if err := c.srv.Directory.SetStatus(ctx, c.operator(t.ID), u.ID, c.o.status); err != nil {
		return err
	}
	return c.out(map[string]string{"user_id": u.ID, "status": c.o.status}, func(w io.Writer) { fmt.Fprintf(w, "%s is now %s\n", u.LoginID, c.o.status) })
}

func auditExport(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if c.o.format != directory.ExportCSV && c.o.format != directory.ExportJSONL {
		return fmt.Errorf("--format %q: use csv or jsonl", c.o.format)
	}
	f := store.AuditFilter{TenantID: t.ID, Event: c.o.event, Outcome: c.o.outcome, IP: c.o.ip}
	if c.o.user != "" {
		u, err := c.srv.Directory.User(ctx, t.ID, c.o.user)
		if err != nil {
			return fmt.Errorf("user %q: %w", c.o.user, err)
		}
		f.UserID = u.ID
	}
	n, err := c.srv.Directory.ExportAudit(ctx, f, c.o.format, c.env.Stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "audit export: %d event(s)\n", n)
	return nil
}

// auditVerify seals first, as a server's sealer would, so that a
// database no server is running against is verified whole (X6); events
// without a valid MAC stay unsealed and are reported.
func auditVerify(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if _, err := c.srv.Sealer.SealTenant(ctx, t.ID); err != nil {
		return fmt.Errorf("chaining the events waiting: %w", err)
	}
	r, err := c.srv.Directory.VerifyAudit(ctx, c.operator(t.ID))
	if err != nil {
		return err
	}
	err = c.out(r, func(w io.Writer) {
		fmt.Fprintf(w, "tenant:          %s (%s)\n", t.Slug, t.ID)
		fmt.Fprintf(w, "events chained:  %d", r.Events)
		if r.Genesis > 0 {
			fmt.Fprintf(w, " (the first %d existed before the upgrade", r.Genesis)
			if r.GenesisSealedAt != nil {
				fmt.Fprintf(w, "; sealed %s", r.GenesisSealedAt.UTC().Format(time.RFC3339))
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintf(w, "\nwaiting:         %d\n", r.Unsealed)
		if r.LastCheckpoint != nil {
			fmt.Fprintf(w, "checkpoints:     %d, the last at seq %d, %s\n", r.Checkpoints, r.LastCheckpoint.Seq, r.LastCheckpoint.At.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(w, "checkpoints:     %d\n", r.Checkpoints)
		}
		fmt.Fprintf(w, "checkpoint key:  %s (Ed25519, id %s)\n", r.PublicKey, r.CheckpointKeyID)
		if p := r.Problem; p != nil {
			fmt.Fprintf(w, "PROBLEM:         %s", p.Kind)
			if p.Seq > 0 {
				fmt.Fprintf(w, " at seq %d", p.Seq)
			}
			if p.EventID > 0 {
				fmt.Fprintf(w, ", event %d", p.EventID)
			}
			if p.CreatedAt != nil {
				fmt.Fprintf(w, " of %s", p.CreatedAt.UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(w, "\n                 %s\n", p.Message)
			return
		}
		fmt.Fprintf(w, "OK:              %s\n", r.Summary)
	})
	if err != nil {
		return err
	}
	if p := r.Problem; p != nil {
		return fmt.Errorf("audit chain of tenant %s: %s, event %d: %s", t.Slug, p.Kind, p.EventID, p.Message)
	}
	return nil
}

func auditList(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.checkLimit(); err != nil {
		return err
	}
	f := store.AuditFilter{TenantID: t.ID, Event: c.o.event, Outcome: c.o.outcome, IP: c.o.ip, Limit: c.o.limit}
	if c.o.user != "" {
		u, err := c.srv.Directory.User(ctx, t.ID, c.o.user)
		if err != nil {
			return fmt.Errorf("user %q: %w", c.o.user, err)
		}
		f.UserID = u.ID
	}
	events, err := c.srv.Directory.Audit(ctx, f)
	if err != nil {
		return err
	}
	out := []directory.AuditBody{}
	for i := range events {
		out = append(out, directory.ToAuditBody(&events[i]))
	}
	return c.out(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTIME\tEVENT\tOUTCOME\tUSER\tACTOR\tIP\tDETAIL")
		for _, e := range out {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Format("2006-01-02T15:04:05Z07:00"), e.Event, e.Outcome, e.UserID, e.Actor, e.IP, e.Detail)
		}
		tw.Flush()
	})
}

func supportList(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if c.o.limit < 1 || c.o.limit > 500 {
		return fmt.Errorf("--limit: %d is outside 1 to 500", c.o.limit)
	}
	rows, err := c.srv.Directory.SupportQueue(ctx, c.operator(t.ID), store.SupportFilter{
		State: c.o.state, Assignee: c.o.assignee.v, Query: c.o.search, Before: c.o.before, Limit: c.o.limit})
	if err != nil {
		return err
	}
	out := []directory.SupportRequestBody{}
	for i := range rows {
		out = append(out, directory.ToSupportRequestBody(&rows[i]))
	}
	return c.out(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TRACKING\tCREATED\tSTATE\tASSIGNEE\tLOGIN ID\tNAME\tEMAIL\tPHONE\tSUBJECT")
		for _, r := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Tracking, r.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), r.State, r.Assignee, r.LoginID, r.Name, r.Email, r.Phone, r.Subject)
		}
		tw.Flush()
	})
}

func supportShow(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.require("tracking", c.o.tracking); err != nil {
		return err
	}
	r, notes, err := c.srv.Directory.SupportRequestDetail(ctx, c.operator(t.ID), c.o.tracking)
	if err != nil {
		return fmt.Errorf("tracking number %q: %w", c.o.tracking, err)
	}
	return c.printSupport(r, notes)
}

func (c *cmdCtx) printSupport(r *store.SupportRequest, notes []store.SupportNote) error {
	body := directory.ToSupportRequestBody(r)
	body.Notes = []directory.SupportNoteBody{}
	for i := range notes {
		body.Notes = append(body.Notes, directory.ToSupportNoteBody(&notes[i]))
	}
	return c.out(body, func(w io.Writer) {
		b, _ := json.MarshalIndent(body, "", "  ")
		fmt.Fprintln(w, string(b))
	})
}

func supportUpdate(ctx context.Context, c *cmdCtx) error {
	ch := directory.SupportChange{}
	if c.o.state != "" {
		ch.State = &c.o.state
	}
	if c.o.assignee.set {
		ch.Assignee = &c.o.assignee.v
	}
	if ch.State == nil && ch.Assignee == nil {
		return fmt.Errorf("give --state or --assignee")
	}
	return c.workSupport(ctx, ch)
}

func supportNote(ctx context.Context, c *cmdCtx) error {
	if err := c.require("note", c.o.note); err != nil {
		return err
	}
	return c.workSupport(ctx, directory.SupportChange{Note: c.o.note})
}

func (c *cmdCtx) workSupport(ctx context.Context, ch directory.SupportChange) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.require("tracking", c.o.tracking); err != nil {
		return err
	}
	op := c.operator(t.ID)
	if _, err := c.srv.Directory.WorkSupportRequest(ctx, op, c.o.tracking, ch); err != nil {
		return fmt.Errorf("tracking number %q: %w", c.o.tracking, err)
	}
	r, notes, err := c.srv.Directory.SupportRequestDetail(ctx, op, c.o.tracking)
	if err != nil {
		return err
	}
	return c.printSupport(r, notes)
}

func policyShow(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	_, p, err := c.srv.Engine.Policy(ctx, t.ID)
	if err != nil {
		return err
	}
	c.o.json = true
	return c.out(p, nil)
}

func policySet(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if len(c.o.policyKeys.values) > 0 {
		if c.o.file != "" {
			return fmt.Errorf("give either --key settings to change or a --file replacing the whole policy, not both")
		}
		patch, err := policy.KeyPatch(c.o.policyKeys.values)
		if err != nil {
			return err
		}
		p, err := c.srv.Directory.PatchPolicy(ctx, c.operator(t.ID), patch)
		if err != nil {
			return err
		}
		c.o.json = true
		return c.out(p, nil)
	}
	if err := c.require("file", c.o.file); err != nil {
		return err
	}
	var doc []byte
	if c.o.file == "-" {
		doc, err = io.ReadAll(io.LimitReader(c.env.Stdin, 1<<20))
	} else {
		doc, err = os.ReadFile(c.o.file)
	}
	if err != nil {
		return err
	}
	// A whole document puts back every setting it leaves out: say which.
	c.srv.Engine.ForgetPolicy(t.ID)
	if _, cur, err := c.srv.Engine.Policy(ctx, t.ID); err == nil {
		if resets, err := policy.Resets(cur, doc); err == nil && len(resets) > 0 {
			fmt.Fprintf(c.env.Stderr, "policy set: the file leaves out %d setting(s) that are not at their defaults; they are reset: %s\n(use --key name=value to change single settings instead)\n",
				len(resets), strings.Join(resets, ", "))
		}
	}
	p, err := c.srv.Directory.SetPolicy(ctx, c.operator(t.ID), doc)
	if err != nil {
		return err
	}
	c.o.json = true
	return c.out(p, nil)
}

// policyPatch turns --key name=value pairs (dotted names, JSON values; a
// value that is not JSON is taken as a string) into a JSON merge patch.
func keysRotate(ctx context.Context, c *cmdCtx) error {
	cfg := c.cfg
	if cfg.MasterKey != "" {
		return fmt.Errorf("the master key comes from COUNTERSIGN_MASTER_KEY; rotate it there, not in the keyring file")
	}
	id, err := keyring.Rotate(cfg.KeyringPath())
	if err != nil {
		return err
	}
	// Opening the database records the new key's check value, so that a
	// start with the keyring from before the rotation refuses.
	srv, err := server.Core(ctx, cfg, c.log)
	if err != nil {
		return fmt.Errorf("new active key %s written to %s, but its check value could not be recorded in the database "+
			"(the next start records it): %w", id, cfg.KeyringPath(), err)
	}
	srv.Close()
	return c.out(map[string]string{"active_key": id, "check_value": "recorded"}, func(w io.Writer) {
		fmt.Fprintf(w, "new active key %s; existing secrets still open with their old keys. Restart servers to seal new secrets with it.\n", id)
		fmt.Fprintf(w, "Back up %s now: the database needs this key from now on.\n", cfg.KeyringPath())
	})
}

// archiveArg is the one file argument of backup and restore.
func (c *cmdCtx) archiveArg(cmd string) (string, error) {
	if len(c.args) != 1 || c.args[0] == "" {
		return "", fmt.Errorf("usage: countersign %s FILE (one archive file)", cmd)
	}
	return c.args[0], nil
}

func backup(ctx context.Context, c *cmdCtx) error {
	path, err := c.archiveArg("backup")
	if err != nil {
		return err
	}
	b, err := server.Backup(ctx, c.cfg, path)
	if err != nil {
		return err
	}
	return c.out(b, func(w io.Writer) {
		switch {
		case b.Database && b.Keyring:
			fmt.Fprintf(w, "backed up the database and the keyring to %s\n", b.Path)
		case b.Database:
			fmt.Fprintf(w, "backed up the database to %s; the master key is in COUNTERSIGN_MASTER_KEY, not in the backup: keep it with the backup\n", b.Path)
		default:
			fmt.Fprintf(w, "backed up the keyring only to %s; the PostgreSQL database is not in it: back it up with pg_dump (docs/operations.md)\n", b.Path)
		}
	})
}

func restore(ctx context.Context, c *cmdCtx) error {
	path, err := c.archiveArg("restore")
	if err != nil {
		return err
	}
	b, err := server.Restore(ctx, c.cfg, c.log, path)
	if err != nil {
		return err
	}
	return c.out(b, func(w io.Writer) {
		if b.Database {
			fmt.Fprintf(w, "restored the database and its keys into %s; its keys open its data. Start the server on it.\n", b.Path)
			return
		}
		fmt.Fprintf(w, "restored the keyring into %s. Restore the PostgreSQL database with pg_restore if not done yet; the server checks the keys against it as it starts.\n", b.Path)
	})
}

// issuer is the tenant's OpenID Connect issuer as this configuration
// publishes it.
func (c *cmdCtx) issuer(t *store.Tenant) string {
	return directory.Issuer(server.PublicBase(c.cfg), t.Slug)
}

// clientInput applies the registration flags given to in.
func (c *cmdCtx) clientInput(in *flow.ClientInput) {
	o := c.o
	if o.name != "" {
		in.Name = o.name
	}
	if o.redirectURIs.set {
		in.RedirectURIs = o.redirectURIs.values
	}
	if o.postLogoutURIs.set {
		in.PostLogoutURIs = o.postLogoutURIs.values
	}
	if o.scopes != "" {
		in.Scopes = splitList(o.scopes)
	}
	if o.alg != "" {
		in.SigningAlg = o.alg
	}
	for _, f := range []struct {
		flag *ttlFlag
		to   *time.Duration
	}{{&o.accessTTL, &in.AccessTTL}, {&o.idTokenTTL, &in.IDTokenTTL}, {&o.refreshTTL, &in.RefreshTTL}} {
		if f.flag.set {
			*f.to = f.flag.d
		}
	}
}

func (c *cmdCtx) client(ctx context.Context) (*store.Tenant, *store.OIDCClient, error) {
	t, err := c.tenant(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := c.require("client", c.o.client); err != nil {
		return nil, nil, err
	}
	cl, err := c.srv.Engine.Client(ctx, t.ID, c.o.client)
	if err != nil {
		return nil, nil, fmt.Errorf("client %q: %w", c.o.client, err)
	}
	return t, cl, nil
}

// printClient prints a client; a secret, when given, is shown this once.
func (c *cmdCtx) printClient(v directory.ClientView, verb string) error {
	return c.out(v, func(w io.Writer) {
		kind := "confidential"
		if v.Public {
			kind = "public (no secret; PKCE required)"
		}
		if verb != "" {
			fmt.Fprintf(w, "%s OpenID Connect client %q\n", verb, v.Name)
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "client_id:\t%s\n", v.ClientID)
		if v.ClientSecret != "" {
			fmt.Fprintf(tw, "client_secret:\t%s\t(shown once, store it now)\n", v.ClientSecret)
		}
		fmt.Fprintf(tw, "type:\t%s\n", kind)
		fmt.Fprintf(tw, "issuer:\t%s\n", v.Issuer)
		fmt.Fprintf(tw, "discovery:\t%s\n", v.DiscoveryURL)
		fmt.Fprintf(tw, "redirect URIs:\t%s\n", strings.Join(v.RedirectURIs, " "))
		fmt.Fprintf(tw, "post-logout URIs:\t%s\n", strings.Join(v.PostLogoutURIs, " "))
		fmt.Fprintf(tw, "scopes:\t%s\n", strings.Join(v.Scopes, " "))
		fmt.Fprintf(tw, "signing alg:\t%s\n", v.SigningAlg)
		refresh := "none"
		if v.RefreshTTL > 0 {
			refresh = (time.Duration(v.RefreshTTL) * time.Second).String()
		}
		fmt.Fprintf(tw, "lifetimes:\taccess %s, ID token %s, refresh %s\n",
			time.Duration(v.AccessTTL)*time.Second, time.Duration(v.IDTokenTTL)*time.Second, refresh)
		tw.Flush()
	})
}

func oidcClientCreate(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	in := flow.ClientInput{Public: c.o.public}
	c.clientInput(&in)
	cl, secret, err := c.srv.Engine.RegisterClient(ctx, c.operator(t.ID), in)
	if err != nil {
		return err
	}
	return c.printClient(directory.ToClientView(cl, secret, c.issuer(t)), "registered")
}

func oidcClientList(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	cls, err := c.srv.Engine.Clients(ctx, t.ID)
	if err != nil {
		return err
	}
	out := []directory.ClientView{}
	for i := range cls {
		out = append(out, directory.ToClientView(&cls[i], "", c.issuer(t)))
	}
	return c.out(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tALG\tREDIRECT URIS")
		for _, v := range out {
			kind := "confidential"
			if v.Public {
				kind = "public"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.ClientID, v.Name, kind, v.SigningAlg, strings.Join(v.RedirectURIs, " "))
		}
		tw.Flush()
	})
}

func oidcClientShow(ctx context.Context, c *cmdCtx) error {
	t, cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	return c.printClient(directory.ToClientView(cl, "", c.issuer(t)), "")
}

func oidcClientUpdate(ctx context.Context, c *cmdCtx) error {
	t, cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	in := directory.ClientInputOf(cl)
	c.clientInput(&in)
	cl, err = c.srv.Engine.UpdateClient(ctx, c.operator(t.ID), cl.ID, in)
	if err != nil {
		return err
	}
	return c.printClient(directory.ToClientView(cl, "", c.issuer(t)), "updated")
}

func oidcClientSecret(ctx context.Context, c *cmdCtx) error {
	t, cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	secret, err := c.srv.Engine.NewClientSecret(ctx, c.operator(t.ID), cl.ID)
	if err != nil {
		return err
	}
	return c.out(map[string]string{"client_id": cl.ID, "client_secret": secret}, func(w io.Writer) {
		fmt.Fprintf(w, "new secret for %s; the old one no longer works\nclient_secret (shown once, store it now): %s\n", cl.ID, secret)
	})
}

func oidcClientDelete(ctx context.Context, c *cmdCtx) error {
	t, cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	if err := c.srv.Engine.RemoveClient(ctx, c.operator(t.ID), cl.ID); err != nil {
		return err
	}
	return c.out(map[string]string{"client_id": cl.ID, "status": "deleted"}, func(w io.Writer) {
		fmt.Fprintf(w, "deleted %s (%q); its tokens are revoked\n", cl.ID, cl.Name)
	})
}

// checkAlg reports a signing algorithm the provider does not offer as a
// field error, like every other invalid input.
func checkAlg(alg string) error {
	if alg != store.AlgES256 && alg != store.AlgRS256 {
		return validate.Errors{{Field: "alg", Code: "invalid", Message: "Signing algorithm must be ES256 or RS256."}}
	}
	return nil
}

func oidcKeyRotate(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := checkAlg(c.o.alg); err != nil {
		return err
	}
	k, err := c.srv.Engine.RotateSigningKey(ctx, c.operator(t.ID), t.ID, c.o.alg)
	if err != nil {
		return err
	}
	v := directory.KeyView{KID: k.ID, Alg: k.Alg, CreatedAt: k.CreatedAt}
	return c.out(v, func(w io.Writer) {
		fmt.Fprintf(w, "new %s signing key %s now signs ID tokens; the key it replaces stays published until its tokens expire\n", v.Alg, v.KID)
	})
}

func oidcKeyList(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	keys, err := c.srv.Engine.PublishedKeys(ctx, t.ID)
	if err != nil {
		return err
	}
	out := []directory.KeyView{}
	for i := range keys {
		out = append(out, directory.ToKeyView(&keys[i]))
	}
	return c.out(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tCREATED\tRETIRED")
		for _, k := range out {
			retired := "-"
			if k.RetiredAt != nil {
				retired = k.RetiredAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.CreatedAt.Format(time.RFC3339), retired)
		}
		tw.Flush()
	})
}
