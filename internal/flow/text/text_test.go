package text

import (
	"regexp"
	"slices"
	"testing"
)

var verbRE = regexp.MustCompile(`%[-+# 0]*\d*(?:\.\d+)?[a-zA-Z%]`)

// X8: every language of the messages has exactly the English keys, with the
// same formatting verbs in the same order.
func TestMessageTranslationsMatchEnglish(t *testing.T) {
	en := catalogue[Default]
	if len(en) == 0 || catalogue["es"] == nil {
		t.Fatalf("languages %d, Spanish present %v", len(catalogue), catalogue["es"] != nil)
	}
	for lang, m := range catalogue {
		for k, v := range en {
			got, ok := m[k]
			if !ok {
				t.Errorf("%s lacks %q", lang, k)
				continue
			}
			if a, b := verbRE.FindAllString(v, -1), verbRE.FindAllString(got, -1); !slices.Equal(a, b) {
				t.Errorf("%s %q: verbs %v, English has %v", lang, k, b, a)
			}
		}
		for k := range m {
			if _, ok := en[k]; !ok {
				t.Errorf("%s has %q, which English does not", lang, k)
			}
		}
	}
	if got := Words("xx", "voice.approved"); got != en["voice.approved"] {
		t.Errorf("an unknown language falls back to %q, want English", got)
	}
}
