package problem

import (
	"errors"
	"time"
)

// domainError is a sentinel of a domain package that names its catalogue
// entry. Compare it with errors.Is like any sentinel.
type domainError struct {
	name  string
	text  string
	cause error
}

func (e *domainError) Error() string {
	if e.cause != nil {
		return e.text + ": " + e.cause.Error()
	}
	return e.text
}

func (e *domainError) Unwrap() error { return e.cause }

// Domain returns a new sentinel error whose public form is the catalogue
// entry name; text is what the logs see.
func Domain(name, text string) error { return &domainError{name: name, text: text} }

// Named is the catalogue entry name for a failure that is not a domain
// sentinel, such as a front door's refusal of a malformed request; cause,
// which may be nil, goes only to the log.
func Named(name string, cause error) error {
	return &domainError{name: name, text: name, cause: cause}
}

// nameOf returns the catalogue name the first domain sentinel in err's tree
// gives, if any.
func nameOf(err error) (string, bool) {
	var d *domainError
	if errors.As(err, &d) {
		return d.name, true
	}
	return "", false
}

// attemptsLeft carries how many second-factor guesses remain before the lockout.
type attemptsLeft struct {
	error
	left int
}

func (a *attemptsLeft) Unwrap() error { return a.error }

// WithAttemptsLeft records on a refused guess how many attempts remain
// before the lockout; front doors say so when few remain.
func WithAttemptsLeft(err error, left int) error {
	if err == nil {
		return nil
	}
	return &attemptsLeft{error: err, left: left}
}

// AttemptsLeft reports the attempts recorded by WithAttemptsLeft.
func AttemptsLeft(err error) (int, bool) {
	var a *attemptsLeft
	if errors.As(err, &a) {
		return a.left, true
	}
	return 0, false
}

// inLanguage carries the language of the person an error is about.
type inLanguage struct {
	error
	lang string
}

func (l *inLanguage) Unwrap() error { return l.error }

// InLanguage records the recorded language of the person an error is
// about, for front doors that answer in it rather than the request's.
func InLanguage(err error, lang string) error {
	if err == nil || lang == "" {
		return err
	}
	return &inLanguage{error: err, lang: lang}
}

// LanguageOf reports the language recorded by InLanguage.
func LanguageOf(err error) (string, bool) {
	var l *inLanguage
	if errors.As(err, &l) {
		return l.lang, true
	}
	return "", false
}

// variant asks for another wording of an error's entry, with values for its
// placeholders.
type variant struct {
	error
	key  string
	vars map[string]string
}

func (v *variant) Unwrap() error { return v.error }

// Variant asks for the wording key of err's entry (the text "name.key"),
// which says more than the entry's general message; kv are pairs of a
// placeholder and its value, such as "last4", "4567". An entry without
// that wording keeps its general message.
func Variant(err error, key string, kv ...string) error {
	if err == nil {
		return nil
	}
	vars := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return &variant{error: err, key: key, vars: vars}
}

// retryAfter is implemented by errors that say when to try again.
type retryAfter interface {
	RetryAfter() time.Duration
}
