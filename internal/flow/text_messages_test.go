package flow_test

import (
	"strings"
	"testing"
)

// X8: messages are written in the person's language — the one the portal
// recorded for them, or the page's own when the portal sends — for codes
// sent at an application's sign-in, notices and what a call says.
func TestMessagesInThePersonsLanguageX8(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.oobUser("lucia")
		if err := e.st.SetUserLocale(e.ctx, e.tenant.ID, u.ID, "es"); err != nil {
			t.Fatal(err)
		}
		// An application's sign-in: the recorded language.
		txn := e.mfaTxn("lucia")
		if _, err := e.eng.SendCode(e.ctx, e.app, txn, e.factorOf(u, "sms")); err != nil {
			t.Fatal(err)
		}
		if m := e.newestTo(e164); !strings.Contains(m, "Código de verificación de Acme Health") || !codeRE.MatchString(m) {
			t.Fatalf("SMS code for a Spanish speaker: %q", m)
		}
		// The page's language wins: the same person on an English page.
		en := e.app
		en.Lang = "en"
		if _, err := e.eng.SendCode(e.ctx, en, txn, e.factorOf(u, "email")); err != nil {
			t.Fatal(err)
		}
		if m := e.newestTo("lucia@example.org"); !strings.HasPrefix(m, "Your Acme Health verification code is") {
			t.Fatalf("email code on an English page: %q", m)
		}
		// A notice of a change, with the date in the language's format.
		e.enrol(e.reload(u))
		if m := e.newestTo("lucia@example.org"); !strings.Contains(m, "Se agregó una aplicación de autenticación a su cuenta el ") ||
			!strings.Contains(m, "comuníquese ahora con su administrador") {
			t.Fatalf("notice in Spanish: %q", m)
		}
	})
}

// X8: a call to a Spanish speaker speaks Spanish and says so, so the voice
// reading it is a Spanish one.
func TestCallInThePersonsLanguageX8(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u, factor := e.voiceUser("pablo", "")
		if err := e.st.SetUserLocale(e.ctx, e.tenant.ID, u.ID, "es"); err != nil {
			t.Fatal(err)
		}
		call, err := e.eng.StartCall(e.ctx, e.app, e.mfaTxn("pablo"), factor, false)
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.eng.CallAnswered(e.ctx, call.ID, false)
		if err != nil || s.Lang != "es" || !strings.HasPrefix(s.Say, "Hola, le habla Acme Health: alguien está iniciando sesión en su cuenta.") || !s.Gather {
			t.Fatalf("prompt %+v %v", s, err)
		}
		s, err = e.eng.CallInput(e.ctx, call.ID, "#")
		if err != nil || s.Lang != "es" || s.Say != "Gracias. Su inicio de sesión está aprobado. Adiós." {
			t.Fatalf("approved %+v %v", s, err)
		}
		if txn, err := e.eng.Transaction(e.ctx, e.app, call.TxnID); err != nil || txn.State != "allowed" {
			t.Fatalf("transaction after the approved call: %+v %v", txn, err)
		}
	})
}
