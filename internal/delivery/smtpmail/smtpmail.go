package smtpmail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/countersign/countersign/internal/delivery"
)

// TLS modes.
const (
	StartTLS = "starttls"
	Implicit = "tls"
	NoTLS    = "none"
)

const defaultTimeout = 15 * time.Second

// Config describes the submission server.
type Config struct {
	Host string
	Port int
	// Username and Password turn on SMTP AUTH (PLAIN, or LOGIN when the
	// server offers only that).
	Username string
	Password string
	// TLS is StartTLS (the default, and then required), Implicit (port 465)
	// or NoTLS, which is refused for a host other than loopback unless
	// AllowInsecure is set: credentials and one-time codes would cross the
	// network in the clear.
	TLS           string
	AllowInsecure bool
	// From is the header and envelope sender, "Countersign <no-reply@example.org>".
	From      string
	HelloName string
	// Timeout bounds one whole Send: connect, TLS, AUTH and DATA.
	Timeout time.Duration
	// RootCAs replaces the system roots, for a private CA.
	RootCAs *x509.CertPool
}

// Validate reports every problem with c at once, each a
// delivery.SettingError naming its configuration key.
func (c Config) Validate() error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, delivery.Setting("host", "is required"))
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, delivery.Setting("port", "%d is not between 1 and 65535", c.Port))
	}
	switch c.TLS {
	case "", StartTLS, Implicit:
	case NoTLS:
		if c.Host != "" && !loopback(c.Host) && !c.AllowInsecure {
			errs = append(errs, delivery.Setting("tls", "%q is only allowed to a loopback host unless allow_insecure is set", NoTLS))
		}
	default:
		errs = append(errs, delivery.Setting("tls", "must be %q, %q or %q, not %q", StartTLS, Implicit, NoTLS, c.TLS))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, delivery.Setting("username", "and password must be set together"))
	}
	if c.From == "" {
		errs = append(errs, delivery.Setting("from", "an address is required"))
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, delivery.Setting("from", "%q is not an address: %v", c.From, err))
	}
	if c.Timeout < 0 {
		errs = append(errs, delivery.Setting("timeout", "must not be negative"))
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sender sends email through one SMTP server.
type Sender struct {
	cfg Config
	tls *tls.Config
}

var _ delivery.Sender = (*Sender)(nil)

// New checks c and fills in its defaults.
func New(c Config) (*Sender, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.TLS == "" {
		c.TLS = StartTLS
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	return &Sender{
		cfg: c,
		tls: &tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12},
	}, nil
}

// Send delivers m over a fresh connection.
func (s *Sender) Send(ctx context.Context, m delivery.Message) (delivery.Result, error) {
	if m.Channel != "" && m.Channel != delivery.Email {
		return delivery.Result{}, delivery.Permanent(fmt.Errorf("smtpmail: cannot send a %s message", m.Channel))
	}
	msgID, err := messageID(m.ID)
	if err != nil {
		return delivery.Result{}, delivery.Permanent(err)
	}
	msg, err := s.compose(m, msgID)
	if err != nil {
		return delivery.Result{}, delivery.Permanent(err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	client, err := gomail.NewClient(s.cfg.Host, s.options(ctx)...)
	if err != nil {
		return delivery.Result{}, fmt.Errorf("smtpmail: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return delivery.Result{}, classify(ctx, err)
	}
	return delivery.Result{Ref: "<" + msgID + ">"}, nil
}

// messageID turns the outbox id into a Message-ID. Only characters that
// need no quoting are accepted, so the header can never be malformed or
// carry an injected line.
func messageID(id string) (string, error) {
	if id == "" || len(id) > 200 {
		return "", errors.New("smtpmail: message id must be 1 to 200 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.+=", r)) {
			return "", fmt.Errorf("smtpmail: message id %q has a character not allowed in a Message-ID", id)
		}
	}
	return id + "@countersign", nil
}

func (s *Sender) compose(m delivery.Message, msgID string) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("smtpmail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("smtpmail: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(msgID)
	msg.SetGenHeader("X-Countersign-Message-Id", m.ID)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

func (s *Sender) options(ctx context.Context) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(s.dialer(ctx)),
	}
	if s.cfg.TLS == StartTLS {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	} else {
		// Implicit TLS is done by our dialer; go-mail must not try STARTTLS
		// on top of it.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.HelloName != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HelloName))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuthCustom(&plainOrLogin{
			host: s.cfg.Host, user: s.cfg.Username, pass: s.cfg.Password,
			cleartext: s.cfg.TLS == NoTLS,
		}))
	}
	return opts
}

// dialer ties the connection to the Send's ctx. go-mail only uses its
// context for dialing; without this a server that accepts and then stays
// silent would hold the Send forever.
func (s *Sender) dialer(sendCtx context.Context) gomail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if deadline, ok := sendCtx.Deadline(); ok {
			_ = raw.SetDeadline(deadline)
		}
		context.AfterFunc(sendCtx, func() { _ = raw.Close() })
		if s.cfg.TLS != Implicit {
			return raw, nil
		}
		conn := tls.Client(raw, s.tls)
		if err := conn.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

// plainOrLogin picks PLAIN, or LOGIN for servers that offer only that, once
// the server has said what it supports. go-mail's own discovery prefers
// challenge mechanisms and refuses PLAIN without TLS even where the
// configuration explicitly allowed cleartext.
type plainOrLogin struct {
	host, user, pass string
	cleartext        bool
	smtp.Auth
}

func (a *plainOrLogin) Start(server *smtp.ServerInfo) (string, []byte, error) {
	switch {
	case slices.Contains(server.Auth, "PLAIN"):
		a.Auth = smtp.PlainAuth("", a.user, a.pass, a.host, a.cleartext)
	case slices.Contains(server.Auth, "LOGIN"):
		a.Auth = smtp.LoginAuth(a.user, a.pass, a.host, a.cleartext)
	default:
		return "", nil, fmt.Errorf("server offers neither AUTH PLAIN nor AUTH LOGIN (offers %q)", server.Auth)
	}
	return a.Auth.Start(server)
}

// classify marks 5xx replies permanent. A 4xx reply, a network failure or a
// timeout may succeed on the next attempt.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("smtpmail: %w: %w", context.Cause(ctx), err)
	}
	err = fmt.Errorf("smtpmail: %w", err)
	if code := replyCode(err); code >= 500 && code < 600 {
		return delivery.Permanent(err)
	}
	return err
}

func replyCode(err error) int {
	var se *gomail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
