package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/countersign/countersign/internal/password"
)

// Config is the server's configuration.
type Config struct {
	Addr    string `yaml:"addr"`
	DataDir string `yaml:"data_dir"`
	// DatabaseURL selects PostgreSQL when it is a postgres:// URL; empty
	// means SQLite in DataDir.
	DatabaseURL string `yaml:"database_url"`
	// MasterKey is base64 of 32 bytes; empty means the keyring file in
	// DataDir.
	MasterKey string `yaml:"master_key"`
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
	// TrustedProxies are the CIDRs (or single addresses) whose
	// X-Forwarded-For header is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// PublicURL is the address people reach Countersign at (scheme and host),
	// used in links sent to them. An https URL also marks portal cookies
	// Secure and turns on HSTS: set it when a proxy terminates TLS.
	PublicURL string         `yaml:"public_url"`
	Password  PasswordConfig `yaml:"password"`
	// ShutdownTimeout bounds a stop: requests in flight and provider calls
	// under way finish within it. It must exceed LongestWait.
	ShutdownTimeout time.Duration  `yaml:"shutdown_timeout"`
	Delivery        DeliveryConfig `yaml:"delivery"`
	// MemoryLimitMiB is the Go runtime's soft memory limit: the collector
	// works harder as the heap nears it, so a flood of password hashes
	// (each leaves its argon2id memory behind) cannot grow the process
	// without bound. 0 means DefaultMemoryLimit; GOMEMLIMIT, when set, wins.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
	// PprofAddr, when set, serves Go's profiler (net/http/pprof) on this
	// address, apart from everything else; it must be a loopback address,
	// since profiles show the server's memory and work.
	PprofAddr string `yaml:"pprof_addr"`

	// origin names, by YAML path, where each setting that did not come
	// from the defaults was written: "COUNTERSIGN_ADDR", or
	// "countersign.yaml: line 3: addr". Problems are reported under that
	// name, so the operator is sent to the place to fix.
	origin map[string]string
}

// name is key as the operator wrote it.
func (c Config) name(key string) string {
	if o, ok := c.origin[key]; ok {
		return o
	}
	return key
}

func (c *Config) setOrigin(key, where string) {
	if c.origin == nil {
		c.origin = map[string]string{}
	}
	c.origin[key] = where
}

// PasswordConfig sets the argon2id cost, the size of the hashing pool and
// where it computes.
type PasswordConfig struct {
	MemoryKiB   uint32        `yaml:"memory_kib"`
	Iterations  uint32        `yaml:"iterations"`
	Parallelism uint8         `yaml:"parallelism"`
	Workers     int           `yaml:"workers"`
	QueueWait   time.Duration `yaml:"queue_wait"`
	// QueueLength is the most requests waiting for a hashing slot at once;
	// 0 means password.QueuePerSlot × Workers. One more gets 503 at once.
	QueueLength int `yaml:"queue_length"`
	// Isolation is where serve computes hashes: IsolationProcess, a worker
	// process at niceness Nice, so that a flood of logins leaves the CPU
	// to second-factor checks; or IsolationInline, the server's own
	// threads. Operator commands always hash inline.
	Isolation string `yaml:"isolation"`
	Nice      int    `yaml:"nice"`
}

// Where password hashes are computed (PasswordConfig.Isolation).
const (
	IsolationProcess = "process"
	IsolationInline  = "inline"
)

// OWASP's argon2id floor: 19 MiB with 2 iterations, or more memory with
// fewer iterations for the same total work.
const (
	minMemoryKiB = 19456
	minWork      = minMemoryKiB * 2
	// maxMemoryKiB matches the largest cost internal/password accepts in a
	// stored hash, so no configuration can write hashes it cannot read.
	maxMemoryKiB = 4 * 1024 * 1024
)

// DefaultNice is the hashing worker's niceness unless configured: the
// lowest priority, so that logins take only the CPU nothing else wants.
const DefaultNice = 19

// MemoryLimit is the Go runtime's soft memory limit in bytes: the
// configured one, or by default 256 MiB for everything but hashing plus
// twice what the hashing workers hold at once (each argon2id hash holds
// memory_kib while it runs and leaves it behind as garbage).
func (c Config) MemoryLimit() int64 {
	if c.MemoryLimitMiB > 0 {
		return int64(c.MemoryLimitMiB) << 20
	}
	return 256<<20 + 2*int64(c.Password.Workers)*int64(c.Password.MemoryKiB)<<10
}

