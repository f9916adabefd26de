package policy

import (
	"slices"
	"testing"
	"time"
)

func TestPatchChangesOnlyWhatItNames(t *testing.T) {
	p := Default()
	p.MFAAttempts = 5
	p.AllowedFactors = []string{FactorTOTP, FactorSMS}
	p.Portal.SessionIdle = Duration(30 * time.Minute)
	got, err := Patch(p, []byte(`{"password_attempts": 4, "portal": {"security_questions": 2}, "mfa_attempts": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordAttempts != 4 || got.Portal.SecurityQuestions != 2 {
		t.Errorf("named settings not changed: %+v", got)
	}
	if got.MFAAttempts != Default().MFAAttempts {
		t.Errorf("null did not reset mfa_attempts: %d", got.MFAAttempts)
	}
	if !slices.Equal(got.AllowedFactors, p.AllowedFactors) || got.Portal.SessionIdle != p.Portal.SessionIdle {
		t.Errorf("settings the patch did not name changed: %+v", got)
	}
	for _, bad := range []string{`[1]`, `{"mfa_attempts": 0}`, `{"no_such_setting": 1}`, `{"portal": {"nope": true}}`, `nope`} {
		if _, err := Patch(p, []byte(bad)); err == nil {
			t.Errorf("patch %s accepted", bad)
		}
	}
}

func TestResetsListsWhatAFileLeavesOut(t *testing.T) {
	p := Default()
	p.MFAAttempts = 5
	p.Portal.SessionIdle = Duration(30 * time.Minute)
	p.AlertEmails = []string{"sec@example.org"}
	got, err := Resets(p, []byte(`{"allowed_factors": ["totp"], "portal": {"security_questions": 4}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alert_emails", "mfa_attempts", "portal.session_idle"}
	if !slices.Equal(got, want) {
		t.Errorf("resets %v, want %v", got, want)
	}
	if got, _ := Resets(Default(), []byte(`{}`)); len(got) != 0 {
		t.Errorf("a default policy has nothing to reset: %v", got)
	}
}
