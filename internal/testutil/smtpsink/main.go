// Command smtpsink is the SMTP server the email tests talk to. It
// listens on 127.0.0.1, prints its address on stdout, and writes every
// accepted message to -dir with the envelope as X-Envelope-* headers in
// front of the raw data, so a test can parse it with net/mail.
package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type sink struct {
	user, pass string
	reject     string
	tempFail   int64
	dir        string

	attempts atomic.Int64
	saved    atomic.Int64
}

func main() {
	var (
		s        sink
		certFile = flag.String("cert", "", "PEM certificate; enables STARTTLS")
		keyFile  = flag.String("key", "", "PEM key for -cert")
		implicit = flag.Bool("implicit-tls", false, "speak TLS from the first byte instead of offering STARTTLS")
	)
	flag.StringVar(&s.user, "user", "", "require AUTH PLAIN with this username")
	flag.StringVar(&s.pass, "pass", "", "password for -user")
	flag.StringVar(&s.reject, "reject", "", "answer 550 to RCPT TO this address")
	flag.Int64Var(&s.tempFail, "tempfail", 0, "answer 451 to the first N messages")
	flag.StringVar(&s.dir, "dir", "", "directory for received messages")
	flag.Parse()
	if s.dir == "" {
		log.Fatal("smtpsink: -dir is required")
	}

	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{sink: &s}, nil
	}))
	srv.Domain = "smtpsink.test"

	var tlsConfig *tls.Config
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("smtpsink: %v", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("smtpsink: %v", err)
	}
	switch {
	case *implicit && tlsConfig != nil:
		l = tls.NewListener(l, tlsConfig)
	case *implicit:
		log.Fatal("smtpsink: -implicit-tls needs -cert")
	default:
		srv.TLSConfig = tlsConfig
	}
	// Without TLS the tests exercise the loopback cleartext path, which
	// must still be able to authenticate.
	srv.AllowInsecureAuth = tlsConfig == nil
	fmt.Println(l.Addr().String())
	if err := srv.Serve(l); err != nil {
		log.Fatalf("smtpsink: %v", err)
	}
}

type session struct {
	sink   *sink
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string {
	if s.sink.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.sink.user == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.sink.user || pass != s.sink.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.sink.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.sink.reject != "" && strings.EqualFold(to, s.sink.reject) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.sink.attempts.Add(1) <= s.sink.tempFail {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "X-Envelope-From: <%s>\r\n", s.from)
	for _, to := range s.to {
		fmt.Fprintf(&buf, "X-Envelope-To: <%s>\r\n", to)
	}
	buf.Write(data)
	return s.sink.save(buf.Bytes())
}

// save writes under a temporary name first so a reader polling the
// directory never sees half a message.
func (k *sink) save(b []byte) error {
	n := k.saved.Add(1)
	final := filepath.Join(k.dir, fmt.Sprintf("%04d.eml", n))
	tmp := final + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}

func (s *session) Reset() {
	s.from, s.to = "", nil
}

func (s *session) Logout() error { return nil }
