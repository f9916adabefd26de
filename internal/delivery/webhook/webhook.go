package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/countersign/countersign/internal/delivery"
)

const (
	defaultTimeout = 10 * time.Second
	// minSecret keeps the HMAC key out of reach of guessing.
	minSecret = 16
)

// Config describes the receiving endpoint.
type Config struct {
	URL string
	// Secret keys the request signature; the receiver holds the same one.
	Secret  string
	Timeout time.Duration
	// AllowInsecure permits http:// to a host other than loopback. Message
	// bodies hold one-time codes, so this is for closed networks only.
	AllowInsecure bool
}

// Validate reports every problem with c at once, each a
// delivery.SettingError naming its configuration key.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, delivery.Setting("url", "is required"))
	} else if u, err := url.Parse(c.URL); err != nil {
		// url.Parse quotes the input, which may hold a password.
		errs = append(errs, delivery.Setting("url", "is not a valid URL"))
	} else {
		switch {
		case u.User != nil:
			errs = append(errs, delivery.Setting("url", "must not carry credentials; the signature authenticates requests"))
		case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			errs = append(errs, delivery.Setting("url", "%q must be an absolute http or https URL", c.URL))
		case u.Scheme == "http" && !loopback(u.Hostname()) && !c.AllowInsecure:
			errs = append(errs, delivery.Setting("url", "%q must use https (http only to loopback unless allow_insecure is set)", c.URL))
		}
	}
	if len(c.Secret) < minSecret {
		errs = append(errs, delivery.Setting("secret", "must be at least %d characters", minSecret))
	}
	if c.Timeout < 0 {
		errs = append(errs, delivery.Setting("timeout", "must not be negative"))
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// Sender posts messages to one endpoint.
type Sender struct {
	cfg  Config
	http *http.Client
	// Now stamps requests; tests replace it.
	Now func() time.Time
}

var _ delivery.Sender = (*Sender)(nil)

// New checks c and fills in its defaults. A nil client means a private
// http.Client; either way every request is bounded by c.Timeout.
func New(c Config, client *http.Client) (*Sender, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	hc := http.Client{}
	if client != nil {
		hc = *client
	}
	// A redirect would carry the signed body, one-time code included, to
	// wherever the endpoint points; the configured URL is the only target.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Sender{cfg: c, http: &hc, Now: time.Now}, nil
}

// payload is the request body. Field names are part of the receiver
// contract.
type payload struct {
	ID        string `json:"id,omitempty"`
	TenantID  string `json:"tenant_id,omitempty"`
	Channel   string `json:"channel,omitempty"`
	To        string `json:"to,omitempty"`
	Extension string `json:"extension,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Text      string `json:"text,omitempty"`
	HTML      string `json:"html,omitempty"`
	CallID    string `json:"call_id,omitempty"`
}

// Send posts m and classifies the answer: 2xx delivered; 408, 429, 5xx and
// network failures retryable; any other status permanent.
func (s *Sender) Send(ctx context.Context, m delivery.Message) (delivery.Result, error) {
	body, err := json.Marshal(payload{
		ID: m.ID, TenantID: m.TenantID, Channel: m.Channel, To: m.To, Extension: m.Extension,
		Subject: m.Subject, Text: m.Text, HTML: m.HTML, CallID: m.CallID,
	})
	if err != nil {
		return delivery.Result{}, delivery.Permanent(fmt.Errorf("webhook: %w", err))
	}
	ts := s.Now().Unix()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return delivery.Result{}, delivery.Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Countersign-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Countersign-Signature", Sign(s.cfg.Secret, ts, body))
	if m.ID != "" {
		req.Header.Set("Idempotency-Key", m.ID)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return delivery.Result{}, fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	// A short read only costs detail: the status code decides the outcome.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))

	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		var ack struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(answer, &ack) == nil && ack.ID != "" {
			return delivery.Result{Ref: ack.ID}, nil
		}
		return delivery.Result{Ref: resp.Status}, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return delivery.Result{}, fmt.Errorf("webhook: %s", resp.Status)
	default:
		return delivery.Result{}, delivery.Permanent(fmt.Errorf("webhook: %s", resp.Status))
	}
}
