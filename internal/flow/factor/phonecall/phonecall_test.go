package phonecall_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/testutil/factortest"

	"github.com/countersign/countersign/internal/flow/factor/phonecall"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// codes lists field:code of every violation, in order.
func codes(err error) []string {
	var errs validate.Errors
	if !errors.As(err, &errs) {
		return nil
	}
	var out []string
	for _, fe := range errs {
		out = append(out, fe.Field+":"+fe.Code)
	}
	return out
}

func TestKind(t *testing.T) {
	if got := (phonecall.Factor{}).Kind(); got != policy.FactorVoice {
		t.Errorf("Kind() = %q, want %q", got, policy.FactorVoice)
	}
}

// A4: a required primary number and an optional backup, each with an
// optional extension; a PIN only when policy asks for one.
func TestValidate(t *testing.T) {
	noPIN := policy.Default()
	withPIN := noPIN
	withPIN.VoicePINRequired = true
	for _, c := range []struct {
		name string
		p    policy.Policy
		n    phonecall.Numbers
		pin  string
		want []string
		norm phonecall.Numbers
	}{
		{"primary only", noPIN, phonecall.Numbers{Primary: "(555) 123-4567"}, "", nil,
			phonecall.Numbers{Primary: "5551234567"}},
		{"both with extensions", noPIN, phonecall.Numbers{Primary: "+1 555 123 4567", PrimaryExt: " 12 ", Backup: "555.987.6543", BackupExt: "9"}, "", nil,
			phonecall.Numbers{Primary: "5551234567", PrimaryExt: "12", Backup: "5559876543", BackupExt: "9"}},
		{"no primary", noPIN, phonecall.Numbers{Backup: "5559876543"}, "", []string{"primary:required"}, phonecall.Numbers{}},
		{"bad primary", noPIN, phonecall.Numbers{Primary: "555-1234"}, "", []string{"primary:invalid_length"}, phonecall.Numbers{}},
		{"bad extension", noPIN, phonecall.Numbers{Primary: "5551234567", PrimaryExt: "12a"}, "", []string{"primary_ext:invalid_chars"}, phonecall.Numbers{}},
		{"extension without backup", noPIN, phonecall.Numbers{Primary: "5551234567", BackupExt: "12"}, "", []string{"backup_ext:invalid"}, phonecall.Numbers{}},
		{"PIN of 4", withPIN, phonecall.Numbers{Primary: "5551234567"}, "1234", nil, phonecall.Numbers{Primary: "5551234567"}},
		{"PIN of 8", withPIN, phonecall.Numbers{Primary: "5551234567"}, "12345678", nil, phonecall.Numbers{Primary: "5551234567"}},
		{"PIN missing", withPIN, phonecall.Numbers{Primary: "5551234567"}, "", []string{"pin:invalid"}, phonecall.Numbers{}},
		{"PIN of 3", withPIN, phonecall.Numbers{Primary: "5551234567"}, "123", []string{"pin:invalid"}, phonecall.Numbers{}},
		{"PIN of 9", withPIN, phonecall.Numbers{Primary: "5551234567"}, "123456789", []string{"pin:invalid"}, phonecall.Numbers{}},
		{"PIN with a letter", withPIN, phonecall.Numbers{Primary: "5551234567"}, "12a4", []string{"pin:invalid"}, phonecall.Numbers{}},
		{"PIN with #", withPIN, phonecall.Numbers{Primary: "5551234567"}, "1234#", []string{"pin:invalid"}, phonecall.Numbers{}},
		// X5: 0 then # reports fraud, so a PIN may not begin with it.
		{"PIN starting with 0", withPIN, phonecall.Numbers{Primary: "5551234567"}, "0123", []string{"pin:invalid"}, phonecall.Numbers{}},
		{"every problem at once", withPIN, phonecall.Numbers{BackupExt: "1"}, "1", []string{"primary:required", "backup_ext:invalid", "pin:invalid"}, phonecall.Numbers{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := phonecall.Validate(c.p, c.n, c.pin)
			if got := codes(err); !slices.Equal(got, c.want) {
				t.Fatalf("Validate = %v (%v), want %v", got, err, c.want)
			}
			if err == nil && n != c.norm {
				t.Errorf("Validate numbers = %+v, want %+v", n, c.norm)
			}
		})
	}
}

