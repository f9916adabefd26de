package portal

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/requestid"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

//go:embed templates
var templatesFS embed.FS

// Page is what every template receives.
type Page struct {
	// Title is a catalogue key.
	Title  string
	Tenant *store.Tenant
	Base   string
	User   *store.User
	Level  string
	// Form holds submitted values to show again; never passwords or codes.
	Form map[string]string
	// Fields maps a field name to its error messages (C11: one per rule).
	Fields map[string][]string
	// Summary lists every field error in form order, linked to its field.
	Summary []FieldError
	Alert   *Alert
	Notice  string
	Data    any
	// Here is the path of this page and Languages the other translations,
	// for the language switch.
	Here      string
	Languages []langChoice
	// HelpDesk is the tenant's help desk, when its policy names one.
	HelpDesk policy.HelpDesk
	// Console is set on the admin console's pages for its navigation.
	Console *ConsoleNav
}

// ConsoleNav is what the console's header needs: the signed-in person's
// role and which sections it opens.
type ConsoleNav struct {
	Role  string
	Admin bool
	// Section is the navigation entry of this page.
	Section string
}

// FieldError is one problem with one field.
type FieldError struct{ Field, Message string }

// Alert is an error that belongs to the whole page, with its public code.
// RequestID is set where the message asks people to quote it.
type Alert struct{ Code, Message, RequestID string }

type pageTemplate struct{ t *template.Template }

