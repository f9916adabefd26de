package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	csconfig "github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/server"
)

// registerClient is `countersign-load register-client -tenant SLUG`: it
// opens the database as the operator command line does (same configuration
// and environment), registers a confidential OpenID Connect client whose
// redirect URI is the tool's callback, and prints its ID and secret as
// JSON. scripts/load runs it before starting the server.
func registerClient(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("countersign-load register-client", flag.ContinueOnError)
	tenant := fs.String("tenant", "load", "tenant slug")
	cfgPath := fs.String("config", "", "configuration file, as for countersign")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := csconfig.Load(*cfgPath, os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	srv, err := server.Core(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer srv.Close()
	t, err := srv.Engine.TenantBySlug(ctx, *tenant)
	if err != nil {
		return fmt.Errorf("tenant %q: %w", *tenant, err)
	}
	cl, secret, err := srv.Engine.RegisterClient(ctx, flow.Caller{TenantID: t.ID, Actor: "load"},
		flow.ClientInput{Name: "load", RedirectURIs: []string{callbackURI}})
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"client_id": cl.ID, "client_secret": secret})
}
