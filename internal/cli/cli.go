package cli

import (
	"context"
	"encoding/json"

	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/server"
	"github.com/countersign/countersign/internal/store"
)

// Env is the outside world a command sees; tests supply their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// command is one sub-command.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cmdCtx) error
	flags   func(fs *flag.FlagSet, o *opts)
	// needs says whether the command opens the database.
	needs bool
}

// opts holds every flag any command defines; each command registers those it uses.
type opts struct {
	configPath string
	json       bool
	tenant     string
	name       string
	slug       string
	role       string
	loginID    string
	email      string
	phone      string
	display    string
	status     string
	groups     string
	units      string
	pwStdin    bool
	dob        string
	ssn        string
	locale     string
	before     string
	user       string
	event      string
	outcome    string
	ip         string
	limit      int
	file       string
	// the help desk's work (issue 13)
	search   string
	after    string
	reason   string
	yes      bool
	kind     string
	tracking string
	state    string
	assignee stringOpt
	note     string
	// OpenID Connect clients and keys (X2)
	client         string
	redirectURIs   stringList
	policyKeys     stringList
	format         string
	postLogoutURIs stringList
	public         bool
	scopes         string
	alg            string
	accessTTL      ttlFlag
	idTokenTTL     ttlFlag
	refreshTTL     ttlFlag
	// Enablement and phases (B1, A1)
	confirm  string
	channel  string
	to       string
	startsAt string
	phase    string
}

// stringList is a repeatable flag: each use adds one value.
type stringList struct {
	values []string
	set    bool
}

func (l *stringList) String() string { return strings.Join(l.values, ",") }

// Set adds one value; an empty one only marks the flag given, so that
// an empty --post-logout-uri clears the list on update.
func (l *stringList) Set(v string) error {
	l.set = true
	if v = strings.TrimSpace(v); v != "" {
		l.values = append(l.values, v)
	}
	return nil
}

// ttlFlag is a token lifetime flag that remembers whether it was given:
// a Go duration (10m, 1h), 0 for the default, -1 for none where allowed.
type ttlFlag struct {
	d   time.Duration
	set bool
}

func (f *ttlFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *ttlFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	switch v {
	case "0":
		f.d = 0
	case "-1", "none":
		f.d = -1
	default:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 10m or 1h", v)
		}
		f.d = d
	}
	f.set = true
	return nil
}

type cmdCtx struct {
	env  Env
	o    *opts
	args []string
	srv  *server.Server
	cfg  config.Config
	log  *slog.Logger
}

