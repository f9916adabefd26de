package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/delivery/smtpmail"
	"github.com/countersign/countersign/internal/delivery/twilio"
	"github.com/countersign/countersign/internal/delivery/webhook"
)

// DeliveryConfig names the providers and which one each tenant uses for each
// channel. Nested settings come only from the file.
type DeliveryConfig struct {
	// Default routes every tenant without routes of its own.
	Default Routes `yaml:"default"`
	// Tenants maps a tenant slug to its routes; a channel left empty falls
	// back to Default.
	Tenants   map[string]Routes   `yaml:"tenants"`
	Providers map[string]Provider `yaml:"providers"`
	// DevPage serves the development provider's page at /dev/outbox. Unset
	// means on only when the server listens on loopback.
	DevPage *bool `yaml:"dev_page"`
	// Workers is the number of outbox workers in this process.
	Workers int `yaml:"workers"`
}

// Routes picks a provider per channel.
type Routes struct {
	SMS   string `yaml:"sms"`
	Voice string `yaml:"voice"`
	Email string `yaml:"email"`
}

// Provider is one configured provider; which fields apply depends on Type.
type Provider struct {
	Type string `yaml:"type"` // dev, smtp, twilio, webhook

	// smtp
	Host          string        `yaml:"host"`
	Port          int           `yaml:"port"`
	Username      string        `yaml:"username"`
	Password      string        `yaml:"password"`
	TLS           string        `yaml:"tls"` // starttls (default), tls, none
	From          string        `yaml:"from"`
	AllowInsecure bool          `yaml:"allow_insecure"`
	Timeout       time.Duration `yaml:"timeout"`

	// twilio (From is the caller ID and SMS sender)
	AccountSID          string `yaml:"account_sid"`
	AuthToken           string `yaml:"auth_token"`
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	BaseURL             string `yaml:"base_url"`
	PublicURL           string `yaml:"public_url"`

	// webhook
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

func defaultDelivery() DeliveryConfig {
	return DeliveryConfig{
		Default:   Routes{SMS: "dev", Voice: "dev", Email: "dev"},
		Providers: map[string]Provider{"dev": {Type: "dev"}},
		Workers:   2,
	}
}

// Route returns the provider name for a tenant's channel.
func (d DeliveryConfig) Route(tenantSlug, channel string) string {
	pick := func(r Routes) string {
		switch channel {
		case "sms":
			return r.SMS
		case "voice":
			return r.Voice
		case "email":
			return r.Email
		}
		return ""
	}
	if r, ok := d.Tenants[tenantSlug]; ok {
		if name := pick(r); name != "" {
			return name
		}
	}
	return pick(d.Default)
}

// SMTP is p's settings as the smtpmail provider takes them.
func (p Provider) SMTP() smtpmail.Config {
	return smtpmail.Config{Host: p.Host, Port: p.Port, Username: p.Username, Password: p.Password, TLS: p.TLS,
		AllowInsecure: p.AllowInsecure, From: p.From, Timeout: p.Timeout}
}

// Twilio is p's settings as the twilio provider takes them.
func (p Provider) Twilio() twilio.Config {
	return twilio.Config{AccountSID: p.AccountSID, AuthToken: p.AuthToken, BaseURL: p.BaseURL, From: p.From,
		MessagingServiceSID: p.MessagingServiceSID, PublicURL: p.PublicURL, Timeout: p.Timeout}
}

// Webhook is p's settings as the webhook provider takes them.
func (p Provider) Webhook() webhook.Config {
	return webhook.Config{URL: p.URL, Secret: p.Secret, Timeout: p.Timeout, AllowInsecure: p.AllowInsecure}
}

// validate checks the section, each provider by the same rules its package
// applies when the server builds it, so a setting that would stop the start
// is reported here with every other problem. name gives a key as the
// operator wrote it.
func (d DeliveryConfig) validate(name func(string) string) []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name(key), fmt.Sprintf(format, args...)))
	}
	for _, n := range slices.Sorted(maps.Keys(d.Providers)) {
		p := d.Providers[n]
		key := "delivery.providers." + n
		var err error
		switch p.Type {
		case "dev":
		case "smtp":
			err = p.SMTP().Validate()
		case "twilio":
			err = p.Twilio().Validate()
		case "webhook":
			err = p.Webhook().Validate()
		default:
			add(key+".type", "%q is not one of dev, smtp, twilio, webhook", p.Type)
		}
		for _, e := range leaves(err) {
			var se *delivery.SettingError
			if errors.As(e, &se) {
				add(key+"."+se.Key, "%s", se.Problem)
			} else {
				add(key, "%v", e)
			}
		}
	}
	check := func(where string, r Routes, required bool) {
		for _, ch := range []struct{ name, provider string }{{"sms", r.SMS}, {"voice", r.Voice}, {"email", r.Email}} {
			if ch.provider == "" {
				if required {
					add(where+"."+ch.name, "name a provider")
				}
				continue
			}
			p, ok := d.Providers[ch.provider]
			switch {
			case !ok:
				add(where+"."+ch.name, "provider %q is not defined under delivery.providers", ch.provider)
			case channelsOf[p.Type] != nil && !slices.Contains(channelsOf[p.Type], ch.name):
				add(where+"."+ch.name, "provider %q is of type %s, which cannot send %s", ch.provider, p.Type, ch.name)
			case ch.name == "voice" && p.Type == "twilio" && (p.From == "" || p.PublicURL == ""):
				// Twilio sends SMS with a messaging service alone, but a
				// call needs a caller ID and an address for its TwiML.
				add(where+"."+ch.name, "provider %q places calls, which need its from and public_url", ch.provider)
			}
		}
	}
	check("delivery.default", d.Default, true)
	for _, slug := range slices.Sorted(maps.Keys(d.Tenants)) {
		check("delivery.tenants."+slug, d.Tenants[slug], false)
	}
	if d.Workers < 1 || d.Workers > 64 {
		add("delivery.workers", "%d is outside 1..64", d.Workers)
	}
	return errs
}

// channelsOf is what each provider type can send; the outbox would
// otherwise fail every message routed elsewhere, one by one, at run time.
var channelsOf = map[string][]string{
	"dev": {"sms", "voice", "email"},
	// A webhook cannot report what the person pressed during a call.
	"webhook": {"sms", "email"},
	"twilio":  {"sms", "voice"},
	"smtp":    {"email"},
}

// leaves flattens errors.Join trees, so each problem is reported on its own.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}
