package problem

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/countersign/countersign/internal/validate"
)

// Problem is a public error as one person reads it: the entry's status,
// code and name, and its message in one language, with field errors and a
// wait where they apply. The cause goes to the log, never to the person.
type Problem struct {
	Status  int
	Code    string
	Name    string
	Message string
	// Lang is the language Message and Fields are written in.
	Lang   string
	Fields validate.Errors
	// RetryAfter is in seconds; zero when there is no reason to wait.
	RetryAfter int
	cause      error
}

func (p *Problem) Error() string { return p.Code + " " + p.Name + ": " + p.Message }

// Unwrap gives the cause, for the log.
func (p *Problem) Unwrap() error { return p.cause }

// HelpDesk is whom a person is told to contact: a tenant's policy names it,
// and every part is optional.
type HelpDesk struct {
	Name  string
	Phone string
	Email string
	URL   string
}

// Context is what a front door knows about the reader of an error.
type Context struct {
	// Lang is the language the request asks for; the recorded language of
	// the person an error is about (InLanguage) wins over it unless
	// KeepLang says the answer's language is settled, as a page's is.
	Lang     string
	KeepLang bool
	HelpDesk HelpDesk
}

// From renders any error as its public problem for ctx: a domain sentinel
// as its entry, validate.Errors as validation_failed with each field's
// message, an error that says when to retry as rate_limited, a body over
// the limit as too_large, and anything else as internal, which reveals
// nothing of its cause.
func From(err error, ctx Context) *Problem {
	lang := Match(ctx.Lang)
	if l, ok := LanguageOf(err); ok && !ctx.KeepLang {
		if l, ok := lookup(l); ok {
			lang = l
		}
	}
	name := "internal"
	var (
		fields validate.Errors
		wait   retryAfter
		tooBig *http.MaxBytesError
	)
	switch n, isDomain := nameOf(err); {
	case errors.As(err, &wait):
		name = "rate_limited"
	case errors.As(err, &fields):
		name = "validation_failed"
	case isDomain:
		if _, ok := byName[n]; ok {
			name = n
		}
	case errors.As(err, &tooBig):
		name = "too_large"
	}
	e := byName[name]
	p := &Problem{Status: e.Status, Code: e.Code, Name: e.Name, Lang: lang, RetryAfter: e.RetryAfter, cause: err}
	p.Message = message(err, e, lang, ctx.HelpDesk)
	if wait != nil {
		p.RetryAfter = max(1, int(wait.RetryAfter().Seconds()+0.999))
	}
	for _, f := range fields {
		f.Message = FieldMessage(f, lang)
		p.Fields = append(p.Fields, f)
	}
	return p
}

// message words entry e for err in lang: the variant err asks for if the
// entry has one, the help desk filled in, and how many attempts remain
// when few do.
func message(err error, e Entry, lang string, hd HelpDesk) string {
	s := text(lang, e.Name)
	vars := map[string]string{}
	var v *variant
	if errors.As(err, &v) {
		if w, ok := texts[lang][e.Name+"."+v.key]; ok {
			s = w
			for k, val := range v.vars {
				vars[k] = val
			}
		}
	}
	vars["help_desk"] = helpDesk(hd, lang)
	s = fill(s, vars)
	if n, ok := AttemptsLeft(err); ok && n > 0 && n <= 3 {
		s += " " + attemptsLeftSentence(n, lang)
	}
	return s
}

// attemptsLeftSentence says how many attempts remain before the lockout.
func attemptsLeftSentence(n int, lang string) string {
	if n == 1 {
		return text(lang, "attempts_left.one")
	}
	return fill(text(lang, "attempts_left.other"), map[string]string{"n": strconv.Itoa(n)})
}

// helpDesk names whom to contact, with every way to reach them the policy
// gives, or the organisation's help desk in general when it gives none.
func helpDesk(hd HelpDesk, lang string) string {
	name := strings.TrimSpace(hd.Name)
	if name == "" {
		name = text(lang, "help_desk.default")
	}
	var means []string
	for _, m := range []string{hd.Phone, hd.Email, hd.URL} {
		if m = strings.TrimSpace(m); m != "" {
			means = append(means, m)
		}
	}
	if len(means) == 0 {
		return name
	}
	list := means[0]
	if len(means) > 1 {
		list = strings.Join(means[:len(means)-1], ", ") + text(lang, "list.or") + means[len(means)-1]
	}
	return fill(text(lang, "help_desk.reach"), map[string]string{"name": name, "means": list})
}