func commands() []command {
	return []command{
		{name: "serve", summary: "run the server", run: serve},
		{name: "migrate", summary: "apply database migrations and exit", run: migrate, needs: true},
		{name: "tenant create", summary: "create a tenant (--slug, --name)", run: tenantCreate, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.slug, "slug", "", "short identifier")
				fs.StringVar(&o.name, "name", "", "display name")
			}},
		{name: "tenant list", summary: "list tenants", run: tenantList, needs: true},
		{name: "unit create", summary: "create a unit in a tenant (--tenant, --name)", run: unitCreate, needs: true, flags: tenantName},
		{name: "group create", summary: "create a group in a tenant (--tenant, --name)", run: groupCreate, needs: true, flags: tenantName},
		{name: "app create", summary: "create an application and print its API key once (--tenant, --name)", run: appCreate, needs: true, flags: tenantName},
		{name: "admin-key create", summary: "create an admin API key and print it once (--tenant, --name, --role admin|support)", run: adminKeyCreate, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				tenantName(fs, o)
				fs.StringVar(&o.role, "role", "admin", "admin (tenant administrator) or support (help desk: cannot unlock)")
			}},
		{name: "user create", summary: "create a user (--tenant, --login-id, --email, --phone, --date-of-birth, --ssn, --locale, --password-stdin, --group, --unit)", run: userCreate, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.loginID, "login-id", "", "login ID (unique per tenant, case-insensitive)")
				fs.StringVar(&o.email, "email", "", "email address (unique per tenant)")
				fs.StringVar(&o.phone, "phone", "", "10-digit phone number")
				fs.StringVar(&o.display, "display-name", "", "display name")
				fs.StringVar(&o.status, "status", "active", "pending, active, inactive, disabled, locked or expired")
				fs.StringVar(&o.groups, "group", "", "comma-separated group names")
				fs.StringVar(&o.units, "unit", "", "comma-separated unit names")
				fs.BoolVar(&o.pwStdin, "password-stdin", false, "read the password from the first line of standard input")
				fs.StringVar(&o.dob, "date-of-birth", "", "date of birth (YYYY-MM-DD) for identity validation in the portal")
				fs.StringVar(&o.ssn, "ssn", "", "9-digit SSN for identity validation in the portal")
				fs.StringVar(&o.locale, "locale", "", "language of the person's messages: en or es (default English)")
				fs.StringVar(&o.role, "console-role", "", "admin or support: lets the person into the admin console")
			}},
		{name: "user list", summary: "list or search users of a tenant in login ID order (--tenant, --search, --status, --after, --limit)", run: userList, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.search, "search", "", "start of a login ID or email, a word of the name, or a phone number (all 10 digits or the last 4 or more)")
				fs.StringVar(&o.status, "status", "", "only users with this status")
				fs.StringVar(&o.after, "after", "", "login ID to list users after")
				fs.IntVar(&o.limit, "limit", 100, "at most this many (1–1000)")
			}},
		{name: "user terminate", summary: "terminate a compromised account for good: every factor, session, device, login, code and token ends (--tenant, --login-id, --reason, --yes)", run: userTerminate, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.loginID, "login-id", "", "login ID of the account to terminate")
				fs.StringVar(&o.reason, "reason", "", "why (kept with the account and in the audit log)")
				fs.BoolVar(&o.yes, "yes", false, "confirm: termination cannot be undone")
			}},
		{name: "user resend", summary: "send a person their enrolment invitation or re-enable message again (--tenant, --user, --kind enrolment|reenable)", run: userResend, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				tenantUser(fs, o)
				fs.StringVar(&o.kind, "kind", "", "enrolment or reenable")
			}},
		{name: "user show", summary: "show a user and their factors (--tenant, --user)", run: userShow, needs: true, flags: tenantUser},
		{name: "user unlock", summary: "clear a user's lockouts (--tenant, --user)", run: userUnlock, needs: true, flags: tenantUser},
		{name: "user reset-factors", summary: "revoke every factor of a user (--tenant, --user)", run: userResetFactors, needs: true, flags: tenantUser},
		{name: "user console-role", summary: "let a person into the admin console (--tenant, --user, --role admin|support|none)", run: userConsoleRole, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				tenantUser(fs, o)
				fs.StringVar(&o.role, "role", "", "admin (everything), support (help desk) or none")
			}},
		{name: "user set-status", summary: "change a user's status (--tenant, --user, --status)", run: userSetStatus, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				tenantUser(fs, o)
				fs.StringVar(&o.status, "status", "", "new status")
			}},
		{name: "audit list", summary: "list audit events, newest first (--tenant, --user, --event, --outcome, --ip, --limit)", run: auditList, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.user, "user", "", "user id or login ID")
				fs.StringVar(&o.event, "event", "", "event name, e.g. login.mfa")
				fs.StringVar(&o.outcome, "outcome", "", "outcome, e.g. failure")
				fs.StringVar(&o.ip, "ip", "", "client address, exactly")
				fs.IntVar(&o.limit, "limit", 100, "at most this many (1–1000)")
			}},
		{name: "audit export", summary: "write every matching audit event, newest first, as CSV or JSON lines to standard output (--tenant, --format csv|jsonl, --user, --event, --outcome, --ip)", run: auditExport, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.format, "format", "csv", "csv or jsonl")
				fs.StringVar(&o.user, "user", "", "user id or login ID")
				fs.StringVar(&o.event, "event", "", "event name, e.g. login.mfa")
				fs.StringVar(&o.outcome, "outcome", "", "outcome, e.g. failure")
				fs.StringVar(&o.ip, "ip", "", "client address, exactly")
			}},
		{name: "audit verify", summary: "chain the events waiting, then check the tenant's tamper-evident audit chain and its signed checkpoints; exits non-zero naming the first event altered, inserted, deleted, reordered or truncated (--tenant)", run: auditVerify, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) { fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id") }},
		{name: "support list", summary: "list reported MFA issues, newest first (--tenant, --state, --assignee, --search, --before, --limit)", run: supportList, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.state, "state", "", "open, in_progress or closed")
				fs.Var(&o.assignee, "assignee", "only requests assigned to this")
				fs.StringVar(&o.search, "search", "", "tracking number, or the start of a login ID, email or a word of the name")
				fs.StringVar(&o.before, "before", "", "tracking number to list older requests from")
				fs.IntVar(&o.limit, "limit", 100, "at most this many (1–500)")
			}},
		{name: "support show", summary: "show a reported MFA issue with its internal notes (--tenant, --tracking)", run: supportShow, needs: true, flags: tenantTracking},
		{name: "support update", summary: "move or assign a reported MFA issue (--tenant, --tracking, --state, --assignee; --assignee \"\" unassigns)", run: supportUpdate, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				tenantTracking(fs, o)
				fs.StringVar(&o.state, "state", "", "open, in_progress or closed")
				fs.Var(&o.assignee, "assignee", "who works it (an administrator identity or a name); empty unassigns")
			}},
		{name: "support note", summary: "add an internal note to a reported MFA issue (--tenant, --tracking, --note)", run: supportNote, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				tenantTracking(fs, o)
				fs.StringVar(&o.note, "note", "", "the note (at most 2000 characters)")
			}},
		{name: "policy show", summary: "print a tenant's policy as JSON (--tenant)", run: policyShow, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) { fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id") }},
		{name: "policy set", summary: "change settings (--key name=value, repeatable) or replace the whole policy from a JSON file (--file, - for stdin), listing what it resets (--tenant)", run: policySet, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.file, "file", "", "policy JSON file replacing the whole policy, or - for standard input")
				fs.Var(&o.policyKeys, "key", "one setting to change, as name=value with a JSON value (mfa_attempts=5, portal.session_idle=\"30m\", push.number_matching=false); name=null resets it; repeatable")
			}},
		{name: "oidc client create", summary: "register an application with the tenant's OpenID Connect provider and print its secret once (--tenant, --name, --redirect-uri, --public, …)", run: oidcClientCreate, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) { oidcClientFlags(fs, o, true) }},
		{name: "oidc client list", summary: "list a tenant's OpenID Connect applications (--tenant)", run: oidcClientList, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) { fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id") }},
		{name: "oidc client show", summary: "show an OpenID Connect application (--tenant, --client)", run: oidcClientShow, needs: true, flags: tenantClient},
		{name: "oidc client update", summary: "change an OpenID Connect application; flags not given keep their values (--tenant, --client, …)", run: oidcClientUpdate, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.client, "client", "", "client_id")
				oidcClientFlags(fs, o, false)
			}},
		{name: "oidc client secret", summary: "replace a confidential application's secret and print the new one once (--tenant, --client)", run: oidcClientSecret, needs: true, flags: tenantClient},
		{name: "oidc client delete", summary: "remove an OpenID Connect application and revoke its tokens (--tenant, --client)", run: oidcClientDelete, needs: true, flags: tenantClient},
		{name: "oidc key rotate", summary: "make a new ID token signing key the tenant's signer (--tenant, --alg ES256|RS256)", run: oidcKeyRotate, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.alg, "alg", "ES256", "ES256 or RS256")
			}},
		{name: "oidc key list", summary: "list a tenant's published ID token signing keys (--tenant)", run: oidcKeyList, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) { fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id") }},
		{name: "enablement show", summary: "show the preparation checklist for enabling MFA for the whole tenant (--tenant)", run: enablementShow, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) { fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id") }},
		{name: "enablement enable", summary: "enable MFA for everyone in the tenant, for good, once the checklist is ready (--tenant, --confirm SLUG)", run: enablementEnable, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.confirm, "confirm", "", "the tenant's slug, typed again: enabling cannot be undone")
			}},
		{name: "enablement test-message", summary: "send a test message through the outbox (--tenant, --channel sms|email, --to)", run: enablementTestMessage, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.channel, "channel", "", "sms or email")
				fs.StringVar(&o.to, "to", "", "phone number or email address")
			}},
		{name: "phase add", summary: "schedule an enforcement phase (--tenant, --name, --group, --unit, --starts-at RFC 3339)", run: phaseAdd, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.name, "name", "", "name of the phase")
				fs.StringVar(&o.groups, "group", "", "comma-separated group names")
				fs.StringVar(&o.units, "unit", "", "comma-separated unit names")
				fs.StringVar(&o.startsAt, "starts-at", "", "start, e.g. 2030-01-31T08:00:00Z")
			}},
		{name: "phase list", summary: "list enforcement phases with their progress (--tenant)", run: phaseList, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) { fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id") }},
		{name: "phase delete", summary: "delete an enforcement phase that has not started (--tenant, --phase)", run: phaseDelete, needs: true,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
				fs.StringVar(&o.phase, "phase", "", "phase id")
			}},
		{name: "keys rotate", summary: "add a new master key to the keyring file and make it active", run: keysRotate},
		{name: "backup", summary: "write FILE: the SQLite database, copied while serving, with the keyring (PostgreSQL: the keyring only)", run: backup},
		{name: "restore", summary: "put the backup FILE into an empty data directory and check that its keys open its data", run: restore},
	}
}

