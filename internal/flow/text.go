package flow

import (
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow/text"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// DefaultLanguage is used when nothing says otherwise.
const DefaultLanguage = text.Default

// KnownLanguage reports whether messages can be written in lang.
func KnownLanguage(lang string) bool { return text.Known(lang) }

// ValidateLanguage checks a language chosen for a person's messages: empty
// (the default, English) or one Countersign writes in.
func ValidateLanguage(errs *validate.Errors, field, lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if lang != "" && !KnownLanguage(lang) {
		errs.Add(field, "invalid", "Language must be one of "+strings.Join(text.Languages(), ", ")+", or empty for English.")
	}
	return lang
}

func words(lang, key string, args ...any) string { return text.Words(lang, key, args...) }

func when(lang string, t time.Time) string { return text.When(lang, t) }

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
