package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/directory"
)

// Issue 9 item 4, B5, X8: a wrong code by text message is told about the
// text message (E39, naming the phone's last digits), not an authenticator
// app; when three or fewer attempts remain the answer says how many, in the
// person's recorded language; the lockout (E03) names the help desk.
func TestWrongCodeSaysWhatIsTrue(t *testing.T) {
	srv, ts, op, appKey := serveTenant(t)
	ctx := t.Context()
	if _, err := srv.Directory.SetPolicy(ctx, op, []byte(`{"allowed_factors":["totp","sms"],"mfa_attempts":5,
		"help_desk":{"name":"Acme IT","phone":"555-0100"}}`)); err != nil {
		t.Fatal(err)
	}
	srv.Engine.ForgetPolicy(op.TenantID)
	for login, locale := range map[string]string{"ann": "", "ana": "es"} {
		u, err := srv.Directory.CreateUser(ctx, op, directory.NewUser{LoginID: login, Password: "Correct-Horse-42", Locale: locale})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Engine.SetContact(ctx, op, u.ID, "sms", "5555550123"); err != nil {
			t.Fatal(err)
		}
	}

	post := func(t *testing.T, path, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+appKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return resp.StatusCode
	}
	type answer struct {
		TransactionID string `json:"transaction_id"`
		Factors       []struct{ ID, Kind string }
		Error         struct{ Code, Message string }
	}
	for _, tc := range []struct {
		login  string
		wrong  []string // the message of each wrong code, in order
		locked string
	}{
		{"ann", []string{
			"Enter the 6-digit code from the newest text message we sent to your phone ending in 0123. If that code has expired, ask for a new one.",
			"You have 3 attempts left before your account is locked.",
			"You have 2 attempts left before your account is locked.",
			"You have 1 attempt left before your account is locked.",
		}, "contact Acme IT at 555-0100."},
		{"ana", []string{
			"terminado en 0123",
			"Le quedan 3 intentos",
			"Le quedan 2 intentos",
			"Le queda 1 intento",
		}, "Acme IT"},
	} {
		t.Run(tc.login, func(t *testing.T) {
			var login answer
			if st := post(t, "/api/v1/auth/login", `{"login_id":"`+tc.login+`","password":"Correct-Horse-42"}`, &login); st != 200 || len(login.Factors) != 1 {
				t.Fatalf("login: %d %+v", st, login)
			}
			verify := `{"factor_id":"` + login.Factors[0].ID + `","code":"000000"}`
			for i, want := range tc.wrong {
				var a answer
				st := post(t, "/api/v1/auth/transactions/"+login.TransactionID+"/verify", verify, &a)
				if st != 401 || a.Error.Code != "E39" || !strings.Contains(a.Error.Message, want) {
					t.Fatalf("wrong code %d: %d %s %q, want E39 with %q", i+1, st, a.Error.Code, a.Error.Message, want)
				}
				if strings.Contains(a.Error.Message, "authenticator") || strings.Contains(a.Error.Message, "autenticación") {
					t.Errorf("a text-message code told about an authenticator app: %q", a.Error.Message)
				}
				if i == 0 && (strings.Contains(a.Error.Message, "4 ") || strings.Contains(a.Error.Message, "left")) {
					t.Errorf("attempts left are told only from three down: %q", a.Error.Message)
				}
			}
			var a answer
			if st := post(t, "/api/v1/auth/transactions/"+login.TransactionID+"/verify", verify, &a); st != 423 || a.Error.Code != "E03" || !strings.Contains(a.Error.Message, tc.locked) {
				t.Fatalf("the fifth wrong code: %d %s %q, want E03 naming %q", st, a.Error.Code, a.Error.Message, tc.locked)
			}
		})
	}
}