func tenantName(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
	fs.StringVar(&o.name, "name", "", "name")
}

func tenantUser(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
	fs.StringVar(&o.user, "user", "", "user id or login ID")
}

func tenantTracking(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
	fs.StringVar(&o.tracking, "tracking", "", "tracking number")
}

// stringOpt is a string flag that knows whether it was given, so that an
// empty value can mean something ("unassign").
type stringOpt struct {
	v   string
	set bool
}

func (s *stringOpt) String() string { return s.v }

func (s *stringOpt) Set(v string) error {
	s.v, s.set = v, true
	return nil
}

func tenantClient(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
	fs.StringVar(&o.client, "client", "", "client_id")
}

// oidcClientFlags are the registration flags of oidc client create and
// update; an application cannot change between public and confidential.
func oidcClientFlags(fs *flag.FlagSet, o *opts, create bool) {
	fs.StringVar(&o.tenant, "tenant", "", "tenant slug or id")
	fs.StringVar(&o.name, "name", "", "name people see when they sign in to it")
	fs.Var(&o.redirectURIs, "redirect-uri", "redirect URI, exactly as the application sends it (repeat for several)")
	fs.Var(&o.postLogoutURIs, "post-logout-uri", "address to return to after signing out (repeat for several)")
	if create {
		fs.BoolVar(&o.public, "public", false, "a public client (single-page or native application): no secret, PKCE required")
	}
	fs.StringVar(&o.scopes, "scopes", "", "comma-separated scopes it may ask for: openid,profile,email,phone,offline_access (default all)")
	fs.StringVar(&o.alg, "alg", "", "ID token signing algorithm: ES256 (default) or RS256")
	fs.Var(&o.accessTTL, "access-ttl", "access token lifetime, e.g. 10m (0 = default 10m)")
	fs.Var(&o.idTokenTTL, "id-token-ttl", "ID token lifetime, e.g. 1h (0 = default 1h)")
	fs.Var(&o.refreshTTL, "refresh-ttl", "refresh token lifetime, e.g. 720h (0 = default 720h, -1 = no refresh tokens)")
}

