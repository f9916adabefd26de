package portal

import (
	"regexp"
	"slices"
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
