package validate

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError is one violation of one field's rules.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Limit is the number a length rule names (too_long), so a translation
	// can say it; the Message already does in English.
	Limit int `json:"-"`
}

// Errors collects the violations found in one form or request.
type Errors []FieldError

func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Field + ": " + fe.Message
	}
	return strings.Join(msgs, "; ")
}

// Err returns e as an error, or nil when there are no violations; returning
// an empty Errors directly would give a non-nil error interface.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Add records a violation.
func (e *Errors) Add(field, code, msg string) {
	*e = append(*e, FieldError{Field: field, Code: code, Message: msg})
}

// AddLimit records a violation of a length rule with its limit.
func (e *Errors) AddLimit(field, code, msg string, limit int) {
	*e = append(*e, FieldError{Field: field, Code: code, Message: msg, Limit: limit})
}

// For returns the violations of one field, for rendering next to it.
func (e Errors) For(field string) []FieldError {
	var out []FieldError
	for _, fe := range e {
		if fe.Field == field {
			out = append(out, fe)
		}
	}
	return out
}

var acronyms = map[string]string{"id": "ID", "ssn": "SSN", "dob": "DOB", "mfa": "MFA", "sms": "SMS", "pin": "PIN"}

var minorWords = map[string]bool{"of": true, "and": true, "or": true, "the": true, "a": true, "an": true, "to": true, "in": true}

// Label turns a field key such as "login_id" or "date_of_birth" into the
// name people see in messages ("Login ID", "Date of Birth"), so callers pass
// one identifier and the form and messages stay consistent.
func Label(field string) string {
	words := strings.FieldsFunc(field, func(r rune) bool { return r == '_' || r == '-' || r == ' ' })
	for i, w := range words {
		lw := strings.ToLower(w)
		switch {
		case acronyms[lw] != "":
			words[i] = acronyms[lw]
		case i > 0 && minorWords[lw]:
			words[i] = lw
		default:
			r, n := utf8.DecodeRuneInString(w)
			words[i] = string(unicode.ToUpper(r)) + w[n:]
		}
	}
	return strings.Join(words, " ")
}

func required(errs *Errors, field string) {
	l := Label(field)
	errs.Add(field, "required", l+" is required. Enter a valid value in the "+l+" field.")
}

func isASCIIDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
