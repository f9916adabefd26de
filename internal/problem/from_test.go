package problem_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// domainErrors is every sentinel of a domain package with the entry it names.
var domainErrors = []struct {
	err  error
	code string
}{
	{flow.ErrInvalidCredentials, "E01"},
	{flow.ErrWrongCode, "E02"},
	{flow.ErrMFALocked, "E03"},
	{flow.ErrTxnGone, "E04"},
	{flow.ErrUserNotFound, "E05"},
	{flow.ErrNotRegistered, "E06"},
	{flow.ErrAccountDisabled, "E07"},
	{flow.ErrAccountInactive, "E08"},
	{flow.ErrAccountPending, "E09"},
	{flow.ErrAccountExpired, "E10"},
	{flow.ErrAccountLocked, "E11"},
	{flow.ErrForbidden, "E14"},
	{flow.ErrCallGone, "E15"},
	{store.ErrNotFound, "E15"},
	{store.ErrConflict, "E16"},
	{flow.ErrBusy, "E17"},
	{flow.ErrEnrolmentGone, "E19"},
	{flow.ErrFactorNotAllowed, "E20"},
	{flow.ErrFreshAuthRequired, "E21"},
	{flow.ErrOTASpent, "E26"},
	{flow.ErrNoDestination, "E27"},
	{flow.ErrVerificationGone, "E28"},
	{flow.ErrContactChangeDenied, "E29"},
	{flow.ErrLastFactor, "E37"},
	{flow.ErrIdentityNotMatched, "E38"},
	{directory.ErrBadKey, "E13"},
}

func entry(t *testing.T, code string) problem.Entry {
	t.Helper()
	for _, e := range problem.Catalogue() {
		if e.Code == code {
			return e
		}
	}
	t.Fatalf("no entry %s", code)
	return problem.Entry{}
}

func TestFromDomainErrors(t *testing.T) {
	for _, d := range domainErrors {
		t.Run(d.code+" "+d.err.Error(), func(t *testing.T) {
			want := entry(t, d.code)
			// The flows wrap sentinels and join them with audit errors; every
			// form must still find its entry.
			for _, err := range []error{
				d.err,
				fmt.Errorf("user usr_1: %w", d.err),
				errors.Join(d.err, nil),
				errors.Join(d.err, errors.New("audit write failed")),
				problem.WithAttemptsLeft(fmt.Errorf("guess: %w", d.err), 5),
			} {
				for _, lang := range problem.Languages() {
					got := problem.From(err, problem.Context{Lang: lang})
					if got.Code != want.Code || got.Status != want.Status || got.Name != want.Name || got.Lang != lang {
						t.Errorf("From(%v, %s) = %s %d %s, want %s %d in %s", err, lang, got.Code, got.Status, got.Lang, want.Code, want.Status, lang)
					}
					if strings.Contains(got.Message, "{") || got.Message == "" {
						t.Errorf("From(%v, %s) message %q has a hole", err, lang, got.Message)
					}
					if !errors.Is(got, d.err) {
						t.Errorf("From(%v) dropped the cause, which the log needs", err)
					}
				}
			}
		})
	}
}

func TestFromOtherErrors(t *testing.T) {
	fields := validate.Errors{{Field: "email", Code: "invalid_format", Message: "Enter Email as an address like name@example.com, with one @ and a dot in the part after it."}}
	tests := []struct {
		name       string
		err        error
		code       string
		status     int
		retryAfter int
	}{
		{"validation", fmt.Errorf("create user: %w", fields), "E12", 400, 0},
		{"body too large", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 64 << 10}), "E23", 413, 0},
		{"named by a front door", problem.Named("method_not_allowed", nil), "E22", 405, 0},
		{"send limit", fmt.Errorf("send: %w", &flow.RateLimitedError{Scope: "user", Wait: 90*time.Second + time.Millisecond}), "E25", 429, 91},
		{"busy", flow.ErrBusy, "E17", 503, 2},
		{"unknown", errors.New("sqlite: database is locked at /var/lib/countersign/countersign.db"), "E99", 500, 0},
		{"unknown entry name", problem.Named("no_such_entry", nil), "E99", 500, 0},
		{"nil", nil, "E99", 500, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problem.From(tt.err, problem.Context{})
			if got.Code != tt.code || got.Status != tt.status || got.RetryAfter != tt.retryAfter {
				t.Errorf("got %s %d Retry-After %d, want %s %d %d", got.Code, got.Status, got.RetryAfter, tt.code, tt.status, tt.retryAfter)
			}
			if tt.code == "E99" && (strings.Contains(got.Message, "sqlite") || strings.Contains(got.Message, "no_such_entry")) {
				t.Errorf("the message reveals the cause: %s", got.Message)
			}
		})
	}
}

