package password

import (
	"slices"
	"strings"
	"testing"
)

func codes(probs []Problem) []string {
	var out []string
	for _, p := range probs {
		out = append(out, p.Code)
	}
	return out
}

func TestPolicyCheck(t *testing.T) {
	legacy := Policy{MinLength: 8, MaxLength: 14, RequireUpper: true, RequireLower: true, RequireDigit: true, RequireSymbol: true}
	tests := []struct {
		name     string
		policy   Policy
		password string
		loginID  string
		want     []string
	}{
		{"default accepts a passphrase", DefaultPolicy(), "correct horse battery staple", "alice", nil},
		{"default accepts lowercase only", DefaultPolicy(), "zebrafinch", "alice", nil},
		{"too short", DefaultPolicy(), "Zebra1!", "alice", []string{"too_short"}},
		{"empty", DefaultPolicy(), "", "alice", []string{"too_short"}},
		{"exactly min", DefaultPolicy(), "zebrafin", "alice", nil},
		{"too long", DefaultPolicy(), strings.Repeat("z", 129), "alice", []string{"too_long"}},
		{"exactly max", DefaultPolicy(), strings.Repeat("z", 128), "alice", nil},
		{"runes not bytes: 8 accented letters", DefaultPolicy(), "éèêëàâäô", "alice", nil},
		{"runes not bytes: 4 emoji are short", DefaultPolicy(), "🔑🔒🔓🗝", "alice", []string{"too_short"}},
		{"runes not bytes: 128 CJK", DefaultPolicy(), strings.Repeat("密", 128), "alice", nil},
		{"invalid utf-8", DefaultPolicy(), "zebrafinch\xff", "alice", []string{"invalid_encoding"}},
		{"common", DefaultPolicy(), "password1", "alice", []string{"common"}},
		{"common ignores case", DefaultPolicy(), "PassWord123", "alice", []string{"common"}},
		{"common season and year", DefaultPolicy(), "Summer2024!", "alice", []string{"common"}},
		{"common allowed when off", Policy{MinLength: 8, MaxLength: 64}, "password1", "alice", nil},
		{"contains login id", DefaultPolicy(), "xxAlice2024xx", "alice", []string{"contains_login_id"}},
		{"login id allowed when off", Policy{MinLength: 8, MaxLength: 64}, "alice-in-wonderland", "alice", nil},
		{"short login id ignored", DefaultPolicy(), "zebrafinch", "ze", nil},
		{"several problems at once", DefaultPolicy(), "alice", "alice", []string{"too_short", "contains_login_id"}},
		{"legacy ok", legacy, "Zebra#finch1", "alice", nil},
		{"legacy too long", legacy, "Zebra#finch1234", "alice", []string{"too_long"}},
		{"legacy no classes", legacy, "zebrafinch", "alice", []string{"missing_upper", "missing_digit", "missing_symbol"}},
		{"legacy all missing", legacy, "        ", "alice", []string{"missing_upper", "missing_lower", "missing_digit", "missing_symbol"}},
		{"legacy unicode classes", legacy, "Ärger-straße9", "alice", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := tt.policy.Check(tt.password, tt.loginID)
			if got := codes(probs); !slices.Equal(got, tt.want) {
				t.Errorf("Check codes = %v, want %v", got, tt.want)
			}
			for _, p := range probs {
				if p.Message == "" || !strings.HasSuffix(p.Message, ".") {
					t.Errorf("problem %q has message %q; want a sentence", p.Code, p.Message)
				}
			}
		})
	}
}

func TestPolicyMessages(t *testing.T) {
	probs := DefaultPolicy().Check("short", "")
	if len(probs) != 1 || probs[0] != (Problem{Code: "too_short", Message: "Use at least 8 characters.", Limit: 8}) {
		t.Errorf("Check = %+v", probs)
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		wantErr []string
	}{
		{"default", DefaultPolicy(), nil},
		{"legacy", Policy{MinLength: 8, MaxLength: 14, RequireDigit: true}, nil},
		{"min zero", Policy{MinLength: 0, MaxLength: 10}, []string{"min_length"}},
		{"max below min", Policy{MinLength: 10, MaxLength: 9}, []string{"max_length"}},
		{"max too big", Policy{MinLength: 8, MaxLength: 1025}, []string{"max_length"}},
		{"all wrong", Policy{MinLength: -1, MaxLength: -2}, []string{"min_length", "max_length"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Validate = %v", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestCommonListLoaded(t *testing.T) {
	if len(common) < 500 {
		t.Errorf("common list has %d entries, want at least 500", len(common))
	}
	for _, w := range []string{"password", "123456", "qwerty", "letmein", "iloveyou", "winter2023"} {
		if !isCommon(w) {
			t.Errorf("%q is not in the common list", w)
		}
	}
}
