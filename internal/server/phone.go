package server

import (
	"context"
	"strings"
	"sync"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/voicehook"
)

// devPhone connects the development page's call controls to the flow
// engine, submitting keys the way a provider would: one at a time when the
// call takes single keys, or up to the # when it collects a PIN.
type devPhone struct {
	engine *flow.Engine

	mu   sync.Mutex
	last map[string]flow.Script
}

func (p *devPhone) remember(id string, s flow.Script) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]flow.Script{}
	}
	p.last[id] = s
	return s.Say
}

func (p *devPhone) Answer(ctx context.Context, id string, machine bool) (string, error) {
	s, err := p.engine.CallAnswered(ctx, id, machine)
	return p.remember(id, s), err
}

func (p *devPhone) Press(ctx context.Context, id, keys string) (string, error) {
	p.mu.Lock()
	s := p.last[id]
	p.mu.Unlock()
	if s.FinishOnKey == "#" {
		digits, _, _ := strings.Cut(keys, "#")
		s, err := p.engine.CallInput(ctx, id, digits)
		return p.remember(id, s), err
	}
	var said []string
	for _, k := range keys {
		next, err := p.engine.CallInput(ctx, id, string(k))
		if next.Say != "" {
			said = append(said, next.Say)
		}
		p.remember(id, next)
		if err != nil || !next.Gather {
			return strings.Join(said, " "), err
		}
	}
	return strings.Join(said, " "), nil
}

func (p *devPhone) Silence(ctx context.Context, id string) (string, error) {
	s, err := p.engine.CallTimedOut(ctx, id)
	return p.remember(id, s), err
}

func (p *devPhone) End(ctx context.Context, id, status string) error {
	return p.engine.CallEnded(ctx, id, status)
}

// voiceProvider finds the Twilio-compatible provider that carries a tenant's
// calls, for checking its callbacks' signatures.
func (s *Server) voiceProvider(tenantID string) (voicehook.Provider, bool) {
	name, _, err := s.route(tenantID, "voice")
	if err != nil {
		return voicehook.Provider{}, false
	}
	p, ok := s.Config.Delivery.Providers[name]
	if !ok || p.Type != "twilio" {
		return voicehook.Provider{}, false
	}
	return voicehook.Provider{AuthToken: p.AuthToken, PublicURL: strings.TrimRight(p.PublicURL, "/")}, true
}
