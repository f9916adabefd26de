package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "countersign.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// validKey is base64 of 32 zero bytes.
const validKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func TestDefaults(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Dialect() != "sqlite" || c.Password.QueueWait != 2*time.Second ||
		c.Password.Workers < 1 || c.ShutdownTimeout != 40*time.Second ||
		c.Password.Isolation != IsolationProcess || c.Password.Nice != DefaultNice || c.Password.QueueLength != 0 {
		t.Errorf("unexpected defaults %+v", c)
	}
	if got, want := c.SQLitePath(), filepath.Join("countersign-data", "countersign.db"); got != want {
		t.Errorf("SQLitePath = %q, want %q", got, want)
	}
	if got, want := c.KeyringPath(), filepath.Join("countersign-data", "keyring.json"); got != want {
		t.Errorf("KeyringPath = %q, want %q", got, want)
	}
}

func TestEmptyFile(t *testing.T) {
	if _, err := Load(writeFile(t, ""), env(nil)); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestFileAndEnv(t *testing.T) {
	path := writeFile(t, `
addr: "0.0.0.0:9000"
data_dir: /var/lib/countersign
log_level: debug
log_format: json
trusted_proxies: [10.0.0.0/8, 192.168.1.1]
password:
  memory_kib: 65536
  iterations: 3
  workers: 4
  queue_wait: 500ms
  queue_length: 16
  isolation: inline
  nice: 5
shutdown_timeout: 45s
`)
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"file only", nil, func(t *testing.T, c Config) {
			if c.Addr != "0.0.0.0:9000" || c.DataDir != "/var/lib/countersign" || c.LogLevel != "debug" || c.LogFormat != "json" {
				t.Errorf("strings from file not applied: %+v", c)
			}
			want := PasswordConfig{MemoryKiB: 65536, Iterations: 3, Parallelism: 1, Workers: 4, QueueWait: 500 * time.Millisecond,
				QueueLength: 16, Isolation: IsolationInline, Nice: 5}
			if c.Password != want {
				t.Errorf("Password = %+v, want %+v", c.Password, want)
			}
			if c.ShutdownTimeout != 45*time.Second {
				t.Errorf("ShutdownTimeout = %v", c.ShutdownTimeout)
			}
			want2 := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32")}
			got := c.TrustedProxyPrefixes()
			if len(got) != 2 || got[0] != want2[0] || got[1] != want2[1] {
				t.Errorf("TrustedProxyPrefixes = %v, want %v", got, want2)
			}
		}},
		{"env wins", map[string]string{
			"COUNTERSIGN_ADDR":                  ":8443",
			"COUNTERSIGN_LOG_LEVEL":             "warn",
			"COUNTERSIGN_DATABASE_URL":          "postgresql://u:p@db/countersign",
			"COUNTERSIGN_MASTER_KEY":            validKey,
			"COUNTERSIGN_TRUSTED_PROXIES":       " 172.16.0.0/12 , ,::1 ",
			"COUNTERSIGN_PASSWORD_ITERATIONS":   "4",
			"COUNTERSIGN_PASSWORD_QUEUE_WAIT":   "1s",
			"COUNTERSIGN_PASSWORD_PARALLELISM":  "2",
			"COUNTERSIGN_PASSWORD_ISOLATION":    "process",
			"COUNTERSIGN_PASSWORD_NICE":         "10",
			"COUNTERSIGN_PASSWORD_QUEUE_LENGTH": "3",
			"COUNTERSIGN_SHUTDOWN_TIMEOUT":      "1m",
		}, func(t *testing.T, c Config) {
			if c.Password.Isolation != IsolationProcess || c.Password.Nice != 10 || c.Password.QueueLength != 3 {
				t.Errorf("Password = %+v, want the isolation, niceness and queue length from the environment", c.Password)
			}
			if c.Addr != ":8443" || c.LogLevel != "warn" || c.LogFormat != "json" {
				t.Errorf("env did not override file: %+v", c)
			}
			if c.Dialect() != "postgres" || c.MasterKey != validKey {
				t.Errorf("Dialect = %q, MasterKey = %q", c.Dialect(), c.MasterKey)
			}
			if strings.Join(c.TrustedProxies, ",") != "172.16.0.0/12,::1" {
				t.Errorf("TrustedProxies = %q", c.TrustedProxies)
			}
			if c.Password.Iterations != 4 || c.Password.MemoryKiB != 65536 || c.Password.Parallelism != 2 ||
				c.Password.QueueWait != time.Second || c.ShutdownTimeout != time.Minute {
				t.Errorf("Password = %+v, ShutdownTimeout = %v", c.Password, c.ShutdownTimeout)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(path, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string
		// secret must not appear in the error.
		secret string
	}{
		{
			name: "unknown key named with its line",
			file: "addr: \":8080\"\nlisten_port: 80\n",
			want: []string{"line 2: listen_port: unknown key"},
		},
		{
			name: "unknown nested key",
			file: "password:\n  memory: 65536\n",
			want: []string{"line 2: password.memory: unknown key"},
		},
		{
			name: "wrong types and invalid values together",
			file: "password:\n  queue_wait: 30\n  workers: many\nlog_level: loud\n",
			want: []string{"line 2: password.queue_wait:", "line 3: password.workers:", "log_level: \"loud\""},
		},
		{
			name: "several invalid values all listed",
			file: `
addr: abc
data_dir: ""
log_level: verbose
log_format: xml
master_key: c2hvcnQ=
trusted_proxies: [10.0.0.0/33, not-an-ip]
password:
  memory_kib: 1024
  iterations: 0
  parallelism: 0
  workers: 0
  queue_wait: -1s
  queue_length: -1
  isolation: sandbox
  nice: 20
shutdown_timeout: 30s
`,
			want: []string{
				`addr: "abc" is not host:port`, "data_dir:", "log_level:", "log_format:", "master_key: decodes to 5 bytes",
				"trusted_proxies[0]", "trusted_proxies[1]", "password.memory_kib", "password.iterations",
				"password.parallelism", "password.workers", "password.queue_wait", "shutdown_timeout: 30s must be longer than 30s",
				"password.queue_length: -1 must be 0", `password.isolation: "sandbox" is not one of process`,
				"password.nice: 20 is outside 0 to 19",
			},
		},
		{
			name:   "bad database url scheme",
			env:    map[string]string{"COUNTERSIGN_DATABASE_URL": "mysql://root:hunter2@db/countersign"},
			want:   []string{`COUNTERSIGN_DATABASE_URL: scheme "mysql" is not supported`},
			secret: "hunter2",
		},
		{
			name:   "database url without scheme",
			env:    map[string]string{"COUNTERSIGN_DATABASE_URL": "countersign.db"},
			want:   []string{`COUNTERSIGN_DATABASE_URL: scheme "" is not supported`},
			secret: "countersign.db",
		},
		{
			name:   "master key not base64",
			env:    map[string]string{"COUNTERSIGN_MASTER_KEY": "not*base64*secret"},
			want:   []string{"COUNTERSIGN_MASTER_KEY: is not valid base64"},
			secret: "secret",
		},
		{
			name: "env values that do not parse",
			env: map[string]string{
				"COUNTERSIGN_PASSWORD_MEMORY_KIB":  "lots",
				"COUNTERSIGN_PASSWORD_PARALLELISM": "300",
				"COUNTERSIGN_PASSWORD_WORKERS":     "four",
				"COUNTERSIGN_PASSWORD_QUEUE_WAIT":  "2",
				"COUNTERSIGN_PASSWORD_NICE":        "low",
				"COUNTERSIGN_PASSWORD_ISOLATION":   "thread",
				"COUNTERSIGN_SHUTDOWN_TIMEOUT":     "soon",
			},
			want: []string{
				`COUNTERSIGN_PASSWORD_MEMORY_KIB: "lots"`, "COUNTERSIGN_PASSWORD_PARALLELISM", "COUNTERSIGN_PASSWORD_WORKERS",
				"COUNTERSIGN_PASSWORD_QUEUE_WAIT", "COUNTERSIGN_SHUTDOWN_TIMEOUT", `COUNTERSIGN_PASSWORD_NICE: "low" is not a whole number`,
				`COUNTERSIGN_PASSWORD_ISOLATION: "thread" is not one of process`,
			},
		},
		{
			name: "less memory needs more iterations",
			env:  map[string]string{"COUNTERSIGN_PASSWORD_MEMORY_KIB": "19456", "COUNTERSIGN_PASSWORD_ITERATIONS": "1"},
			want: []string{"COUNTERSIGN_PASSWORD_ITERATIONS: 1 with memory_kib 19456"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			_, err := Load(path, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error reveals %q:\n%v", tt.secret, err)
			}
		})
	}
}

// TestEveryProblemInOnePass is issue 10 item 2 (G8): ten distinct problems,
// provider settings among them, give ten lines in one error, each naming
// the file, line and YAML path it is about.
func TestEveryProblemInOnePass(t *testing.T) {
	path := writeFile(t, `addr: "nowhere"
log_level: loud
trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]
password:
  workers: 0
delivery:
  workers: 0
  default:
    sms: missing
  providers:
    gw:
      type: webhook
      url: ftp://gw.example.org/send
      secret: short
    mail:
      type: smtp
      host: smtp.example.org
      port: 70000
      from: no-reply@example.org
    pigeon:
      type: carrier
`)
	_, err := Load(path, env(nil))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	want := []string{
		`countersign.yaml: line 1: addr: "nowhere" is not host:port`,
		`countersign.yaml: line 2: log_level: "loud"`,
		`countersign.yaml: line 3: trusted_proxies[1]: "10.0.0.0/33"`,
		`countersign.yaml: line 5: password.workers: 0`,
		`countersign.yaml: line 7: delivery.workers: 0`,
		`countersign.yaml: line 9: delivery.default.sms: provider "missing"`,
		`countersign.yaml: line 13: delivery.providers.gw.url: "ftp://gw.example.org/send" must be an absolute http or https URL`,
		`countersign.yaml: line 14: delivery.providers.gw.secret: must be at least 16 characters`,
		`countersign.yaml: line 18: delivery.providers.mail.port: 70000`,
		`countersign.yaml: line 21: delivery.providers.pigeon.type: "carrier"`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d problems listed, want %d:\n%v", len(lines), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

// TestEnvironmentProblemsNamedByVariable: a value from the environment is
// reported under the variable the operator set, not the YAML key, even
// when the file sets the same key.
func TestEnvironmentProblemsNamedByVariable(t *testing.T) {
	path := writeFile(t, "addr: \"127.0.0.1:9000\"\nlog_format: xml\n")
	_, err := Load(path, env(map[string]string{
		"COUNTERSIGN_ADDR":             "nonsense",
		"COUNTERSIGN_LOG_LEVEL":        "loud",
		"COUNTERSIGN_TRUSTED_PROXIES":  "10.0.0.1, not-an-ip",
		"COUNTERSIGN_PUBLIC_URL":       "mfa.example.org",
		"COUNTERSIGN_PASSWORD_WORKERS": "0",
	}))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, w := range []string{
		`COUNTERSIGN_ADDR: "nonsense" is not host:port`,
		`COUNTERSIGN_LOG_LEVEL: "loud"`,
		`COUNTERSIGN_TRUSTED_PROXIES: "not-an-ip"`,
		`COUNTERSIGN_PUBLIC_URL: "mfa.example.org"`,
		`COUNTERSIGN_PASSWORD_WORKERS: 0 must be at least 1`,
		`countersign.yaml: line 2: log_format: "xml"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
	for _, bare := range []string{"\naddr:", "\nlog_level:", "trusted_proxies[", "\npublic_url:"} {
		if strings.Contains("\n"+err.Error(), bare) {
			t.Errorf("error names %q by its YAML key, not its variable:\n%v", bare, err)
		}
	}
}

func TestRoutesMatchWhatProvidersCarry(t *testing.T) {
	_, err := Load(writeFile(t, `delivery:
  default:
    sms: gw
    voice: gw
    email: sms
  tenants:
    lab:
      voice: sms
  providers:
    gw:
      type: webhook
      url: https://gw.example.org/send
      secret: at-least-16-characters
    sms:
      type: twilio
      account_sid: AC1
      auth_token: token
      messaging_service_sid: MG1
`), env(nil))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, w := range []string{
		`line 4: delivery.default.voice: provider "gw" is of type webhook, which cannot send voice`,
		`line 5: delivery.default.email: provider "sms" is of type twilio, which cannot send email`,
		`line 8: delivery.tenants.lab.voice: provider "sms" places calls, which need its from and public_url`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("%d problems, want 3:\n%v", n, err)
	}
}

func TestLoadSyntaxError(t *testing.T) {
	_, err := Load(writeFile(t, "addr: [unclosed\n"), env(map[string]string{"COUNTERSIGN_LOG_LEVEL": "loud"}))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	if !strings.Contains(err.Error(), "countersign.yaml") {
		t.Errorf("err = %v, want a syntax error naming the file", err)
	}
	if !strings.Contains(err.Error(), `COUNTERSIGN_LOG_LEVEL: "loud"`) {
		t.Errorf("err = %v, want the environment's problems listed with the syntax error", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 2 {
		t.Errorf("%d problems listed, want 2:\n%v", n, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), env(nil)); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("err = %v, want not-exist", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestValidateMemoryTradeOff(t *testing.T) {
	tests := []struct {
		name       string
		memory     uint32
		iterations uint32
		ok         bool
	}{
		{"owasp minimum", 19456, 2, true},
		{"more memory, one pass", 47104, 1, true},
		{"below memory floor", 19455, 10, false},
		{"one pass not enough", 19456, 1, false},
		{"over 4 GiB", 4*1024*1024 + 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Password.MemoryKiB, c.Password.Iterations = tt.memory, tt.iterations
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// pprof_addr serves profiles of the server's memory: only on loopback.
func TestProfilerAddressIsLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:6060": true, "[::1]:6060": true, "localhost:6060": true, "127.0.0.1:0": true,
		"0.0.0.0:6060": false, ":6060": false, "192.0.2.1:6060": false, "example.org:6060": false, "127.0.0.1": false, "127.0.0.1:99999": false,
	} {
		c := Default()
		c.DataDir = t.TempDir()
		c.PprofAddr = addr
		err := c.Validate()
		if ok && err != nil {
			t.Errorf("%s: %v", addr, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "pprof_addr")) {
			t.Errorf("%s: %v, want a pprof_addr problem", addr, err)
		}
	}
}

// The runtime's soft memory limit: configured, or by default room for the
// hashing workers' argon2id memory twice over plus 256 MiB (issue 14).
func TestMemoryLimit(t *testing.T) {
	c := Default()
	c.Password.Workers, c.Password.MemoryKiB = 2, 19456
	if got, want := c.MemoryLimit(), int64(256<<20+2*2*19456<<10); got != want {
		t.Errorf("default limit %d, want %d", got, want)
	}
	c.MemoryLimitMiB = 1024
	if got := c.MemoryLimit(); got != 1<<30 {
		t.Errorf("configured limit %d", got)
	}
	c.DataDir = t.TempDir()
	for _, bad := range []int{-1, 10} {
		c.MemoryLimitMiB = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "memory_limit_mib") {
			t.Errorf("memory_limit_mib %d: %v", bad, err)
		}
	}
}
