package smtpmail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/delivery"
)

type outcome int

const (
	delivered outcome = iota
	retryable
	permanent
)

func (o outcome) String() string {
	return [...]string{"delivered", "retryable", "permanent"}[o]
}

func outcomeOf(err error) outcome {
	switch {
	case err == nil:
		return delivered
	case delivery.IsPermanent(err):
		return permanent
	default:
		return retryable
	}
}

type sinkOpts struct {
	tls      bool // STARTTLS, or implicit TLS when implicit is set
	implicit bool
	user     string
	pass     string
	reject   string
	tempFail int
}

func TestSend(t *testing.T) {
	bin := buildSink(t)
	certFile, keyFile, pool := selfSigned(t)

	msg := delivery.Message{
		ID:      "01J9Z3K6QH2V8ZP1",
		Channel: delivery.Email,
		To:      "alice@example.org",
		Subject: "Your sign-in code",
		Text:    "Your code is 123456.",
		HTML:    "<p>Your code is <b>123456</b>.</p>",
	}
	tests := []struct {
		name  string
		sink  sinkOpts
		cfg   func(*Config)
		msg   delivery.Message
		want  []outcome // one per consecutive Send
		check func(t *testing.T, raw []byte)
	}{
		{
			name: "starttls and auth deliver",
			sink: sinkOpts{tls: true, user: "mailer", pass: "s3cret"},
			cfg:  func(c *Config) { c.Username, c.Password = "mailer", "s3cret" },
			msg:  msg,
			want: []outcome{delivered},
			check: func(t *testing.T, raw []byte) {
				checkDelivered(t, raw, msg)
			},
		},
		{
			name: "implicit tls and auth deliver",
			sink: sinkOpts{tls: true, implicit: true, user: "mailer", pass: "s3cret"},
			cfg: func(c *Config) {
				c.TLS = Implicit
				c.Username, c.Password = "mailer", "s3cret"
			},
			msg:  msg,
			want: []outcome{delivered},
		},
		{
			name: "wrong password is permanent",
			sink: sinkOpts{tls: true, user: "mailer", pass: "s3cret"},
			cfg:  func(c *Config) { c.Username, c.Password = "mailer", "guess" },
			msg:  msg,
			want: []outcome{permanent},
		},
		{
			name: "rejected recipient is permanent",
			sink: sinkOpts{tls: true, reject: "alice@example.org"},
			msg:  msg,
			want: []outcome{permanent},
		},
		{
			name: "temporary failure is retried",
			sink: sinkOpts{tls: true, tempFail: 1},
			msg:  msg,
			want: []outcome{retryable, delivered},
		},
		{
			name: "starttls is required when the server lacks it",
			sink: sinkOpts{},
			msg:  msg,
			want: []outcome{retryable},
		},
		{
			name: "cleartext to loopback with auth",
			sink: sinkOpts{user: "mailer", pass: "s3cret"},
			cfg: func(c *Config) {
				c.TLS = NoTLS
				c.Username, c.Password = "mailer", "s3cret"
			},
			msg:  delivery.Message{ID: "plain-1", To: "bob@example.org", Subject: "Hi", Text: "Plain text only."},
			want: []outcome{delivered},
			check: func(t *testing.T, raw []byte) {
				checkDelivered(t, raw, delivery.Message{ID: "plain-1", To: "bob@example.org", Subject: "Hi", Text: "Plain text only."})
			},
		},
		{
			name: "message id that cannot be a header is permanent",
			sink: sinkOpts{tls: true},
			msg:  delivery.Message{ID: "a\r\nBcc: evil@example.org", To: "alice@example.org", Text: "x"},
			want: []outcome{permanent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := startSink(t, bin, dir, tt.sink, certFile, keyFile)
			host, port := splitAddr(t, addr)
			cfg := Config{
				Host: host, Port: port,
				From:    "Countersign <no-reply@example.org>",
				RootCAs: pool,
				Timeout: 10 * time.Second,
			}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var wantFiles int
			for i, want := range tt.want {
				res, err := s.Send(t.Context(), tt.msg)
				t.Logf("Send #%d: %v", i+1, err)
				if got := outcomeOf(err); got != want {
					t.Fatalf("Send #%d: %v (err %v), want %v", i+1, got, err, want)
				}
				if err != nil {
					if cfg.Password != "" && strings.Contains(err.Error(), cfg.Password) {
						t.Errorf("error reveals the password: %v", err)
					}
					continue
				}
				wantFiles++
				if want := "<" + tt.msg.ID + "@countersign>"; res.Ref != want {
					t.Errorf("Ref = %q, want %q", res.Ref, want)
				}
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
			if len(files) != wantFiles {
				t.Fatalf("sink holds %d messages, want %d", len(files), wantFiles)
			}
			if tt.check != nil && wantFiles > 0 {
				raw, err := os.ReadFile(files[len(files)-1])
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, raw)
			}
		})
	}
}