// The engine stores PINHash(pin) whenever a PIN is given, and the call then
// asks for it (flow/enrolment.go, flow/calls.go); the API takes a "pin"
// whatever the policy. A PIN that skipped the rules can make approval
// impossible: "0" is read as the fraud code, letters cannot be keyed.
func TestValidateGivenPINWithoutPolicy(t *testing.T) {
	for _, pin := range []string{"0", "0123", "12", "abcd", "1234#"} {
		if _, err := phonecall.Validate(policy.Default(), phonecall.Numbers{Primary: "5551234567"}, pin); err == nil {
			t.Errorf("Validate accepted the PIN %q under a policy that does not require one", pin)
		}
	}
}

// Issue 9 item 4: each failure says what is true. A person who typed a
// backup number with a typo is told about the number, not that their
// extension lacks one.
func TestValidateBadBackupWithExtension(t *testing.T) {
	_, err := phonecall.Validate(policy.Default(), phonecall.Numbers{Primary: "5551234567", Backup: "555-12", BackupExt: "9"}, "")
	if got, want := codes(err), []string{"backup:invalid_length"}; !slices.Equal(got, want) {
		t.Errorf("Validate = %v, want %v", got, want)
	}
}

func TestLeg(t *testing.T) {
	n := phonecall.Numbers{Primary: "5551234567", PrimaryExt: "12", Backup: "5559876543", BackupExt: "34"}
	for _, c := range []struct{ leg, number, ext string }{
		{phonecall.LegPrimary, "5551234567", "12"},
		{phonecall.LegBackup, "5559876543", "34"},
		{"", "5551234567", "12"},
	} {
		t.Run(c.leg, func(t *testing.T) {
			if number, ext := n.Leg(c.leg); number != c.number || ext != c.ext {
				t.Errorf("Leg(%q) = %q, %q; want %q, %q", c.leg, number, ext, c.number, c.ext)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		name, config string
		want         phonecall.Numbers
		err          bool
	}{
		{"full", `{"primary":"5551234567","primary_ext":"1","backup":"5559876543","backup_ext":"2"}`,
			phonecall.Numbers{Primary: "5551234567", PrimaryExt: "1", Backup: "5559876543", BackupExt: "2"}, false},
		{"primary only", `{"primary":"5551234567"}`, phonecall.Numbers{Primary: "5551234567"}, false},
		{"empty object", `{}`, phonecall.Numbers{}, false},
		{"broken", `{"primary":`, phonecall.Numbers{}, true},
		{"empty", ``, phonecall.Numbers{}, true},
		{"wrong type", `{"primary":5551234567}`, phonecall.Numbers{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := phonecall.Config(&store.Factor{ID: "fac_voice", Config: c.config})
			if (err != nil) != c.err {
				t.Fatalf("Config err = %v, want error %v", err, c.err)
			}
			if err != nil && !strings.Contains(err.Error(), "fac_voice") {
				t.Errorf("error %q does not name the factor", err)
			}
			if err == nil && n != c.want {
				t.Errorf("Config = %+v, want %+v", n, c.want)
			}
		})
	}
}

// The person's own pages show which numbers a call reaches, masked.
func TestReaches(t *testing.T) {
	for _, c := range []struct {
		name, config, to, backup string
	}{
		{"both", `{"primary":"5551234567","backup":"5559876543","backup_ext":"12"}`, "***-***-4567", "***-***-6543"},
		{"primary only", `{"primary":"5551234567","primary_ext":"3"}`, "***-***-4567", ""},
		{"broken config", `{`, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			to, backup := phonecall.Factor{}.Reaches(&store.Factor{ID: "fac_voice", Config: c.config}, &store.User{Phone: "5550000000"})
			if to != c.to || backup != c.backup {
				t.Errorf("Reaches = %q, %q; want %q, %q", to, backup, c.to, c.backup)
			}
		})
	}
}

func TestPINHash(t *testing.T) {
	keys := factortest.Keys(t)
	if h := phonecall.PINHash(keys, "usr_a", ""); h != nil {
		t.Errorf("PINHash of no PIN = %x, want nil: a call without a PIN asks for none", h)
	}
	h := phonecall.PINHash(keys, "usr_a", "1234")
	if len(h) == 0 {
		t.Fatal("PINHash of a PIN is empty")
	}
	if !bytes.Equal(h, phonecall.PINHash(keys, "usr_a", "1234")) {
		t.Error("PINHash is not stable")
	}
	for _, c := range []struct{ user, pin string }{{"usr_b", "1234"}, {"usr_a", "1235"}, {"usr_a", "12345"}} {
		if bytes.Equal(h, phonecall.PINHash(keys, c.user, c.pin)) {
			t.Errorf("PINHash(%s, %s) equals PINHash(usr_a, 1234)", c.user, c.pin)
		}
	}
}

// A4, A6 and X5: what each key press on an answered call means.
func TestPress(t *testing.T) {
	keys := factortest.Keys(t)
	pin := phonecall.PINHash(keys, "usr_a", "4321")
	for _, c := range []struct {
		name            string
		pinHash         []byte
		pending, digits string
		action          phonecall.Action
		refused         string
	}{
		{"no PIN: #", nil, "", "#", phonecall.Approve, ""},
		{"no PIN: 0 waits for #", nil, "", "0", phonecall.AwaitHash, ""},
		{"no PIN: 0 then #", nil, "0", "#", phonecall.Fraud, ""},
		{"no PIN: 0 then 0", nil, "0", "0", phonecall.Refuse, store.CallWrongKey},
		{"no PIN: 0 then 5", nil, "0", "5", phonecall.Refuse, store.CallWrongKey},
		{"no PIN: other key", nil, "", "5", phonecall.Refuse, store.CallWrongKey},
		{"no PIN: star", nil, "", "*", phonecall.Refuse, store.CallWrongKey},
		{"no PIN: nothing", nil, "", "", phonecall.Refuse, store.CallWrongKey},
		{"no PIN: empty hash is no PIN", []byte{}, "", "#", phonecall.Approve, ""},
		{"PIN: right", pin, "", "4321", phonecall.Approve, ""},
		{"PIN: wrong", pin, "", "4322", phonecall.Refuse, store.CallWrongPIN},
		{"PIN: # alone", pin, "", "", phonecall.Refuse, store.CallWrongPIN},
		{"PIN: longer", pin, "", "43210", phonecall.Refuse, store.CallWrongPIN},
		{"PIN: 0 then # reports fraud", pin, "", "0", phonecall.Fraud, ""},
		{"PIN: another person's", phonecall.PINHash(keys, "usr_b", "4321"), "", "4321", phonecall.Refuse, store.CallWrongPIN},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, refused := phonecall.Press(keys, "usr_a", c.pinHash, c.pending, c.digits)
			if a != c.action || refused != c.refused {
				t.Errorf("Press(pending %q, digits %q) = %v, %q; want %v, %q", c.pending, c.digits, a, refused, c.action, c.refused)
			}
		})
	}
}