// LongestWait is the longest a request may wait for a change (the API's
// ?wait=). A long poll answers at once when a stop begins, but the shutdown
// timeout outlasts it anyway, so no request is ever cut by a stop.
const LongestWait = 30 * time.Second

// Default returns the configuration used for every setting the file and
// environment leave out.
func Default() Config {
	return Config{
		Addr:      "127.0.0.1:8080",
		DataDir:   "./countersign-data",
		LogLevel:  "info",
		LogFormat: "text",
		Password: PasswordConfig{
			MemoryKiB:   minMemoryKiB,
			Iterations:  2,
			Parallelism: 1,
			Workers:     runtime.NumCPU(),
			QueueWait:   2 * time.Second,
			Isolation:   IsolationProcess,
			Nice:        DefaultNice,
		},
		ShutdownTimeout: 40 * time.Second,
		Delivery:        defaultDelivery(),
	}
}

// Load starts from Default, applies the YAML file at path (if path is not
// empty), then the environment read through getenv (os.Getenv when nil),
// and validates the result. The error lists every problem found.
func Load(path string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Default()
	var errs []error
	if path != "" {
		fileErrs, err := c.decodeFile(path)
		if err != nil {
			return c, err
		}
		errs = append(errs, fileErrs...)
	}
	errs = append(errs, c.applyEnv(getenv)...)
	errs = append(errs, c.Validate())
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, nil
}

// decodeFile applies the YAML file at path to c. Syntax errors, and keys
// and values that do not fit Config, come back as a list so they are
// reported together with every other problem; err is set only when the
// file cannot be read at all.
func (c *Config) decodeFile(path string) (problems []error, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(c)
	var typeErr *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.As(err, &typeErr):
	default:
		// A syntax error stops yaml before it sets anything, so the
		// defaults and the environment can still be checked with it.
		return []error{fmt.Errorf("%s: %w", path, err)}, nil
	}
	keys := map[int]string{}
	lines := map[string]int{}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) == nil {
		keyLines(&root, "", keys)
		pathLines(&root, "", lines)
	}
	for key, line := range lines {
		c.setOrigin(key, fmt.Sprintf("%s: line %d: %s", path, line, key))
	}
	if typeErr == nil {
		return nil, nil
	}
	// yaml.v3 names only the line of a mistyped value; add the key so the
	// operator need not count lines.
	for _, msg := range typeErr.Errors {
		var line int
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil && keys[line] != "" {
			detail := strings.SplitN(msg, ":", 2)[1]
			if strings.Contains(detail, "not found in type") {
				detail = " unknown key"
			}
			msg = fmt.Sprintf("line %d: %s:%s", line, keys[line], detail)
		}
		if strings.Contains(msg, "time.Duration") {
			msg += ` (write durations like "2s" or "500ms")`
		}
		problems = append(problems, fmt.Errorf("%s: %s", path, msg))
	}
	return problems, nil
}

// pathLines records the line of every key and list item, by its path:
// "delivery.providers.gw.url", "trusted_proxies[1]".
func pathLines(n *yaml.Node, prefix string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, child := range n.Content {
			pathLines(child, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			path := key.Value
			if prefix != "" {
				path = prefix + "." + key.Value
			}
			out[path] = key.Line
			pathLines(val, path, out)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			path := fmt.Sprintf("%s[%d]", prefix, i)
			out[path] = item.Line
			pathLines(item, path, out)
		}
	}
}

// keyLines records, for each line holding a key or a scalar value, the
// dotted key it belongs to.
func keyLines(n *yaml.Node, prefix string, out map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, child := range n.Content {
			keyLines(child, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			path := key.Value
			if prefix != "" {
				path = prefix + "." + key.Value
			}
			out[key.Line] = path
			if val.Kind == yaml.ScalarNode {
				out[val.Line] = path
			}
			keyLines(val, path, out)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			path := fmt.Sprintf("%s[%d]", prefix, i)
			if item.Kind == yaml.ScalarNode {
				out[item.Line] = path
			}
			keyLines(item, path, out)
		}
	}
}

