package policy

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsFollowTheSeeds(t *testing.T) {
	p := Default()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.MFAAttempts != 7 || p.LockoutRelease != 0 || p.TOTPDrift != 1 || p.LoginIDMaxLength != 15 || p.MFARequired != MFAEveryone ||
		p.DisableAfterInactive != Duration(180*24*time.Hour) {
		t.Fatalf("defaults %+v differ from B5, B6, C5, C10, C11", p)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		name, doc string
		wantErr   []string
		check     func(p Policy) bool
	}{
		{"empty keeps defaults", ``, nil, func(p Policy) bool { return p.MFAAttempts == 7 }},
		{"partial document", `{"mfa_attempts":3,"lockout_release":"30m"}`, nil,
			func(p Policy) bool {
				return p.MFAAttempts == 3 && p.LockoutRelease == Duration(30*time.Minute) && p.TOTPDrift == 1
			}},
		{"groups", `{"mfa_required":"groups","mfa_groups":["admins"]}`, nil,
			func(p Policy) bool {
				return p.RequiresMFA([]string{"admins"}, nil, time.Time{}) && !p.RequiresMFA([]string{"staff"}, nil, time.Time{}) && !p.RequiresMFA(nil, nil, time.Time{})
			}},
		{"nobody", `{"mfa_required":"nobody"}`, nil, func(p Policy) bool { return !p.RequiresMFA([]string{"x"}, nil, time.Time{}) }},
		{"unknown key", `{"mfa_attempt":3}`, []string{"unknown field"}, nil},
		{"bad duration", `{"lockout_release":"soon"}`, []string{"not a duration"}, nil},
		{"every problem at once", `{"mfa_required":"some","mfa_attempts":0,"password_attempts":1000,"totp_drift":-1,"allowed_factors":["carrier-pigeon"]}`,
			[]string{"mfa_required", "mfa_attempts", "password_attempts", "totp_drift", "allowed_factors"}, nil},
		{"inactivity off", `{"disable_after_inactive":"0s"}`, nil, func(p Policy) bool { return p.DisableAfterInactive == 0 }},
		{"inactivity 90 days", `{"disable_after_inactive":"2160h"}`, nil,
			func(p Policy) bool { return p.DisableAfterInactive == Duration(90*24*time.Hour) }},
		{"inactivity too short", `{"disable_after_inactive":"1h"}`, []string{"disable_after_inactive"}, nil},
		{"groups without names", `{"mfa_required":"groups"}`, []string{"mfa_groups"}, nil},
		{"help desk", `{"help_desk":{"name":"Acme IT Help Desk","phone":"+1 555-0100","email":"help@acme.example","url":"https://help.acme.example/mfa"}}`, nil,
			func(p Policy) bool {
				return p.HelpDesk == HelpDesk{Name: "Acme IT Help Desk", Phone: "+1 555-0100", Email: "help@acme.example", URL: "https://help.acme.example/mfa"}
			}},
		{"help desk name only", `{"help_desk":{"name":"Service Desk"}}`, nil, func(p Policy) bool { return p.HelpDesk.Name == "Service Desk" }},
		{"help desk unknown key", `{"help_desk":{"fax":"555"}}`, []string{"unknown field"}, nil},
		{"help desk every problem at once", `{"help_desk":{"name":"` + strings.Repeat("x", 101) + `","phone":"555 (0100)","email":"help at acme","url":"ftp://help.acme.example"}}`,
			[]string{"help_desk.name", "help_desk.phone", "help_desk.email", "help_desk.url"}, nil},
		{"help desk phone with + inside", `{"help_desk":{"phone":"555+0100"}}`, []string{"help_desk.phone"}, nil},
		{"help desk url without host", `{"help_desk":{"url":"https://"}}`, []string{"help_desk.url"}, nil},
		{"legacy password rules", `{"password":{"min_length":8,"max_length":14,"require_upper":true,"reject_common":true}}`, nil,
			func(p Policy) bool { return p.Password.MaxLength == 14 && p.Password.RequireUpper }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse([]byte(c.doc))
			if len(c.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !c.check(p) {
					t.Fatalf("unexpected policy %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted an invalid policy")
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// A started phase brings its groups' and units' members into scope (A1);
// before its start, and for people it does not name, nothing changes.
func TestRequiresMFAPhases(t *testing.T) {
	start := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	p := Default()
	p.MFARequired = MFANobody
	p.Phases = []Phase{{Groups: []string{"Nurses"}, StartsAt: start}, {Units: []string{"North"}, StartsAt: start.Add(24 * time.Hour)}}
	for _, tc := range []struct {
		name          string
		groups, units []string
		at            time.Time
		want          bool
	}{
		{"before the start", []string{"Nurses"}, nil, start.Add(-time.Second), false},
		{"at the start", []string{"Nurses"}, nil, start, true},
		{"another group", []string{"Billing"}, nil, start.Add(time.Hour), false},
		{"unit not started", nil, []string{"North"}, start.Add(time.Hour), false},
		{"unit started", nil, []string{"North"}, start.Add(25 * time.Hour), true},
	} {
		if got := p.RequiresMFA(tc.groups, tc.units, tc.at); got != tc.want {
			t.Errorf("%s: RequiresMFA = %v, want %v", tc.name, got, tc.want)
		}
	}
	p.MFARequired = MFAEveryone
	if !p.RequiresMFA(nil, nil, start.Add(-time.Hour)) {
		t.Error("everyone: RequiresMFA = false")
	}
}
