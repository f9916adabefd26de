package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

func (s *site) decode(v any, out string) {
	s.t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
}

type clientOut struct {
	ClientID       string   `json:"client_id"`
	ClientSecret   string   `json:"client_secret"`
	Name           string   `json:"name"`
	Issuer         string   `json:"issuer"`
	Public         bool     `json:"public"`
	RedirectURIs   []string `json:"redirect_uris"`
	PostLogoutURIs []string `json:"post_logout_redirect_uris"`
	Scopes         []string `json:"scopes"`
	SigningAlg     string   `json:"signing_alg"`
	AccessTTL      int64    `json:"access_token_ttl"`
	IDTokenTTL     int64    `json:"id_token_ttl"`
	RefreshTTL     int64    `json:"refresh_token_ttl"`
}

// X2: applications are registered with a tenant's OpenID Connect provider
// from the command line; a secret is shown once, at creation or renewal.
func TestOIDCClientCommands(t *testing.T) {
	s := newSite(t)
	ten := s.tenant()
	s.env["COUNTERSIGN_PUBLIC_URL"] = "https://mfa.example.org/"

	r := s.run("", "oidc", "client", "create", "--tenant", "acme", "--name", "Wiki",
		"--redirect-uri", "https://wiki.example.org/cb", "--redirect-uri", "http://127.0.0.1:9000/cb",
		"--post-logout-uri", "https://wiki.example.org/bye", "--scopes", "openid,email", "--alg", "RS256",
		"--access-ttl", "5m", "--id-token-ttl", "30m", "--refresh-ttl", "-1", "--json")
	if r.err != nil {
		t.Fatalf("create: %v\n%s", r.err, r.stderr)
	}
	var conf clientOut
	s.decode(&conf, r.stdout)
	if !strings.HasPrefix(conf.ClientID, "csc_") || !strings.HasPrefix(conf.ClientSecret, "css_") || conf.Public {
		t.Fatalf("create --json = %+v, want a confidential client with a secret", conf)
	}
	if strings.Count(r.stdout, conf.ClientSecret) != 1 || strings.Contains(r.stderr, conf.ClientSecret) {
		t.Error("the secret should appear once on stdout and never on stderr")
	}
	if conf.Issuer != "https://mfa.example.org/oidc/acme" || conf.SigningAlg != "RS256" || conf.AccessTTL != 300 ||
		conf.IDTokenTTL != 1800 || conf.RefreshTTL != 0 || strings.Join(conf.Scopes, " ") != "openid email" ||
		len(conf.RedirectURIs) != 2 || len(conf.PostLogoutURIs) != 1 {
		t.Errorf("create --json = %+v", conf)
	}
	srv := s.core()
	cl, err := srv.Engine.Client(t.Context(), ten.ID, conf.ClientID)
	if err != nil || !srv.Engine.ClientSecretMatches(cl, conf.ClientSecret) {
		t.Fatalf("the printed secret does not match the stored client: %v", err)
	}

	text := s.ok(nil, "", "oidc", "client", "create", "--tenant", "acme", "--name", "App", "--public", "--redirect-uri", "com.example.app:/cb")
	wantAll(t, text, "client_id:", "public", "https://mfa.example.org/oidc/acme", "/.well-known/openid-configuration")
	if strings.Contains(text, "css_") || strings.Contains(text, "client_secret") {
		t.Errorf("a public client has no secret:\n%s", text)
	}
	text = s.ok(nil, "", "oidc", "client", "create", "--tenant", "acme", "--name", "Other", "--redirect-uri", "https://other.example.org/cb")
	wantAll(t, text, "css_", "shown once")

	var list []clientOut
	out := s.ok(&list, "", "oidc", "client", "list", "--tenant", "acme", "--json")
	if len(list) != 3 || strings.Contains(out, "css_") || strings.Contains(out, "client_secret") {
		t.Errorf("list shows %d clients or a secret:\n%s", len(list), out)
	}
	var shown clientOut
	out = s.ok(&shown, "", "oidc", "client", "show", "--tenant", "acme", "--client", conf.ClientID, "--json")
	if shown.ClientID != conf.ClientID || strings.Contains(out, "css_") || strings.Contains(out, "client_secret") {
		t.Errorf("show:\n%s", out)
	}
	if text := s.ok(nil, "", "oidc", "client", "show", "--tenant", "acme", "--client", conf.ClientID); strings.Contains(text, "css_") {
		t.Errorf("show prints a secret:\n%s", text)
	}

	// Update changes what is given and keeps the rest, the secret included.
	var upd clientOut
	s.ok(&upd, "", "oidc", "client", "update", "--tenant", "acme", "--client", conf.ClientID, "--name", "Team wiki", "--json")
	if upd.Name != "Team wiki" || upd.SigningAlg != "RS256" || upd.AccessTTL != 300 || upd.RefreshTTL != 0 || len(upd.RedirectURIs) != 2 ||
		upd.ClientSecret != "" || upd.Public {
		t.Errorf("update --name = %+v, want the rest kept", upd)
	}
	s.ok(&upd, "", "oidc", "client", "update", "--tenant", "acme", "--client", conf.ClientID, "--refresh-ttl", "0", "--redirect-uri", "https://wiki.example.org/cb2", "--json")
	if upd.RefreshTTL != 720*3600 || len(upd.RedirectURIs) != 1 || upd.RedirectURIs[0] != "https://wiki.example.org/cb2" || upd.Name != "Team wiki" {
		t.Errorf("update --refresh-ttl 0 --redirect-uri = %+v", upd)
	}
	cl, err = srv.Engine.Client(t.Context(), ten.ID, conf.ClientID)
	if err != nil || !srv.Engine.ClientSecretMatches(cl, conf.ClientSecret) {
		t.Error("update changed the secret")
	}

	// A bad redirect URI is a field error, as other invalid input is.
	msg := s.fails("", "oidc", "client", "create", "--tenant", "acme", "--name", "Bad", "--redirect-uri", "http://evil.example.org/cb")
	wantAll(t, msg, "redirect_uris", "http://evil.example.org/cb", "https")
	wantAll(t, s.fails("", "oidc", "client", "update", "--tenant", "acme", "--client", conf.ClientID, "--redirect-uri", "/relative"), "redirect_uris", "absolute")
	wantAll(t, s.fails("", "oidc", "client", "create", "--tenant", "acme", "--name", "NoURI"), "redirect_uris")
	wantAll(t, s.fails("", "oidc", "client", "create", "--tenant", "acme", "--name", "x", "--redirect-uri", "https://x.example.org/", "--scopes", "email"), "scopes", "openid")
	wantAll(t, s.fails("", "oidc", "client", "create", "--tenant", "acme", "--name", "x", "--redirect-uri", "https://x.example.org/", "--access-ttl", "soon"), "access-ttl")
	wantAll(t, s.fails("", "oidc", "client", "show", "--tenant", "acme"), "--client")
	wantAll(t, s.fails("", "oidc", "client", "show", "--tenant", "acme", "--client", "csc_nope"), "csc_nope")

	// A new secret is shown once and replaces the old one.
	var sec map[string]string
	r = s.run("", "oidc", "client", "secret", "--tenant", "acme", "--client", conf.ClientID, "--json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	s.decode(&sec, r.stdout)
	if !strings.HasPrefix(sec["client_secret"], "css_") || sec["client_secret"] == conf.ClientSecret || strings.Count(r.stdout, sec["client_secret"]) != 1 {
		t.Errorf("secret --json = %v", sec)
	}
	cl, _ = srv.Engine.Client(t.Context(), ten.ID, conf.ClientID)
	if srv.Engine.ClientSecretMatches(cl, conf.ClientSecret) || !srv.Engine.ClientSecretMatches(cl, sec["client_secret"]) {
		t.Error("the new secret should replace the old one")
	}
	var pub clientOut
	for _, c := range list {
		if c.Public {
			pub = c
		}
	}
	wantAll(t, s.fails("", "oidc", "client", "secret", "--tenant", "acme", "--client", pub.ClientID), "public")

	s.ok(nil, "", "oidc", "client", "delete", "--tenant", "acme", "--client", conf.ClientID)
	s.ok(&list, "", "oidc", "client", "list", "--tenant", "acme", "--json")
	if len(list) != 2 {
		t.Errorf("after delete, list has %d clients, want 2", len(list))
	}
	s.fails("", "oidc", "client", "show", "--tenant", "acme", "--client", conf.ClientID)
}

type keyOut struct {
	KID       string  `json:"kid"`
	Alg       string  `json:"alg"`
	CreatedAt string  `json:"created_at"`
	RetiredAt *string `json:"retired_at"`
}

func TestOIDCKeyCommands(t *testing.T) {
	s := newSite(t)
	s.tenant()
	var first, second keyOut
	s.ok(&first, "", "oidc", "key", "rotate", "--tenant", "acme", "--json")
	s.ok(&second, "", "oidc", "key", "rotate", "--tenant", "acme", "--alg", "ES256", "--json")
	if first.Alg != "ES256" || first.KID == "" || first.KID == second.KID {
		t.Fatalf("rotate gave %+v then %+v", first, second)
	}
	var keys []keyOut
	s.ok(&keys, "", "oidc", "key", "list", "--tenant", "acme", "--json")
	if len(keys) != 2 {
		t.Fatalf("key list = %+v, want two keys", keys)
	}
	for _, k := range keys {
		switch k.KID {
		case first.KID:
			if k.RetiredAt == nil {
				t.Error("the first key should be retired")
			}
		case second.KID:
			if k.RetiredAt != nil {
				t.Error("the new key should not be retired")
			}
		default:
			t.Errorf("unexpected key %+v", k)
		}
	}
	text := s.ok(nil, "", "oidc", "key", "list", "--tenant", "acme")
	wantAll(t, text, "KID", "RETIRED", first.KID, second.KID)
	wantAll(t, s.fails("", "oidc", "key", "rotate", "--tenant", "acme", "--alg", "HS256"), "alg", "ES256")
	wantAll(t, s.fails("", "oidc", "key", "list"), "--tenant")
}
