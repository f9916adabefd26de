package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/countersign/countersign/internal/store"
)

// endSession is RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0). The address to return to must be registered for the client the
// id_token_hint (or client_id) names; state goes back with it. The
// browser's session lives in a cookie of the hosted login, so the
// browser is sent there, with the validated address sealed, to end it.
// Every refusal is a page: redirecting with an error to an address that
// was not validated would be an open redirect.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request, st *reqState) {
	ctx := r.Context()
	refuse := func(msg string) {
		if p.ErrorPage != nil {
			p.ErrorPage(w, r, st.tenant.Slug, http.StatusBadRequest, errors.New(msg))
			return
		}
		oauthError(w, http.StatusBadRequest, "invalid_request", msg)
	}
	hint, clientID := r.Form.Get("id_token_hint"), r.Form.Get("client_id")
	target, state := r.Form.Get("post_logout_redirect_uri"), r.Form.Get("state")
	var userID string
	if hint != "" {
		claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, hint, p.op.IDTokenHintVerifier(ctx))
		if err != nil && !errors.As(err, &op.IDTokenHintExpiredError{}) {
			refuse("The sign-out link is not valid (its id_token_hint was not issued here). You may close this page.")
			return
		}
		azp := claims.GetAuthorizedParty()
		if azp == "" && len(claims.GetAudience()) > 0 {
			azp = claims.GetAudience()[0]
		}
		if clientID != "" && clientID != azp {
			refuse("The sign-out link is not valid (client_id does not match its id_token_hint). You may close this page.")
			return
		}
		clientID, userID = azp, claims.GetSubject()
	}
	redirect := ""
	if clientID != "" {
		cl, err := p.Engine.Client(ctx, st.tenant.ID, clientID)
		if errors.Is(err, store.ErrNotFound) {
			refuse("The sign-out link names an application that is not registered here. You may close this page.")
			return
		}
		if err != nil {
			p.unavailableOrFail(w, r, err)
			return
		}
		st.clientID = cl.ID
		if target != "" {
			if !slices.Contains(cl.PostLogoutURIs, target) {
				refuse("The application asked to return to an address it has not registered for after sign-out. You are being signed out; you may close this page.")
				return
			}
			redirect = target
			if state != "" {
				u, err := url.Parse(target)
				if err != nil {
					refuse("The application's return address cannot be used.")
					return
				}
				q := u.Query()
				q.Set("state", state)
				u.RawQuery = q.Encode()
				redirect = u.String()
			}
		}
		if err := p.Engine.SignedOut(ctx, st.caller(), cl.ID, userID); err != nil {
			p.unavailableOrFail(w, r, err)
			return
		}
	} else if target != "" {
		refuse("The sign-out link must name its application (id_token_hint or client_id) to return to it.")
		return
	}
	to := p.Base + "/portal/" + st.tenant.Slug + "/logout?to=" + url.QueryEscape(p.Engine.SealLogout(st.tenant.ID, redirect))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
}

func (p *Provider) unavailableOrFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		p.unavailable(w, r, err)
		return
	}
	p.Log.Error("oidc end session failed", "err", err)
	oauthError(w, http.StatusInternalServerError, "server_error", "An unexpected error occurred.")
}
