package validate

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func codesOf(errs Errors) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Code)
	}
	return out
}

type stringCase struct {
	name  string
	in    string
	want  string
	codes []string
}

func runStringCases(t *testing.T, field string, rule func(*Errors, string, string) string, cases []stringCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var errs Errors
			got := rule(&errs, field, tt.in)
			if !slices.Equal(codesOf(errs), tt.codes) {
				t.Errorf("codes = %v, want %v (%v)", codesOf(errs), tt.codes, errs)
			}
			if tt.codes == nil && got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
			for _, e := range errs {
				if e.Field != field || e.Message == "" {
					t.Errorf("bad error %+v", e)
				}
			}
		})
	}
}

func TestLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"login_id", "Login ID"},
		{"email", "Email"},
		{"date_of_birth", "Date of Birth"},
		{"ssn", "SSN"},
		{"mobile-phone", "Mobile Phone"},
		{"Login ID", "Login ID"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Label(tt.in); got != tt.want {
				t.Errorf("Label(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRequiredMessage(t *testing.T) {
	var errs Errors
	LoginID(&errs, "login_id", "  ", 0)
	want := Errors{{Field: "login_id", Code: "required", Message: "Login ID is required. Enter a valid value in the Login ID field."}}
	if !slices.Equal(errs, want) {
		t.Errorf("errs = %+v, want %+v", errs, want)
	}
}

func TestErrors(t *testing.T) {
	var errs Errors
	if errs.Err() != nil {
		t.Error("empty Errors.Err() is not nil")
	}
	errs.Add("a", "required", "A is required.")
	errs.Add("b", "too_long", "B is too long.")
	errs.Add("a", "invalid_chars", "A has bad characters.")
	if got, want := errs.Error(), "a: A is required.; b: B is too long.; a: A has bad characters."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if errs.Err() == nil || len(errs.For("a")) != 2 {
		t.Error("Err or For lost violations")
	}
	b, err := json.Marshal(errs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `[{"field":"a","code":"required","message":"A is required."}]`; got != want {
		t.Errorf("json = %s, want %s", got, want)
	}
}

func TestLoginID(t *testing.T) {
	rule := func(errs *Errors, field, v string) string { return LoginID(errs, field, v, 0) }
	runStringCases(t, "login_id", rule, []stringCase{
		{"simple", "alice", "alice", nil},
		{"case preserved", "Alice.Smith", "Alice.Smith", nil},
		{"all allowed punctuation", "a.b_c-d@e", "a.b_c-d@e", nil},
		{"trimmed", "  bob ", "bob", nil},
		{"exactly 15", strings.Repeat("a", 15), strings.Repeat("a", 15), nil},
		{"one char", "x", "x", nil},
		{"empty", "", "", []string{"required"}},
		{"16 chars", strings.Repeat("a", 16), "", []string{"too_long"}},
		{"inner space", "alice smith", "", []string{"invalid_chars"}},
		{"non-ascii letter", "аlice", "", []string{"invalid_chars"}},
		{"plus sign", "alice+x", "", []string{"invalid_chars"}},
		{"long and bad", "alice smith jones!", "", []string{"too_long", "invalid_chars"}},
	})
	t.Run("custom max", func(t *testing.T) {
		var errs Errors
		LoginID(&errs, "login_id", strings.Repeat("a", 20), 20)
		if len(errs) != 0 {
			t.Errorf("errs = %v", errs)
		}
		LoginID(&errs, "login_id", strings.Repeat("a", 21), 20)
		if !slices.Equal(codesOf(errs), []string{"too_long"}) || !strings.Contains(errs[0].Message, "20") {
			t.Errorf("errs = %v", errs)
		}
	})
	if NormalizeLoginID("Alice.Smith") != NormalizeLoginID("alice.smith") {
		t.Error("NormalizeLoginID is case-sensitive")
	}
}

func TestEmail(t *testing.T) {
	rule := func(errs *Errors, field, v string) string { return Email(errs, field, v, true) }
	runStringCases(t, "email", rule, []stringCase{
		{"simple", "alice@example.com", "alice@example.com", nil},
		{"trimmed, case kept", " Alice@Example.COM ", "Alice@Example.COM", nil},
		{"subdomain and plus", "a+b@mail.example.co.uk", "a+b@mail.example.co.uk", nil},
		{"empty", "", "", []string{"required"}},
		{"no at", "alice.example.com", "", []string{"invalid_format"}},
		{"two ats", "a@b@example.com", "", []string{"invalid_format"}},
		{"no dot in domain", "alice@localhost", "", []string{"invalid_format"}},
		{"dot only before at", "al.ice@example", "", []string{"invalid_format"}},
		{"domain starts with dot", "alice@.com", "", []string{"invalid_format"}},
		{"domain ends with dot", "alice@example.", "", []string{"invalid_format"}},
		{"empty local", "@example.com", "", []string{"invalid_format"}},
		{"space", "ali ce@example.com", "", []string{"invalid_chars"}},
		{"control", "alice\x00@example.com", "", []string{"invalid_chars"}},
		{"too long", strings.Repeat("a", 250) + "@example.com", "", []string{"too_long"}},
	})
	t.Run("optional empty", func(t *testing.T) {
		var errs Errors
		if got := Email(&errs, "email", "  ", false); got != "" || len(errs) != 0 {
			t.Errorf("Email = %q, %v", got, errs)
		}
	})
	if NormalizeEmail(" Alice@Example.COM") != "alice@example.com" {
		t.Error("NormalizeEmail does not lower-case")
	}
}

func TestPhone(t *testing.T) {
	rule := func(errs *Errors, field, v string) string { return Phone(errs, field, v, true) }
	runStringCases(t, "phone", rule, []stringCase{
		{"digits", "5551234567", "5551234567", nil},
		{"formatted", "(555) 123-4567", "5551234567", nil},
		{"dots", "555.123.4567", "5551234567", nil},
		{"plus one", "+1 555 123 4567", "5551234567", nil},
		{"leading one", "1-555-123-4567", "5551234567", nil},
		{"ten digits starting with one kept", "1551234567", "1551234567", nil},
		{"empty", "", "", []string{"required"}},
		{"nine digits", "555123456", "", []string{"invalid_length"}},
		{"eleven digits not starting with one", "25551234567", "", []string{"invalid_length"}},
		{"twelve digits", "115551234567", "", []string{"invalid_length"}},
		{"other country code", "+44 20 7946 0958", "", []string{"invalid_length"}},
		{"plus without country code", "+5551234567", "", []string{"invalid_length"}},
		{"letters", "555-CALL-NOW", "", []string{"invalid_chars"}},
		{"fullwidth digits", "５５５１２３４５６７", "", []string{"invalid_chars"}},
		{"arabic-indic digits", "٥٥٥١٢٣٤٥٦٧", "", []string{"invalid_chars"}},
		{"plus in middle", "555+1234567", "", []string{"invalid_chars"}},
	})
	t.Run("optional empty", func(t *testing.T) {
		var errs Errors
		if got := Phone(&errs, "phone", "", false); got != "" || len(errs) != 0 {
			t.Errorf("Phone = %q, %v", got, errs)
		}
	})
}

func TestExtension(t *testing.T) {
	runStringCases(t, "extension", Extension, []stringCase{
		{"empty is fine", "", "", nil},
		{"one digit", "7", "7", nil},
		{"ten digits", "1234567890", "1234567890", nil},
		{"eleven digits", "12345678901", "", []string{"too_long"}},
		{"letters", "x12", "", []string{"invalid_chars"}},
		{"unicode digits", "١٢", "", []string{"invalid_chars"}},
	})
}

func TestSSN(t *testing.T) {
	runStringCases(t, "ssn", SSN, []stringCase{
		{"digits", "123456789", "123456789", nil},
		{"dashed", "123-45-6789", "123456789", nil},
		{"trimmed", " 123-45-6789 ", "123456789", nil},
		{"empty", "", "", []string{"required"}},
		{"eight digits", "12345678", "", []string{"invalid_format"}},
		{"ten digits", "1234567890", "", []string{"invalid_format"}},
		{"dashes misplaced", "12-345-6789", "", []string{"invalid_format"}},
		{"letters", "12345678a", "", []string{"invalid_format"}},
		{"unicode digits", "١٢٣٤٥٦٧٨٩", "", []string{"invalid_format"}},
	})
	t.Run("message does not echo the value", func(t *testing.T) {
		var errs Errors
		SSN(&errs, "ssn", "98765432")
		if strings.Contains(errs.Error(), "98765432") {
			t.Errorf("message %q repeats the SSN", errs)
		}
	})
}

func TestCode(t *testing.T) {
	runStringCases(t, "code", Code, []stringCase{
		{"six digits", "012345", "012345", nil},
		{"trimmed", " 123456\n", "123456", nil},
		{"empty", "", "", []string{"required"}},
		{"five digits", "12345", "", []string{"invalid_format"}},
		{"seven digits", "1234567", "", []string{"invalid_format"}},
		{"inner space", "123 456", "", []string{"invalid_format"}},
		{"unicode digits", "１２３４５６", "", []string{"invalid_format"}},
	})
}

func TestText(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		req   bool
		max   int
		want  string
		codes []string
	}{
		{"plain", "  hello  ", true, 10, "hello", nil},
		{"newlines and tabs", "a\tb\r\nc", true, 10, "a\tb\nc", nil},
		{"max in runes", "ééééé", true, 5, "ééééé", nil},
		{"no max", strings.Repeat("x", 10000), false, 0, strings.Repeat("x", 10000), nil},
		{"optional empty", "", false, 5, "", nil},
		{"required empty", " \n ", true, 5, "", []string{"required"}},
		{"too long", "abcdef", true, 5, "", []string{"too_long"}},
		{"bell", "a\ab", true, 5, "", []string{"invalid_chars"}},
		{"lone carriage return", "a\rb", true, 5, "", []string{"invalid_chars"}},
		{"C1 control", "a\u0085b", true, 5, "", []string{"invalid_chars"}},
		{"invalid utf-8", "a\xffb", true, 5, "", []string{"invalid_chars"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs Errors
			got := Text(&errs, "note", tt.in, tt.req, tt.max)
			if !slices.Equal(codesOf(errs), tt.codes) {
				t.Errorf("codes = %v, want %v", codesOf(errs), tt.codes)
			}
			if tt.codes == nil && got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDateOfBirth(t *testing.T) {
	now := time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		in    string
		want  time.Time
		codes []string
	}{
		{"iso", "1985-07-24", day(1985, 7, 24), nil},
		{"us short", "7/4/1985", day(1985, 7, 4), nil},
		{"us padded", "07/04/1985", day(1985, 7, 4), nil},
		{"leap day", "2000-02-29", day(2000, 2, 29), nil},
		{"leap day us", "2/29/2024", day(2024, 2, 29), nil},
		{"yesterday", "2025-06-14", day(2025, 6, 14), nil},
		{"day after the floor", "1900-01-02", day(1900, 1, 2), nil},
		{"empty", "", time.Time{}, []string{"required"}},
		{"feb 30", "2020-02-30", time.Time{}, []string{"invalid_date"}},
		{"not a leap year", "1900-02-29", time.Time{}, []string{"invalid_date"}},
		{"2023 not a leap year", "2/29/2023", time.Time{}, []string{"invalid_date"}},
		{"month 13", "13/1/1990", time.Time{}, []string{"invalid_date"}},
		{"day zero", "1990-01-00", time.Time{}, []string{"invalid_date"}},
		{"today", "2025-06-15", time.Time{}, []string{"not_in_past"}},
		{"future", "2030-01-01", time.Time{}, []string{"not_in_past"}},
		{"floor itself", "1900-01-01", time.Time{}, []string{"too_old"}},
		{"too old", "1/1/1850", time.Time{}, []string{"too_old"}},
		{"two-digit year", "7/4/85", time.Time{}, []string{"invalid_format"}},
		{"iso unpadded", "1985-7-4", time.Time{}, []string{"invalid_format"}},
		{"dmy words", "4 July 1985", time.Time{}, []string{"invalid_format"}},
		{"mixed separators", "1985-07/04", time.Time{}, []string{"invalid_format"}},
		{"negative", "-1985-07-04", time.Time{}, []string{"invalid_format"}},
		{"unicode digits", "١٩٨٥-٠٧-٠٤", time.Time{}, []string{"invalid_format"}},
		{"three-digit month", "007/4/1985", time.Time{}, []string{"invalid_format"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs Errors
			got := DateOfBirth(&errs, "date_of_birth", tt.in, now)
			if !slices.Equal(codesOf(errs), tt.codes) {
				t.Errorf("codes = %v, want %v (%v)", codesOf(errs), tt.codes, errs)
			}
			if !got.Equal(tt.want) {
				t.Errorf("value = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("today depends on now's zone", func(t *testing.T) {
		// 2025-06-15 03:00 in UTC is still 2025-06-14 in New York.
		ny := time.FixedZone("EDT", -4*3600)
		var errs Errors
		DateOfBirth(&errs, "date_of_birth", "2025-06-14", time.Date(2025, 6, 15, 3, 0, 0, 0, time.UTC).In(ny))
		if !slices.Equal(codesOf(errs), []string{"not_in_past"}) {
			t.Errorf("codes = %v", codesOf(errs))
		}
	})
}

func FuzzPhone(f *testing.F) {
	for _, s := range []string{"5551234567", "+1 (555) 123-4567", "1-555-123-4567", "+", "", "٥٥٥"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var errs Errors
		got := Phone(&errs, "phone", s, true)
		if (len(errs) == 0) != (got != "") {
			t.Fatalf("Phone(%q) = %q with %v", s, got, errs)
		}
		if got != "" && (len(got) != 10 || !isASCIIDigits(got)) {
			t.Fatalf("Phone(%q) = %q, not 10 digits", s, got)
		}
	})
}

func FuzzDateOfBirth(f *testing.F) {
	for _, s := range []string{"1985-07-24", "2/29/2024", "2020-02-30", "99999-99-99", "1/1/1", "//", "--"} {
		f.Add(s)
	}
	now := time.Date(2025, 6, 15, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		var errs Errors
		got := DateOfBirth(&errs, "date_of_birth", s, now)
		if (len(errs) == 0) == got.IsZero() {
			t.Fatalf("DateOfBirth(%q) = %v with %v", s, got, errs)
		}
		if !got.IsZero() && (!got.Before(now) || !got.After(earliestBirth)) {
			t.Fatalf("DateOfBirth(%q) = %v, out of range", s, got)
		}
	})
}

func TestUsable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true}, {"alice", true}, {"José\n\t", true}, {"日本", true},
		{"a\x00b", false}, {"a\xffb", false}, {"\xc3", false}, {"\xed\xa0\x80", false},
	} {
		var errs Errors
		CheckUsable(&errs, "device_label", tc.in)
		if Usable(tc.in) != tc.want || (len(errs) == 0) != tc.want {
			t.Errorf("Usable(%q) = %t with %v, want %t", tc.in, Usable(tc.in), errs, tc.want)
		}
		if len(errs) == 1 && (errs[0].Code != "unusable_chars" || !strings.HasPrefix(errs[0].Message, "Device Label contains characters that cannot be used")) {
			t.Errorf("error %+v", errs[0])
		}
	}
}