// Run executes the command line args (without the program name).
func Run(ctx context.Context, args []string, env Env) error {
	// serve starts this program again as its hashing worker; the worker
	// takes its settings as flags from the server, reads no configuration,
	// and is not for people, so it is not listed.
	if len(args) > 0 && args[0] == password.WorkerCommand {
		return password.RunWorker(args[1:], env.Stdin, env.Stdout)
	}
	cmds := commands()
	var cmd *command
	rest := args
	for i := range cmds {
		words := strings.Fields(cmds[i].name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == cmds[i].name {
			cmd, rest = &cmds[i], args[len(words):]
			break
		}
	}
	if cmd == nil {
		usage(env.Stderr, cmds)
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			return nil
		}
		return fmt.Errorf("unknown command %q", strings.Join(args, " "))
	}
	o := &opts{}
	fs := flag.NewFlagSet("countersign "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.StringVar(&o.configPath, "config", "", "YAML configuration file (environment variables override it)")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	cfg, err := config.Load(o.configPath, env.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, env.Stderr)
	c := &cmdCtx{env: env, o: o, args: fs.Args(), log: log, cfg: cfg}
	if cmd.needs {
		srv, err := server.Core(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer srv.Close()
		c.srv = srv
	}
	return cmd.run(ctx, c)
}

func usage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "countersign — self-hosted multi-factor authentication server")
	fmt.Fprintln(w, "\nUsage: countersign <command> [flags]   (every command takes --config FILE and --json)")
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nEnvironment: COUNTERSIGN_ADDR, COUNTERSIGN_DATA_DIR, COUNTERSIGN_DATABASE_URL, COUNTERSIGN_MASTER_KEY, COUNTERSIGN_LOG_LEVEL")
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	hopts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}

// out prints v as JSON with --json, or calls text otherwise.
func (c *cmdCtx) out(v any, text func(w io.Writer)) error {
	if c.o.json {
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(c.env.Stdout)
	return nil
}

func (c *cmdCtx) require(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			missing = append(missing, "--"+pairs[i])
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("missing required flag(s): %s", strings.Join(missing, ", "))
	}
	return nil
}

// operator is the audit identity of the command line.
func (c *cmdCtx) operator(tenantID string) flow.Caller {
	host, _ := os.Hostname()
	return flow.Caller{TenantID: tenantID, Actor: "cli@" + host, Role: store.RoleAdmin}
}
