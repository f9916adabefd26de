package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/delivery/devbox"
	"github.com/countersign/countersign/internal/delivery/smtpmail"
	"github.com/countersign/countersign/internal/delivery/twilio"
	"github.com/countersign/countersign/internal/delivery/webhook"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/store"
)

// providers builds every configured provider; the development box, if any
// is configured, is returned too for its page.
func providers(cfg config.DeliveryConfig) (map[string]delivery.Sender, *devbox.Box, error) {
	out := map[string]delivery.Sender{}
	var box *devbox.Box
	var errs []error
	for name, p := range cfg.Providers {
		var s delivery.Sender
		var err error
		switch p.Type {
		case "dev":
			if box == nil {
				box = &devbox.Box{}
			}
			s = box
		case "smtp":
			s, err = smtpmail.New(p.SMTP())
		case "twilio":
			s, err = twilio.New(p.Twilio(), nil)
		case "webhook":
			s, err = webhook.New(p.Webhook(), nil)
		default:
			err = fmt.Errorf("unknown type %q", p.Type)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("delivery.providers.%s: %w", name, err))
			continue
		}
		out[name] = s
	}
	return out, box, errors.Join(errs...)
}

// router picks a tenant's provider per channel, remembering tenant slugs.
type router struct {
	cfg     config.DeliveryConfig
	senders map[string]delivery.Sender
	store   interface {
		TenantByID(ctx context.Context, id string) (*store.Tenant, error)
	}

	mu    sync.Mutex
	slugs map[string]string
}

func (r *router) route(tenantID, channel string) (string, delivery.Sender, error) {
	r.mu.Lock()
	slug, ok := r.slugs[tenantID]
	r.mu.Unlock()
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		t, err := r.store.TenantByID(ctx, tenantID)
		if err != nil {
			return "", nil, fmt.Errorf("tenant %s: %w", tenantID, err)
		}
		slug = t.Slug
		r.mu.Lock()
		if r.slugs == nil {
			r.slugs = map[string]string{}
		}
		r.slugs[tenantID] = slug
		r.mu.Unlock()
	}
	name := r.cfg.Route(slug, channel)
	s, ok := r.senders[name]
	if !ok {
		return name, nil, fmt.Errorf("no provider %q for %s", name, channel)
	}
	return name, s, nil
}

// devPageEnabled follows the configuration, defaulting to on only when the
// server listens on loopback.
func devPageEnabled(cfg config.Config) bool {
	if cfg.Delivery.DevPage != nil {
		return *cfg.Delivery.DevPage
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// recordMargin is what a stopping worker keeps of the shutdown timeout to
// record its last outcome and release the rest of its batch.
const recordMargin = 10 * time.Second

func (s *Server) startWorkers(ctx context.Context) {
	drain := max(s.Config.ShutdownTimeout-recordMargin, time.Second)
	for i := range s.Config.Delivery.Workers {
		w := &outbox.Worker{Store: s.Store, Keys: s.Engine.Keys, Route: s.route, ID: fmt.Sprintf("%s-%d", s.instance, i), Log: s.Log,
			Observe: s.observeDelivery, Drain: drain}
		s.workers = append(s.workers, w)
		s.background.Go(func() { w.Run(ctx) })
	}
}

// notify wakes one worker after a message was enqueued in this process.
func (s *Server) notify() {
	for _, w := range s.workers {
		w.Notify()
	}
}