func checkDelivered(t *testing.T, raw []byte, m delivery.Message) {
	t.Helper()
	got, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse delivered message: %v", err)
	}
	h := got.Header
	headers := []struct{ name, want string }{
		{"X-Envelope-From", "<no-reply@example.org>"},
		{"X-Envelope-To", "<" + m.To + ">"},
		{"Subject", m.Subject},
		{"Message-Id", "<" + m.ID + "@countersign>"},
		{"X-Countersign-Message-Id", m.ID},
	}
	for _, c := range headers {
		if v := h[c.name]; len(v) != 1 || v[0] != c.want {
			t.Errorf("%s = %q, want exactly %q", c.name, v, c.want)
		}
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Countersign" || from[0].Address != "no-reply@example.org" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != m.To {
		t.Errorf("To = %v (%v)", to, err)
	}

	parts := bodyParts(t, h.Get("Content-Type"), h.Get("Content-Transfer-Encoding"), got.Body)
	if got := strings.TrimSpace(parts["text/plain"]); got != m.Text {
		t.Errorf("text body = %q, want %q", got, m.Text)
	}
	if got := strings.TrimSpace(parts["text/html"]); got != m.HTML {
		t.Errorf("html body = %q, want %q", got, m.HTML)
	}
}

// bodyParts flattens a message body into its decoded parts by media type.
func bodyParts(t *testing.T, contentType, encoding string, body io.Reader) map[string]string {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", contentType, err)
	}
	out := map[string]string{}
	if strings.HasPrefix(mediaType, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			for k, v := range bodyParts(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p) {
				out[k] = v
			}
		}
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read %s part: %v", mediaType, err)
	}
	out[mediaType] = string(b)
	return out
}

func TestSendStopsWhenContextIsCancelled(t *testing.T) {
	// A server that accepts and never greets: only ctx can end the Send.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	host, port := splitAddr(t, l.Addr().String())
	s, err := New(Config{Host: host, Port: port, TLS: NoTLS, From: "no-reply@example.org", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = s.Send(ctx, delivery.Message{ID: "stuck", To: "alice@example.org", Text: "x"})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Send returned after %v", took)
	}
	if !errors.Is(err, context.Canceled) || delivery.IsPermanent(err) {
		t.Errorf("Send = %v, want a retryable context.Canceled", err)
	}
}

func TestValidate(t *testing.T) {
	valid := Config{Host: "smtp.example.org", Port: 587, From: "Countersign <no-reply@example.org>"}
	tests := []struct {
		name string
		cfg  func(*Config)
		want []string // substrings, all expected in one error
	}{
		{name: "valid", cfg: func(*Config) {}},
		{name: "cleartext to loopback", cfg: func(c *Config) { c.Host, c.TLS = "127.0.0.1", NoTLS }},
		{name: "cleartext allowed explicitly", cfg: func(c *Config) { c.TLS, c.AllowInsecure = NoTLS, true }},
		{
			name: "everything wrong",
			cfg: func(c *Config) {
				*c = Config{Port: 70000, TLS: "ssl", Username: "u", From: "not an address", Timeout: -1}
			},
			want: []string{"host: is required", "port: 70000", `tls: must be`, "username: and password", "from: \"not an address\" is not an address", "timeout: "},
		},
		{name: "cleartext to a remote host", cfg: func(c *Config) { c.TLS = NoTLS }, want: []string{"loopback"}},
		{name: "no from", cfg: func(c *Config) { c.From = "" }, want: []string{"from: an address is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.cfg(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// buildSink compiles internal/testutil/smtpsink, a real SMTP server process.
func buildSink(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go tool not found; cannot build the SMTP sink")
	}
	bin := filepath.Join(t.TempDir(), "smtpsink")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "../../testutil/smtpsink")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build smtpsink: %v\n%s", err, out)
	}
	return bin
}

func startSink(t *testing.T, bin, dir string, o sinkOpts, certFile, keyFile string) string {
	t.Helper()
	args := []string{"-dir", dir, "-tempfail", strconv.Itoa(o.tempFail)}
	if o.tls {
		args = append(args, "-cert", certFile, "-key", keyFile)
	}
	if o.implicit {
		args = append(args, "-implicit-tls")
	}
	if o.user != "" {
		args = append(args, "-user", o.user, "-pass", o.pass)
	}
	if o.reject != "" {
		args = append(args, "-reject", o.reject)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("smtpsink did not start: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(line)
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// selfSigned writes a certificate for 127.0.0.1 and returns a pool that
// trusts it, so the tests exercise real certificate verification.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtpsink"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