func TestFromFieldErrors(t *testing.T) {
	var errs validate.Errors
	validate.LoginID(&errs, "login_id", "way-too-long-login-id", 15)
	validate.Email(&errs, "email", "", true)
	validate.Code(&errs, "code", "12")
	errs.AddLimit("password", "too_short", "Use at least 15 characters.", 15)
	errs.Add("password", "too_long", "Use at most 64 characters.") // no limit recorded
	errs.Add("answer_2", "too_short", "Answer must be at least 3 characters long.")
	errs.Add("frobnicate", "sideways", "Frobnicate must not be sideways.")
	errs.Add("policy", "invalid", "policy: mfa_attempts: 0 is outside 1..100")

	en := problem.From(errs, problem.Context{Lang: "en"})
	for i, f := range en.Fields {
		if f != errs[i] {
			t.Errorf("English field %d = %+v, want the rule's own %+v", i, f, errs[i])
		}
	}
	es := problem.From(errs, problem.Context{Lang: "es"})
	want := []string{
		"El ID de inicio de sesión admite como máximo 15 caracteres. Ingrese un ID más corto.",
		"El campo «Correo electrónico» es obligatorio. Ingrese un valor válido en el campo «Correo electrónico».",
		"El código debe tener exactamente 6 dígitos.",
		"Use al menos 15 caracteres.",
		"Use at most 64 characters.",
		"La respuesta debe tener al menos 3 caracteres.",
		"El valor del campo «frobnicate» no es válido. Revise lo que admite el campo.",
		"La política no es válida. Corrija cada problema de esta lista (en inglés, como los nombres de las claves): policy: mfa_attempts: 0 is outside 1..100",
	}
	if len(es.Fields) != len(want) {
		t.Fatalf("fields %+v", es.Fields)
	}
	for i, f := range es.Fields {
		if f.Field != errs[i].Field || f.Code != errs[i].Code {
			t.Errorf("field %d is %s %s, want %s %s: only the message is translated", i, f.Field, f.Code, errs[i].Field, errs[i].Code)
		}
		if f.Message != want[i] {
			t.Errorf("field %d (%s %s) = %q, want %q", i, f.Field, f.Code, f.Message, want[i])
		}
	}
	if es.Message != entry(t, "E12").Message("es") {
		t.Errorf("message %q", es.Message)
	}
}

func TestAttemptsLeft(t *testing.T) {
	tests := []struct {
		left   int
		en, es string
	}{
		{0, "", ""},
		{1, " You have 1 attempt left before your account is locked.", " Le queda 1 intento antes de que se bloquee su cuenta."},
		{2, " You have 2 attempts left before your account is locked.", " Le quedan 2 intentos antes de que se bloquee su cuenta."},
		{3, " You have 3 attempts left before your account is locked.", " Le quedan 3 intentos antes de que se bloquee su cuenta."},
		{4, "", ""},
		{6, "", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.left), func(t *testing.T) {
			err := problem.WithAttemptsLeft(fmt.Errorf("verify: %w", flow.ErrWrongCode), tt.left)
			for lang, tail := range map[string]string{"en": tt.en, "es": tt.es} {
				got := problem.From(err, problem.Context{Lang: lang})
				if want := entry(t, "E02").Message(lang) + tail; got.Message != want {
					t.Errorf("%s: %q\nwant %q", lang, got.Message, want)
				}
			}
		})
	}
}

