package config

import (
	"fmt"
	"sort"
	"time"
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

func (d DeliveryConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := make([]string, 0, len(d.Providers))
	for n := range d.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := d.Providers[n]
		key := "delivery.providers." + n
		switch p.Type {
		case "dev":
		case "smtp":
			if p.Host == "" || p.Port <= 0 || p.Port > 65535 {
				add("%s: smtp needs host and port", key)
			}
			if p.From == "" {
				add("%s.from: smtp needs a From address", key)
			}
		case "twilio":
			if p.AccountSID == "" || p.AuthToken == "" {
				add("%s: twilio needs account_sid and auth_token", key)
			}
			if p.From == "" && p.MessagingServiceSID == "" {
				add("%s.from: twilio needs from (the caller ID) or messaging_service_sid", key)
			}
		case "webhook":
			if p.URL == "" || p.Secret == "" {
				add("%s: webhook needs url and secret", key)
			}
		default:
			add("%s.type: %q is not one of dev, smtp, twilio, webhook", key, p.Type)
		}
	}
	check := func(where string, r Routes, required bool) {
		for ch, name := range map[string]string{"sms": r.SMS, "voice": r.Voice, "email": r.Email} {
			if name == "" {
				if required {
					add("%s.%s: name a provider", where, ch)
				}
				continue
			}
			if _, ok := d.Providers[name]; !ok {
				add("%s.%s: provider %q is not defined under delivery.providers", where, ch, name)
			}
		}
	}
	check("delivery.default", d.Default, true)
	for slug, r := range d.Tenants {
		check("delivery.tenants."+slug, r, false)
	}
	if d.Workers < 1 || d.Workers > 64 {
		add("delivery.workers: %d is outside 1..64", d.Workers)
	}
	return errs
}
