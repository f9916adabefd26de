package validate

import (
	"strings"
	"unicode/utf8"
)

// Usable reports whether s can be stored and compared as text everywhere:
// valid UTF-8 without a NUL. PostgreSQL refuses a statement carrying
// anything else, while SQLite stores it, so a string from outside that is
// not usable is refused before it reaches either.
func Usable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// CheckUsable records a violation when v, the value of field, is not
// Usable.
func CheckUsable(errs *Errors, field, v string) {
	if !Usable(v) {
		Unusable(errs, field)
	}
}

// Unusable records that field holds text that is not Usable, for callers
// that found it by other means (the raw bytes of a JSON string).
func Unusable(errs *Errors, field string) {
	errs.Add(field, "unusable_chars", Label(field)+" contains characters that cannot be used (a NUL character or bytes that are not UTF-8). Remove them and try again.")
}