// parsePages parses layout.html and partials.html with each page file.
func parsePages(cat *Catalogue) (map[string]*pageTemplate, error) {
	funcs := template.FuncMap{
		"t": cat.T,
		// input builds the arguments of the "input" partial from pairs.
		"input": func(pg *Page, name string, kv ...string) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, errors.New("input: odd number of arguments")
			}
			m := map[string]any{"Name": name, "Type": "text", "Label": "field." + name, "Page": pg, "Errors": pg.Fields[name], "Value": pg.Form[name]}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m, nil
		},
		"date": func(t time.Time) string { return t.UTC().Format(cat.T("format.datetime")) },
		"datep": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format(cat.T("format.datetime"))
		},
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, errors.New("dict: odd number of arguments")
			}
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		"has": cat.Has,
		// list makes a list of words for a template to range over.
		"list": func(v ...string) []string { return v },
		// tn words a count: "1 minute", "3 minutes".
		"tn": cat.N,
	}
	names, err := fs.Glob(templatesFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*pageTemplate{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		t, err := template.New("").Funcs(funcs).ParseFS(templatesFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("portal: parse %s: %w", n, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("portal: %s defines no \"content\"", n)
		}
		pages[strings.TrimSuffix(base, ".html")] = &pageTemplate{t: t}
	}
	return pages, nil
}

// render writes a page inside the layout. It buffers, so a template error
// becomes a clean 500 instead of half a page.
func (rq *request) render(name string, pg *Page) {
	pt, ok := rq.lang.pages[name]
	if !ok {
		rq.p.Log.Error("portal: no page template", "page", name)
		http.Error(rq.w, "Internal error (E99).", http.StatusInternalServerError)
		return
	}
	pg.Tenant = rq.tenant
	if rq.tenant != nil {
		pg.Base = rq.base()
	}
	pg.User = rq.user
	pg.HelpDesk = rq.policy.HelpDesk
	pg.Languages = rq.p.otherLanguages(rq.lang)
	if rq.r.Method == http.MethodGet {
		pg.Here = rq.r.URL.RequestURI()
	}
	if rq.sess != nil {
		pg.Level = rq.sess.Level
	}
	if rq.console && rq.user != nil {
		if pg.Console == nil {
			pg.Console = &ConsoleNav{}
		}
		pg.Console.Role = rq.user.ConsoleRole
		pg.Console.Admin = flow.Permits(rq.user.ConsoleRole, rq.policy, flow.ChangePolicy)
	}
	if pg.Form == nil {
		pg.Form = map[string]string{}
	}
	var buf bytes.Buffer
	if err := pt.t.ExecuteTemplate(&buf, "layout", pg); err != nil {
		rq.p.Log.Error("portal: render", "page", name, "err", err)
		http.Error(rq.w, "Internal error (E99).", http.StatusInternalServerError)
		return
	}
	rq.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status := rq.status
	if status == 0 {
		status = http.StatusOK
	}
	rq.w.WriteHeader(status)
	_, _ = rq.w.Write(buf.Bytes())
}

// renderForm shows a form again after err: field errors beside their
// fields and in a summary, a domain error as the page alert. Errors that are
// the server's fault are returned for the error page instead.
func (rq *request) renderForm(name string, pg *Page, err error) error {
	if err != nil {
		var fields validate.Errors
		var done worded
		pe := rq.problem(err)
		switch {
		case errors.As(err, &done):
			pg.Fields = map[string][]string{}
			for _, f := range done {
				pg.Fields[f.Field] = append(pg.Fields[f.Field], f.Message)
				pg.Summary = append(pg.Summary, FieldError{Field: f.Field, Message: f.Message})
			}
			rq.status = http.StatusUnprocessableEntity
		case errors.As(err, &fields):
			pg.Fields = map[string][]string{}
			for _, f := range fields {
				msg := rq.fieldMessage(f)
				pg.Fields[f.Field] = append(pg.Fields[f.Field], msg)
				pg.Summary = append(pg.Summary, FieldError{Field: f.Field, Message: msg})
			}
			rq.status = http.StatusUnprocessableEntity
		case pe.Status >= 500 && pe.Code != "E17":
			return err
		default:
			pg.Alert = rq.problemAlert(pe)
			rq.status = pe.Status
			if pe.RetryAfter > 0 {
				rq.w.Header().Set("Retry-After", fmt.Sprint(pe.RetryAfter))
			}
		}
	}
	rq.render(name, pg)
	return nil
}

// fieldMessage prefers the catalogue's wording of a field rule, so a
// translation covers engine messages too; the shared vocabulary's wording of
// the rule in the page's language is the fallback.
func (rq *request) fieldMessage(f validate.FieldError) string {
	field := f.Field
	// Numbered fields (answer_2) share the wording of their kind.
	if i := strings.LastIndexByte(field, '_'); i > 0 && strings.Trim(field[i+1:], "0123456789") == "" {
		field = field[:i]
	}
	if key := "rule." + field + "." + f.Code; rq.text.Has(key) {
		if f.Limit > 0 {
			return rq.text.N(key, f.Limit)
		}
		return rq.text.T(key)
	}
	// A rule every field shares, worded with the field's label.
	if key := "rule." + f.Code; rq.text.Has(key) {
		if f.Limit > 0 {
			return rq.text.N(key, f.Limit, rq.fieldLabel(f.Field), f.Limit)
		}
		return rq.text.T(key, rq.fieldLabel(f.Field))
	}
	return problem.FieldMessage(f, rq.text.Lang)
}

// worded are field errors whose messages are already in the page's words,
// shown as they are: a handler's own message is never replaced by a general
// rule's, which would name the field by its internal name.
type worded validate.Errors

func (w worded) Error() string { return validate.Errors(w).Error() }

// fieldError is one field's error in the catalogue's words.
func (rq *request) fieldError(field, code, key string) error {
	return worded{{Field: field, Code: code, Message: rq.text.T(key)}}
}

// fieldLabels names the catalogue key of a field's label where it is not
// field.<name>: the label or legend the person sees on the form.
var fieldLabels = map[string]string{
	"name": "report.name", "subject": "report.subject", "message": "report.message",
	"token":   "recover.token.label",
	"primary": "enrol.field.primary", "primary_ext": "enrol.field.primary_ext",
	"backup": "enrol.field.backup", "backup_ext": "enrol.field.backup_ext", "pin": "enrol.field.pin",
	"question": "enrol.questions.question", "answer": "enrol.questions.answer",
	"method": "enrol.choose.legend", "channel": "recover.channel.legend",
}

// fieldLabel is the label people see on a field, for messages about it; a
// page whose label differs from the usual one names it in rq.labels.
func (rq *request) fieldLabel(field string) string {
	key, ok := rq.labels[field]
	if !ok {
		key, ok = fieldLabels[field]
	}
	if !ok {
		key = "field." + field
	}
	if rq.text.Has(key) {
		return rq.text.T(key)
	}
	return validate.Label(field)
}

// problem renders err in the page's language, naming the tenant's help
// desk wherever the message sends the person to someone.
func (rq *request) problem(err error) *problem.Problem {
	return problem.From(err, problem.Context{Lang: rq.text.Lang, KeepLang: true, HelpDesk: problem.HelpDesk(rq.policy.HelpDesk)})
}

// errorMessage is the catalogue's message, or this portal's wording of the
// code where a page needs to say something else (error.<code>).
func (rq *request) errorMessage(pe *problem.Problem) string {
	if key := "error." + pe.Code; rq.text.Has(key) {
		return rq.text.T(key)
	}
	return pe.Message
}

// problemAlert shows pe on the page, with the request's ID when the
// message is one that asks people to quote it: those whose cause only the
// server's log holds.
func (rq *request) problemAlert(pe *problem.Problem) *Alert {
	a := &Alert{Code: pe.Code, Message: rq.errorMessage(pe)}
	if pe.Status >= 500 && pe.Code != "E17" {
		a.RequestID = requestid.ID(rq.ctx())
	}
	return a
}

// alert shows a page-level message from the catalogue with a code.
func (rq *request) alert(code, key string) *Alert {
	return &Alert{Code: code, Message: rq.text.T(key)}
}
