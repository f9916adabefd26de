package portal

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var verbRE = regexp.MustCompile(`%[-+# 0]*\d*(?:\.\d+)?[a-zA-Z%]`)

// X8: every translation has exactly the English keys, with the same
// formatting verbs in the same order, so no page shows a missing string or
// a garbled value in any language.
func TestTranslationsMatchEnglish(t *testing.T) {
	codes, err := Languages()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(codes, "es") {
		t.Fatalf("languages %v: Spanish is missing (X8)", codes)
	}
	en, err := LoadCatalogue("en")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codes[1:] {
		c, err := LoadCatalogue(code)
		if err != nil {
			t.Fatal(err)
		}
		if c.T("lang") != code {
			t.Errorf("%s: key lang = %q", code, c.T("lang"))
		}
		for _, k := range en.Keys() {
			if !c.Has(k) {
				t.Errorf("%s lacks %q", code, k)
				continue
			}
			if a, b := verbRE.FindAllString(en.T(k), -1), verbRE.FindAllString(c.T(k), -1); !slices.Equal(a, b) {
				t.Errorf("%s %q: verbs %v, English has %v", code, k, b, a)
			}
		}
		for _, k := range c.Keys() {
			if !en.Has(k) {
				t.Errorf("%s has %q, which English does not", code, k)
			}
		}
		if _, err := parsePages(c); err != nil {
			t.Errorf("%s: %v", code, err)
		}
	}
}

// X8: counted strings have a singular and a plural form in every language,
// never "time(s)"; N picks the form by the count.
func TestPluralForms(t *testing.T) {
	codes, err := Languages()
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codes {
		c, err := LoadCatalogue(code)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range c.Keys() {
			v := c.T(k)
			for _, lazy := range []string{"(s)", "(es)", "(n)"} {
				if strings.Contains(v, lazy) {
					t.Errorf("%s %q has %q: give it .one and .other forms", code, k, lazy)
				}
			}
			base, form, ok := strings.Cut(k, ".one")
			if ok && form == "" && !c.Has(base+".other") {
				t.Errorf("%s %q has no .other", code, k)
			}
			if base, ok := strings.CutSuffix(k, ".other"); ok && !slices.Contains(c.Keys(), base+".one") {
				t.Errorf("%s %q has no .one", code, k)
			}
		}
	}
	en, _ := LoadCatalogue("en")
	es, _ := LoadCatalogue("es")
	for _, tc := range []struct {
		c    *Catalogue
		n    int
		want string
	}{
		{en, 1, "1 character left"}, {en, 0, "0 characters left"}, {en, 3, "3 characters left"},
		{es, 1, "Queda 1 carácter"}, {es, 0, "Quedan 0 caracteres"}, {es, 2, "Quedan 2 caracteres"},
	} {
		if got := tc.c.N("report.message_count", tc.n); got != tc.want {
			t.Errorf("%s N(%d) = %q, want %q", tc.c.Lang, tc.n, got, tc.want)
		}
	}
}