// applyEnv overrides c with every COUNTERSIGN_* variable that is set and
// not empty, returning one error per value that does not parse.
func (c *Config) applyEnv(getenv func(string) string) []error {
	var errs []error
	str := func(name, key string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
			c.setOrigin(key, name)
		}
	}
	parse := func(name, key string, set func(string) error) {
		if v := getenv(name); v != "" {
			c.setOrigin(key, name)
			if err := set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q %v", name, v, err))
			}
		}
	}
	uintParse := func(bits int, set func(uint64)) func(string) error {
		return func(v string) error {
			n, err := strconv.ParseUint(v, 10, bits)
			if err != nil {
				return fmt.Errorf("is not a whole number from 0 to %d", uint64(1)<<bits-1)
			}
			set(n)
			return nil
		}
	}
	intParse := func(dst *int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("is not a whole number")
			}
			*dst = n
			return nil
		}
	}
	durationParse := func(dst *time.Duration) func(string) error {
		return func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return errors.New(`is not a duration like "2s" or "500ms"`)
			}
			*dst = d
			return nil
		}
	}

	str("COUNTERSIGN_ADDR", "addr", &c.Addr)
	str("COUNTERSIGN_PUBLIC_URL", "public_url", &c.PublicURL)
	str("COUNTERSIGN_PPROF_ADDR", "pprof_addr", &c.PprofAddr)
	str("COUNTERSIGN_DATA_DIR", "data_dir", &c.DataDir)
	str("COUNTERSIGN_DATABASE_URL", "database_url", &c.DatabaseURL)
	str("COUNTERSIGN_MASTER_KEY", "master_key", &c.MasterKey)
	str("COUNTERSIGN_LOG_LEVEL", "log_level", &c.LogLevel)
	str("COUNTERSIGN_LOG_FORMAT", "log_format", &c.LogFormat)
	if v := getenv("COUNTERSIGN_TRUSTED_PROXIES"); v != "" {
		c.TrustedProxies = nil
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.setOrigin(fmt.Sprintf("trusted_proxies[%d]", len(c.TrustedProxies)), "COUNTERSIGN_TRUSTED_PROXIES")
				c.TrustedProxies = append(c.TrustedProxies, p)
			}
		}
	}
	parse("COUNTERSIGN_SHUTDOWN_TIMEOUT", "shutdown_timeout", durationParse(&c.ShutdownTimeout))
	parse("COUNTERSIGN_PASSWORD_MEMORY_KIB", "password.memory_kib", uintParse(32, func(n uint64) { c.Password.MemoryKiB = uint32(n) }))
	parse("COUNTERSIGN_PASSWORD_ITERATIONS", "password.iterations", uintParse(32, func(n uint64) { c.Password.Iterations = uint32(n) }))
	parse("COUNTERSIGN_PASSWORD_PARALLELISM", "password.parallelism", uintParse(8, func(n uint64) { c.Password.Parallelism = uint8(n) }))
	parse("COUNTERSIGN_PASSWORD_WORKERS", "password.workers", intParse(&c.Password.Workers))
	parse("COUNTERSIGN_PASSWORD_QUEUE_WAIT", "password.queue_wait", durationParse(&c.Password.QueueWait))
	parse("COUNTERSIGN_PASSWORD_QUEUE_LENGTH", "password.queue_length", intParse(&c.Password.QueueLength))
	str("COUNTERSIGN_PASSWORD_ISOLATION", "password.isolation", &c.Password.Isolation)
	parse("COUNTERSIGN_PASSWORD_NICE", "password.nice", intParse(&c.Password.Nice))
	parse("COUNTERSIGN_MEMORY_LIMIT_MIB", "memory_limit_mib", intParse(&c.MemoryLimitMiB))
	return errs
}