// Without a PIN every key is submitted alone (Press tells "#", "0 then #"
// and any other key apart); with one, keys are collected until #.
func TestPrompt(t *testing.T) {
	for _, c := range []struct {
		name, lang, purpose string
		pin                 bool
		wants               []string
	}{
		{"en login", "en", phonecall.CallLogin, false, []string{"Acme Health", "someone is signing in", "press pound", "zero, then pound"}},
		{"en enrol with PIN", "en", phonecall.CallEnrol, true, []string{"Acme Health", "set up phone sign-in", "enter your PIN, then press pound"}},
		{"es login with PIN", "es", phonecall.CallLogin, true, []string{"Acme Health", "alguien está iniciando sesión", "ingrese su PIN", "cero y luego numeral"}},
		{"es enrol", "es", phonecall.CallEnrol, false, []string{"Acme Health", "configurar el inicio de sesión por teléfono", "oprima la tecla numeral"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := phonecall.Prompt(c.lang, "Acme Health", c.purpose, c.pin)
			for _, w := range c.wants {
				if !strings.Contains(s.Say, w) {
					t.Errorf("Say lacks %q: %q", w, s.Say)
				}
			}
			if s.Lang != c.lang {
				t.Errorf("Lang = %q, want %q", s.Lang, c.lang)
			}
			if !s.Gather || s.Timeout != 10 {
				t.Errorf("Gather %v Timeout %d, want a gather of 10 seconds", s.Gather, s.Timeout)
			}
			switch {
			case c.pin && (s.FinishOnKey != "#" || s.NumDigits != 0):
				t.Errorf("with PIN: FinishOnKey %q NumDigits %d, want \"#\" and no digit limit", s.FinishOnKey, s.NumDigits)
			case !c.pin && (s.FinishOnKey != "" || s.NumDigits != 1):
				t.Errorf("without PIN: FinishOnKey %q NumDigits %d, want none and 1", s.FinishOnKey, s.NumDigits)
			}
			if !c.pin && strings.Contains(s.Say, "PIN") {
				t.Errorf("a call without a PIN asks for one: %q", s.Say)
			}
		})
	}
}
