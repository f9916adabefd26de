package flow

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// The words of the messages Countersign sends — texts, emails, what a call
// says — in every language, from text/<lang>.json (X8). The portal's pages
// have their own catalogue; these are the engine's.

//go:embed text/*.json
var textFS embed.FS

// DefaultLanguage is used when nothing says otherwise.
const DefaultLanguage = "en"

var messageTexts = func() map[string]map[string]string {
	files, err := fs.Glob(textFS, "text/*.json")
	if err != nil {
		panic(err)
	}
	all := map[string]map[string]string{}
	for _, f := range files {
		b, err := textFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("flow: %s: %v", f, err))
		}
		all[strings.TrimSuffix(path.Base(f), ".json")] = m
	}
	return all
}()

// KnownLanguage reports whether messages can be written in lang.
func KnownLanguage(lang string) bool {
	_, ok := messageTexts[lang]
	return ok
}

// ValidateLanguage checks a language chosen for a person's messages: empty
// (the default, English) or one Countersign writes in.
func ValidateLanguage(errs *validate.Errors, field, lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if lang != "" && !KnownLanguage(lang) {
		known := make([]string, 0, len(messageTexts))
		for l := range messageTexts {
			known = append(known, l)
		}
		sort.Strings(known)
		errs.Add(field, "invalid", "Language must be one of "+strings.Join(known, ", ")+", or empty for English.")
	}
	return lang
}

// words formats the message key in lang, falling back to English; a key
// missing from English too is a programming error, shown as the key.
func words(lang, key string, args ...any) string {
	s, ok := messageTexts[lang][key]
	if !ok {
		if s, ok = messageTexts[DefaultLanguage][key]; !ok {
			return "[" + key + "]"
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// when formats a moment for a message in lang.
func when(lang string, t time.Time) string {
	return t.UTC().Format(words(lang, "format.datetime"))
}

// languageOf chooses the language of a message to u: the language of the
// page the person is using right now (the portal says so in the caller),
// else the one recorded for them, else English. u may be nil (a message to
// an address no account is known for yet).
func languageOf(c Caller, u *store.User) string {
	if KnownLanguage(c.Lang) {
		return c.Lang
	}
	if u != nil && KnownLanguage(u.Locale) {
		return u.Locale
	}
	return DefaultLanguage
}
