package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/server"
)

type errorAnswer struct {
	status   int
	language string
	Error    struct {
		Code, Name, Message string
		Fields              []struct{ Field, Code, Message string }
	}
}

// serveTenant runs a whole server on its embedded defaults with one tenant
// and one application: what an application really talks to.
func serveTenant(t *testing.T) (srv *server.Server, ts *httptest.Server, op flow.Caller, appKey string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts = httptest.NewServer(srv.Handler)
	t.Cleanup(ts.Close)
	tn, err := srv.Directory.CreateTenant(t.Context(), "acme", "Acme Health")
	if err != nil {
		t.Fatal(err)
	}
	op = flow.Caller{TenantID: tn.ID, Actor: "test"}
	if _, appKey, err = srv.Directory.CreateApplication(t.Context(), op, "portal"); err != nil {
		t.Fatal(err)
	}
	return srv, ts, op, appKey
}

// TestAnswersInTheRequestsLanguage runs a whole server, so the language of
// the answer is what an application really gets: Spanish messages and field
// messages for a Spanish Accept-Language, the English ones unchanged
// otherwise, and the tenant's help desk wherever a message sends the person
// to someone.
func TestAnswersInTheRequestsLanguage(t *testing.T) {
	srv, ts, op, appKey := serveTenant(t)
	_, adminKey, err := srv.Directory.CreateAdminKey(t.Context(), op, "ops", "admin")
	if err != nil {
		t.Fatal(err)
	}

	do := func(t *testing.T, method, path, key, accept, body string) errorAnswer {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		a := errorAnswer{status: resp.StatusCode, language: resp.Header.Get("Content-Language")}
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return a
	}

	const badLogin = `{"login_id":"way-too-long-login-id","password":""}`
	t.Run("fields in Spanish", func(t *testing.T) {
		for _, accept := range []string{"es", "es-MX", "en;q=0.4, es-419;q=0.9"} {
			a := do(t, "POST", "/api/v1/auth/login", appKey, accept, badLogin)
			if a.status != 400 || a.Error.Code != "E12" || a.language != "es" {
				t.Fatalf("%s: %d %s Content-Language %q", accept, a.status, a.Error.Code, a.language)
			}
			if want := problem.From(problem.Named("validation_failed", nil), problem.Context{Lang: "es"}).Message; a.Error.Message != want {
				t.Errorf("message %q, want %q", a.Error.Message, want)
			}
			want := map[string]string{
				"login_id/too_long": "El ID de inicio de sesión admite como máximo 15 caracteres. Ingrese un ID más corto.",
				"password/required": "El campo «Contraseña» es obligatorio. Ingrese un valor válido en el campo «Contraseña».",
			}
			if len(a.Error.Fields) != len(want) {
				t.Fatalf("fields %+v", a.Error.Fields)
			}
			for _, f := range a.Error.Fields {
				if w := want[f.Field+"/"+f.Code]; f.Message != w {
					t.Errorf("%s %s: %q, want %q", f.Field, f.Code, f.Message, w)
				}
			}
		}
	})
	t.Run("English unchanged", func(t *testing.T) {
		for _, accept := range []string{"", "en-US", "fr-CA, de;q=0.8"} {
			a := do(t, "POST", "/api/v1/auth/login", appKey, accept, badLogin)
			if a.status != 400 || a.Error.Code != "E12" || a.language != "en" {
				t.Fatalf("%q: %d %s Content-Language %q", accept, a.status, a.Error.Code, a.language)
			}
			if a.Error.Message != "Some fields are invalid. Correct each field listed in fields and try again." {
				t.Errorf("message %q", a.Error.Message)
			}
			want := map[string]string{
				"login_id/too_long": "Login ID must be at most 15 characters. Enter a shorter Login ID.",
				"password/required": "Password is required. Enter a valid value in the Password field.",
			}
			for _, f := range a.Error.Fields {
				if w := want[f.Field+"/"+f.Code]; f.Message != w {
					t.Errorf("%s %s: %q, want %q", f.Field, f.Code, f.Message, w)
				}
			}
		}
	})
	t.Run("malformed body in Spanish", func(t *testing.T) {
		a := do(t, "POST", "/api/v1/auth/login", appKey, "es", `{"login":"x"}`)
		if a.Error.Code != "E18" || a.language != "es" || a.Error.Message != `Campo desconocido "login". Quítelo o revise cómo se escribe en /api/v1/openapi.json.` {
			t.Errorf("%+v", a)
		}
	})
	t.Run("help desk", func(t *testing.T) {
		const mfa = `{"login_id":"ghost"}`
		a := do(t, "POST", "/api/v1/auth/mfa", appKey, "es", mfa)
		if a.Error.Code != "E05" || !strings.HasSuffix(a.Error.Message, "comuníquese con la mesa de ayuda de su organización.") {
			t.Errorf("without a help desk: %s %q", a.Error.Code, a.Error.Message)
		}
		req, _ := http.NewRequest("PUT", ts.URL+"/api/v1/admin/policy", strings.NewReader(
			`{"help_desk":{"name":"Acme IT Help Desk","phone":"555-0100","email":"help@acme.example","url":"https://help.acme.example"}}`))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("policy: %d", resp.StatusCode)
		}
		srv.Engine.PolicyTTL = 0
		for accept, want := range map[string]string{
			"":   "If it keeps happening, contact Acme IT Help Desk at 555-0100, help@acme.example or https://help.acme.example.",
			"es": "Si el problema continúa, comuníquese con Acme IT Help Desk (555-0100, help@acme.example o https://help.acme.example).",
		} {
			a := do(t, "POST", "/api/v1/auth/mfa", appKey, accept, mfa)
			if a.Error.Code != "E05" || !strings.HasSuffix(a.Error.Message, want) {
				t.Errorf("%q: %s %q\nwant it to end %q", accept, a.Error.Code, a.Error.Message, want)
			}
		}
	})
}
