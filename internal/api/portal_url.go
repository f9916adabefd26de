package api

import (
	"net/http"
	"net/url"
	"strings"
)

// portalURL is where the person a request is about enrols and looks after
// their second factors: the tenant's self-service portal, {base}/portal/{slug}/.
// The base is the configured public_url when there is one; otherwise it is
// the address the caller used to reach this server (http:// and the
// request's Host), which is right whenever the application and the person
// reach Countersign by the same name — set public_url when they do not, as
// behind a proxy. It is empty when the tenant or the base cannot be known.
func (a *API) portalURL(r *http.Request, c *caller) string {
	if a.Engine == nil || c == nil || c.TenantID == "" {
		return ""
	}
	t, _, err := a.Engine.Policy(r.Context(), c.TenantID)
	if err != nil || t == nil || t.Slug == "" {
		return ""
	}
	base := strings.TrimRight(a.Engine.PublicURL, "/")
	if base == "" {
		if r.Host == "" {
			return ""
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/portal/" + url.PathEscape(t.Slug) + "/"
}
