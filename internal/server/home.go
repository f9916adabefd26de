package server

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/countersign/countersign/internal/portal"
)

// The page at / tells someone who has just started Countersign where things
// are (X2, issue 11): the API description, the development outbox when it is
// on, health and readiness, and how to reach a tenant's portal and OpenID
// Connect issuer. It lists no tenant: the page needs no key, and a list
// would tell anyone which organisations this server serves.
var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Countersign</title>
</head>
<body>
<main>
<h1>Countersign</h1>
<p>This server is running. What it offers:</p>
<ul>
<li><a href="/api/v1/openapi.json">The REST API's description</a> (OpenAPI 3, JSON)</li>
{{- if .DevOutbox}}
<li><a href="/dev/outbox">The development outbox</a>: the texts, emails and calls the development provider did not send</li>
{{- end}}
<li><a href="/healthz">Health</a> and <a href="/readyz">readiness</a></li>
</ul>
<h2>Reach a tenant</h2>
<p>Replace <var>tenant</var> with the tenant's slug, the short name given to <code>countersign tenant create --slug</code>:</p>
<ul>
<li>Self-service portal: <code>{{.Base}}/portal/<var>tenant</var>/</code></li>
<li>OpenID Connect issuer (hosted login): <code>{{.Base}}/oidc/<var>tenant</var></code></li>
<li>OpenID Connect discovery: <code>{{.Base}}/oidc/<var>tenant</var>/.well-known/openid-configuration</code></li>
</ul>
</main>
</body>
</html>
`))

// home serves the page at /.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	// The portal pages' headers.
	portal.Headers(w, strings.HasPrefix(s.Config.PublicURL, "https://"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	base := strings.TrimRight(s.Config.PublicURL, "/")
	if base == "" {
		// As the REST API's portal_url: the name this request reached us by.
		base = "http://" + r.Host
	}
	_ = homePage.Execute(w, struct {
		Base      string
		DevOutbox bool
	}{base, s.devPage})
}

// baseURL is where people reach this server: public_url when set, otherwise
// http:// and the address it listens on.
func (s *Server) baseURL(listening string) string {
	if b := strings.TrimRight(s.Config.PublicURL, "/"); b != "" {
		return b
	}
	return "http://" + listening
}

// logReady writes the one line a newcomer needs once the server listens:
// where the portal, the hosted login and, when on, the development outbox
// are.
func (s *Server) logReady(listening string) {
	base := s.baseURL(listening)
	args := []any{
		"url", base + "/",
		"portal", base + "/portal/{tenant}/",
		"oidc_issuer", base + "/oidc/{tenant}",
		"api", base + "/api/v1/openapi.json",
	}
	if s.devPage {
		args = append(args, "dev_outbox", base+"/dev/outbox")
	}
	s.Log.Info("countersign ready", args...)
}