// Validate reports every invalid setting, each named as the operator wrote
// it: the environment variable, or the file, line and YAML path of a value
// from the file, or the YAML path of a default.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", c.name(key), fmt.Sprintf(format, args...)))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("public_url", "%q must be an absolute http or https URL such as https://mfa.example.org", c.PublicURL)
		}
	}

	if host, port, err := net.SplitHostPort(c.Addr); err != nil || !validPort(port) || strings.ContainsAny(host, " /") {
		add("addr", "%q is not host:port", c.Addr)
	}
	if c.PprofAddr != "" {
		host, port, err := net.SplitHostPort(c.PprofAddr)
		ip := net.ParseIP(host)
		if err != nil || !validPort(port) || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			add("pprof_addr", "%q must be a loopback host:port such as 127.0.0.1:6060: profiles show the server's memory", c.PprofAddr)
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "must not be empty")
	}
	if c.DatabaseURL != "" {
		// The URL carries the database password, so only its scheme is quoted.
		u, err := url.Parse(c.DatabaseURL)
		switch {
		case err != nil:
			add("database_url", "is not a valid URL")
		case !isPostgres(u.Scheme):
			add("database_url", "scheme %q is not supported; use postgres:// for PostgreSQL or leave it empty for SQLite", u.Scheme)
		}
	}
	if c.MasterKey != "" {
		if key, err := base64.StdEncoding.DecodeString(c.MasterKey); err != nil {
			add("master_key", "is not valid base64")
		} else if len(key) != 32 {
			add("master_key", "decodes to %d bytes, want 32 (generate one with: openssl rand -base64 32)", len(key))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		add("log_format", "%q is not one of text, json", c.LogFormat)
	}
	for i, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not a CIDR like 10.0.0.0/8 or an IP address", p)
		}
	}

	errs = append(errs, c.Delivery.validate(c.name)...)

	pw := c.Password
	if pw.MemoryKiB < minMemoryKiB || pw.MemoryKiB > maxMemoryKiB {
		add("password.memory_kib", "%d is outside %d to %d", pw.MemoryKiB, minMemoryKiB, maxMemoryKiB)
	}
	if pw.Iterations < 1 {
		add("password.iterations", "must be at least 1")
	} else if uint64(pw.MemoryKiB)*uint64(pw.Iterations) < minWork {
		add("password.iterations", "%d with memory_kib %d is below the OWASP minimum; memory_kib × iterations must be at least %d",
			pw.Iterations, pw.MemoryKiB, minWork)
	}
	if pw.Parallelism < 1 {
		add("password.parallelism", "must be at least 1")
	}
	if pw.Workers < 1 {
		add("password.workers", "%d must be at least 1", pw.Workers)
	}
	if pw.QueueWait < 0 {
		add("password.queue_wait", "%s must not be negative", pw.QueueWait)
	}
	if pw.QueueLength < 0 {
		add("password.queue_length", "%d must be 0 (%d × workers) or more", pw.QueueLength, password.QueuePerSlot)
	}
	switch pw.Isolation {
	case IsolationProcess, IsolationInline:
	default:
		add("password.isolation", "%q is not one of %s (a worker process at low priority), %s (the server's own threads)",
			pw.Isolation, IsolationProcess, IsolationInline)
	}
	if pw.Nice < 0 || pw.Nice > 19 {
		add("password.nice", "%d is outside 0 to 19 (19 is the lowest priority)", pw.Nice)
	}
	if c.MemoryLimitMiB < 0 || (c.MemoryLimitMiB > 0 && c.MemoryLimitMiB < 64) {
		add("memory_limit_mib", "%d must be 0 (the default) or at least 64", c.MemoryLimitMiB)
	}
	if c.ShutdownTimeout <= LongestWait {
		add("shutdown_timeout", "%s must be longer than %s, the longest a request may wait for a change (?wait=)", c.ShutdownTimeout, LongestWait)
	}
	return errors.Join(errs...)
}

func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n <= 65535
}

func isPostgres(scheme string) bool { return scheme == "postgres" || scheme == "postgresql" }

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// TrustedProxyPrefixes returns TrustedProxies parsed, with single addresses
// as one-address prefixes. Entries that do not parse are skipped; Validate
// reports them.
func (c Config) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Dialect names the SQL database in use: "sqlite" or "postgres".
func (c Config) Dialect() string {
	if u, err := url.Parse(c.DatabaseURL); err == nil && isPostgres(u.Scheme) {
		return "postgres"
	}
	return "sqlite"
}

// SQLitePath is where the SQLite database lives when DatabaseURL is empty.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "countersign.db") }

// KeyringPath is where the keyring lives when MasterKey is empty.
func (c Config) KeyringPath() string { return filepath.Join(c.DataDir, "keyring.json") }
