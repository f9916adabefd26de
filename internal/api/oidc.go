package api

import (
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// The applications registered with the tenant's OpenID Connect provider
// and its token-signing keys (X2). Both admin roles may read them; only
// tenant administrators may change them, since a registration decides
// where signed-in people are sent.

// clientRequest registers or changes an application. On PUT a field left
// out keeps its value. Lifetimes are in seconds: 0 takes the default, and
// a refresh_token_ttl of -1 issues no refresh tokens.
type clientRequest struct {
	Name           *string   `json:"name"`
	Public         *bool     `json:"public"`
	RedirectURIs   *[]string `json:"redirect_uris"`
	PostLogoutURIs *[]string `json:"post_logout_redirect_uris"`
	Scopes         *[]string `json:"scopes"`
	SigningAlg     *string   `json:"signing_alg"`
	AccessTTL      *int64    `json:"access_token_ttl"`
	IDTokenTTL     *int64    `json:"id_token_ttl"`
	RefreshTTL     *int64    `json:"refresh_token_ttl"`
}

// maxTTLSeconds is far beyond any lifetime allowed; a larger number is
// kept at it, so it is refused as out of range rather than overflowing.
const maxTTLSeconds = 1 << 32

func seconds(n int64) time.Duration {
	n = max(min(n, maxTTLSeconds), -maxTTLSeconds)
	return time.Duration(n) * time.Second
}

func (in *clientRequest) apply(to *flow.ClientInput) {
	set := func(dst *[]string, src *[]string) {
		if src != nil {
			*dst = *src
		}
	}
	if in.Name != nil {
		to.Name = *in.Name
	}
	if in.Public != nil {
		to.Public = *in.Public
	}
	set(&to.RedirectURIs, in.RedirectURIs)
	set(&to.PostLogoutURIs, in.PostLogoutURIs)
	set(&to.Scopes, in.Scopes)
	if in.SigningAlg != nil {
		to.SigningAlg = *in.SigningAlg
	}
	for _, f := range []struct {
		src *int64
		dst *time.Duration
	}{{in.AccessTTL, &to.AccessTTL}, {in.IDTokenTTL, &to.IDTokenTTL}, {in.RefreshTTL, &to.RefreshTTL}} {
		if f.src != nil {
			*f.dst = seconds(*f.src)
		}
	}
}

// issuer is the caller's tenant's OpenID Connect issuer, or empty when the
// API was built without a public base (a test's).
func (a *API) issuer(r *http.Request, c *caller) (string, error) {
	if a.PublicBase == "" {
		return "", nil
	}
	t, err := a.Directory.Tenant(r.Context(), c.TenantID)
	if err != nil {
		return "", err
	}
	return directory.Issuer(a.PublicBase, t.Slug), nil
}

func (a *API) writeClient(w http.ResponseWriter, r *http.Request, c *caller, status int, cl *store.OIDCClient, secret string) error {
	iss, err := a.issuer(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, status, directory.ToClientView(cl, secret, iss))
	return nil
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request, c *caller) error {
	cls, err := a.Engine.Clients(r.Context(), c.TenantID)
	if err != nil {
		return err
	}
	iss, err := a.issuer(r, c)
	if err != nil {
		return err
	}
	out := struct {
		Clients []directory.ClientView `json:"clients"`
	}{Clients: []directory.ClientView{}}
	for i := range cls {
		out.Clients = append(out.Clients, directory.ToClientView(&cls[i], "", iss))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in clientRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	var ci flow.ClientInput
	in.apply(&ci)
	cl, secret, err := a.Engine.RegisterClient(r.Context(), c.Caller, ci)
	if err != nil {
		return err
	}
	return a.writeClient(w, r, c, http.StatusCreated, cl, secret)
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	cl, err := a.Engine.Client(r.Context(), c.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return a.writeClient(w, r, c, http.StatusOK, cl, "")
}

func (a *API) updateClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in clientRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	cl, err := a.Engine.Client(r.Context(), c.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	ci := directory.ClientInputOf(cl)
	if in.Public != nil && *in.Public != ci.Public {
		return validate.Errors{{Field: "public", Code: "invalid",
			Message: "A client cannot change between public and confidential: register a new one."}}
	}
	in.apply(&ci)
	if cl, err = a.Engine.UpdateClient(r.Context(), c.Caller, cl.ID, ci); err != nil {
		return err
	}
	return a.writeClient(w, r, c, http.StatusOK, cl, "")
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request, c *caller) error {
	cl, err := a.Engine.Client(r.Context(), c.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.Engine.RemoveClient(r.Context(), c.Caller, cl.ID); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) newClientSecret(w http.ResponseWriter, r *http.Request, c *caller) error {
	cl, err := a.Engine.Client(r.Context(), c.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	secret, err := a.Engine.NewClientSecret(r.Context(), c.Caller, cl.ID)
	if err != nil {
		return err
	}
	// The answer shows the registration with the new secret, this once.
	if cl, err = a.Engine.Client(r.Context(), c.TenantID, cl.ID); err != nil {
		return err
	}
	return a.writeClient(w, r, c, http.StatusOK, cl, secret)
}

func (a *API) listSigningKeys(w http.ResponseWriter, r *http.Request, c *caller) error {
	keys, err := a.Engine.PublishedKeys(r.Context(), c.TenantID)
	if err != nil {
		return err
	}
	out := struct {
		Keys []directory.KeyView `json:"keys"`
	}{Keys: []directory.KeyView{}}
	for i := range keys {
		out.Keys = append(out.Keys, directory.ToKeyView(&keys[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) rotateSigningKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Alg string `json:"alg"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Alg == "" {
		in.Alg = store.AlgES256
	}
	if in.Alg != store.AlgES256 && in.Alg != store.AlgRS256 {
		return validate.Errors{{Field: "alg", Code: "invalid", Message: "Signing algorithm must be ES256 or RS256."}}
	}
	k, err := a.Engine.RotateSigningKey(r.Context(), c.Caller, c.TenantID, in.Alg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, directory.KeyView{KID: k.ID, Alg: k.Alg, CreatedAt: k.CreatedAt})
	return nil
}
