package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
)

const (
	defaultBaseURL = "https://api.twilio.com"
	defaultTimeout = 10 * time.Second
	// ringSeconds is how long a call rings before Twilio gives up; long
	// enough for a person to reach the phone, short of most voicemail
	// pickups.
	ringSeconds = "30"
)

// Config describes the Twilio account and how Twilio reaches Countersign.
type Config struct {
	AccountSID string
	AuthToken  string
	// BaseURL points at Twilio or a compatible service.
	BaseURL string
	// From is the E.164 sender number and the caller id of calls.
	From string
	// MessagingServiceSID, when set, sends SMS through a messaging service
	// instead of From. Calls always need From.
	MessagingServiceSID string
	// PublicURL is Countersign's externally reachable base URL: Twilio
	// fetches a call's TwiML and posts its status there.
	PublicURL string
	// Timeout bounds one API request.
	Timeout time.Duration
}

// Validate reports every problem with c at once, each a
// delivery.SettingError naming its configuration key.
func (c Config) Validate() error {
	var errs []error
	if c.AccountSID == "" {
		errs = append(errs, delivery.Setting("account_sid", "is required"))
	} else if strings.ContainsAny(c.AccountSID, "/?#% ") {
		errs = append(errs, delivery.Setting("account_sid", "has characters that cannot be part of a URL path"))
	}
	if c.AuthToken == "" {
		errs = append(errs, delivery.Setting("auth_token", "is required"))
	}
	if c.BaseURL != "" {
		if err := checkURL(c.BaseURL); err != nil {
			errs = append(errs, delivery.Setting("base_url", "%v", err))
		}
	}
	switch {
	case c.From != "":
		if e, err := delivery.E164(c.From); err != nil || e != c.From {
			errs = append(errs, delivery.Setting("from", "%q must be an E.164 number such as +15551234567", c.From))
		}
	case c.MessagingServiceSID == "":
		errs = append(errs, delivery.Setting("from", "or messaging_service_sid is required"))
	}
	if c.PublicURL != "" {
		if err := checkURL(c.PublicURL); err != nil {
			errs = append(errs, delivery.Setting("public_url", "%v", err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, delivery.Setting("timeout", "must not be negative"))
	}
	return errors.Join(errs...)
}

// checkURL accepts https, and http only to loopback: the requests carry
// the auth token and the callbacks carry call state.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must be an absolute URL without query or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("%q must use https (http only to loopback)", raw)
}

// Client sends through one Twilio account.
type Client struct {
	cfg  Config
	http *http.Client
}

var _ delivery.Sender = (*Client)(nil)

// New checks c and fills in its defaults. A nil client means a private
// http.Client; either way every request is bounded by c.Timeout.
func New(c Config, client *http.Client) (*Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.BaseURL == "" {
		c.BaseURL = defaultBaseURL
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if client == nil {
		client = &http.Client{}
	}
	return &Client{cfg: c, http: client}, nil
}

// Send sends an SMS or places a call, depending on m.Channel.
func (c *Client) Send(ctx context.Context, m delivery.Message) (delivery.Result, error) {
	to, err := delivery.E164(m.To)
	if err != nil {
		return delivery.Result{}, delivery.Permanent(fmt.Errorf("twilio: to: %w", err))
	}
	var resource string
	var form url.Values
	switch m.Channel {
	case delivery.SMS:
		resource, form = "Messages.json", c.smsForm(to, m)
	case delivery.Voice:
		resource = "Calls.json"
		form, err = c.callForm(to, m)
		if err != nil {
			return delivery.Result{}, delivery.Permanent(err)
		}
	default:
		return delivery.Result{}, delivery.Permanent(fmt.Errorf("twilio: cannot send a %q message", m.Channel))
	}
	sid, err := c.post(ctx, resource, m.ID, form)
	if err != nil {
		return delivery.Result{}, err
	}
	return delivery.Result{Ref: sid}, nil
}

func (c *Client) smsForm(to string, m delivery.Message) url.Values {
	form := url.Values{"To": {to}, "Body": {m.Text}}
	if c.cfg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", c.cfg.MessagingServiceSID)
	} else {
		form.Set("From", c.cfg.From)
	}
	return form
}

func (c *Client) callForm(to string, m delivery.Message) (url.Values, error) {
	switch {
	case c.cfg.From == "":
		return nil, errors.New("twilio: calls need a from number")
	case c.cfg.PublicURL == "":
		return nil, errors.New("twilio: calls need public_url for TwiML and status callbacks")
	case m.CallID == "":
		return nil, errors.New("twilio: call without a call id")
	case m.Extension != "" && !digitsOnly(m.Extension):
		return nil, fmt.Errorf("twilio: extension %q must be digits only", m.Extension)
	}
	id := url.PathEscape(m.CallID)
	form := url.Values{
		"To":                   {to},
		"From":                 {c.cfg.From},
		"Url":                  {c.cfg.PublicURL + "/hooks/twilio/voice/" + id},
		"Method":               {http.MethodPost},
		"StatusCallback":       {c.cfg.PublicURL + "/hooks/twilio/status/" + id},
		"StatusCallbackEvent":  {"initiated", "ringing", "answered", "completed"},
		"StatusCallbackMethod": {http.MethodPost},
		"Timeout":              {ringSeconds},
		// DetectMessageEnd waits for the greeting to finish, so what the
		// TwiML says to a machine lands on the recording instead of
		// being cut off by the beep.
		"MachineDetection": {"DetectMessageEnd"},
	}
	if m.Extension != "" {
		// Each "w" waits half a second for the far end to be ready for
		// the digits.
		form.Set("SendDigits", "ww"+m.Extension)
	}
	return form, nil
}

func digitsOnly(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// apiError is Twilio's error body.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// post creates a resource and returns its sid. The outbox id goes along as
// Twilio's idempotency token, so a retry after a lost response does not
// send a second SMS or place a second call.
func (c *Client) post(ctx context.Context, resource, idempotencyKey string, form url.Values) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	endpoint := c.cfg.BaseURL + "/2010-04-01/Accounts/" + url.PathEscape(c.cfg.AccountSID) + "/" + resource
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("twilio: %w", err)
	}
	req.SetBasicAuth(c.cfg.AccountSID, c.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("I-Twilio-Idempotency-Token", idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("twilio: %s: %w", resource, err)
	}
	defer resp.Body.Close()
	// A short read only costs detail: the status code decides the outcome.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))

	if resp.StatusCode/100 == 2 {
		// The message or call exists now; a body we cannot parse must not
		// turn into a retry.
		var created struct {
			SID string `json:"sid"`
		}
		_ = json.Unmarshal(body, &created)
		return created.SID, nil
	}
	var apiErr apiError
	if json.Unmarshal(body, &apiErr) != nil || apiErr.Message == "" {
		apiErr.Message = http.StatusText(resp.StatusCode)
	}
	err = fmt.Errorf("twilio: %s: HTTP %d: error %d: %s", resource, resp.StatusCode, apiErr.Code, apiErr.Message)
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return "", delivery.Permanent(err)
	}
	return "", err
}