func TestHelpDesk(t *testing.T) {
	acme := problem.HelpDesk{Name: "Acme IT Help Desk", Phone: "555-0100", Email: "help@acme.example", URL: "https://help.acme.example"}
	tests := []struct {
		name   string
		hd     problem.HelpDesk
		en, es string
	}{
		{"none", problem.HelpDesk{}, "contact your organisation's help desk.", "comuníquese con la mesa de ayuda de su organización."},
		{"every part", acme, "contact Acme IT Help Desk at 555-0100, help@acme.example or https://help.acme.example.",
			"comuníquese con Acme IT Help Desk (555-0100, help@acme.example o https://help.acme.example)."},
		{"name only", problem.HelpDesk{Name: "Service Desk"}, "contact Service Desk.", "comuníquese con Service Desk."},
		{"phone only", problem.HelpDesk{Phone: "555-0100"}, "contact your organisation's help desk at 555-0100.",
			"comuníquese con la mesa de ayuda de su organización (555-0100)."},
		{"email and web", problem.HelpDesk{Name: "IT", Email: "help@acme.example", URL: "https://help.acme.example"},
			"contact IT at help@acme.example or https://help.acme.example.", "comuníquese con IT (help@acme.example o https://help.acme.example)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sentinel := range []error{flow.ErrMFALocked, flow.ErrAccountLocked, flow.ErrAccountInactive, flow.ErrAccountDisabled} {
				for lang, want := range map[string]string{"en": tt.en, "es": tt.es} {
					got := problem.From(sentinel, problem.Context{Lang: lang, HelpDesk: tt.hd})
					if !strings.HasSuffix(got.Message, want) {
						t.Errorf("%s %s: %q\ndoes not end %q", got.Code, lang, got.Message, want)
					}
				}
			}
		})
	}
	// Messages that send the person to no one name no help desk.
	if got := problem.From(flow.ErrWrongCode, problem.Context{HelpDesk: acme}); strings.Contains(got.Message, "Acme") {
		t.Errorf("E02 names the help desk: %s", got.Message)
	}
	// The help desk goes with the lockout and the attempts-left sentence alike.
	got := problem.From(problem.WithAttemptsLeft(flow.ErrMFALocked, 0), problem.Context{HelpDesk: acme})
	if !strings.Contains(got.Message, "Acme IT Help Desk") {
		t.Errorf("E03: %s", got.Message)
	}
}

func TestLanguage(t *testing.T) {
	tests := []struct {
		name, accept, person string
		keep                 bool
		want                 string
	}{
		{"nothing", "", "", false, "en"},
		{"spanish", "es", "", false, "es"},
		{"regional spanish", "es-MX", "", false, "es"},
		{"q-values prefer spanish", "en;q=0.3, es-419;q=0.8", "", false, "es"},
		{"q-values prefer english", "es;q=0.2, en-GB", "", false, "en"},
		{"unknown", "fr-CA, de;q=0.5", "", false, "en"},
		{"unreadable", ";;;q=x", "", false, "en"},
		{"the person's language wins", "en", "es", false, "es"},
		{"the person's regional language", "en", "es-MX", false, "es"},
		{"the person's unknown language does not", "es", "fr", false, "es"},
		{"a page keeps its language", "en", "es", true, "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := problem.InLanguage(fmt.Errorf("verify: %w", flow.ErrMFALocked), tt.person)
			got := problem.From(err, problem.Context{Lang: problem.Negotiate(tt.accept), KeepLang: tt.keep})
			if got.Lang != tt.want || got.Message != problem.From(flow.ErrMFALocked, problem.Context{Lang: tt.want}).Message {
				t.Errorf("got %s %q, want %s", got.Lang, got.Message, tt.want)
			}
		})
	}
}

func TestVariant(t *testing.T) {
	sms := problem.Named("wrong_sms_code", nil)
	got := problem.From(problem.Variant(sms, "to", "last4", "4567"), problem.Context{Lang: "es"})
	if !strings.Contains(got.Message, "terminado en 4567") || got.Code != "E39" {
		t.Errorf("%s %q", got.Code, got.Message)
	}
	// An entry without the wording asked for keeps its general message.
	got = problem.From(problem.Variant(flow.ErrWrongCode, "to", "last4", "4567"), problem.Context{})
	if got.Message != entry(t, "E02").Message("en") {
		t.Errorf("%q", got.Message)
	}
}

func TestCallOutcome(t *testing.T) {
	want := map[string]string{
		store.CallWrongKey: "E30", store.CallNoInput: "E31", store.CallDisconnected: "E32", store.CallNoAnswer: "E33",
		store.CallWrongPIN: "E34", store.CallFraud: "E35", store.CallFailed: "E36",
		store.CallQueued: "", store.CallRinging: "", store.CallAnswered: "", store.CallApproved: "",
	}
	for state, code := range want {
		err := problem.CallOutcome(state)
		if (err == nil) != (code == "") {
			t.Errorf("%s: %v, want %q", state, err, code)
			continue
		}
		if err != nil {
			if got := problem.From(err, problem.Context{}).Code; got != code {
				t.Errorf("%s: %s, want %s", state, got, code)
			}
		}
	}
}
