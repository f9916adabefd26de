package portal

import (
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow"
	lang "golang.org/x/text/language"
)

// langCookie keeps the language a person chose with the switch in the
// footer; without it the browser's Accept-Language decides (X8).
const langCookie = "cs_lang"

// Languages lists the portal's languages, English first: one per
// directory under text/.
func Languages() ([]string, error) {
	entries, err := fs.ReadDir(textFS, "text")
	if err != nil {
		return nil, err
	}
	codes := []string{"en"}
	for _, e := range entries {
		if e.IsDir() && e.Name() != "en" {
			codes = append(codes, e.Name())
		}
	}
	return codes, nil
}

// language picks the translation for a request: the one chosen with the
// switch, else the best match of Accept-Language, else English. Once the
// person is known, useLanguage may prefer the language recorded for them.
func (p *Portal) language(r *http.Request) *language {
	_, i := lang.MatchStrings(p.match, chosenLanguage(r), r.Header.Get("Accept-Language"))
	return p.langs[i]
}

// chosenLanguage is the language of the switch's cookie, if any.
func chosenLanguage(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		return c.Value
	}
	return ""
}

// byCode is the translation for a language code, or nil.
func (p *Portal) byCode(code string) *language {
	for _, l := range p.langs {
		if l.text.Lang == code {
			return l
		}
	}
	return nil
}

// useLanguage settles the language once the session is loaded (X8). A
// choice made with the switch on this browser wins; otherwise a person with
// a recorded language (set by an administrator or an earlier choice) sees
// the portal in it. A person with none recorded gets the page's language
// recorded, so that later messages — also those an application's sign-in
// sends — are in the language they read.
func (rq *request) useLanguage() error {
	if rq.user == nil {
		return nil
	}
	if chosenLanguage(rq.r) == "" {
		if l := rq.p.byCode(rq.user.Locale); l != nil && l != rq.lang {
			rq.lang, rq.text, rq.caller.Lang = l, l.text, l.text.Lang
		}
	}
	if rq.user.Locale != "" || rq.lang.text.Lang == flow.DefaultLanguage {
		return nil
	}
	return rq.recordLanguage(rq.lang.text.Lang)
}

// recordLanguage stores the language of the signed-in person's messages.
func (rq *request) recordLanguage(code string) error {
	if rq.user == nil || rq.user.Locale == code {
		return nil
	}
	if err := rq.p.Engine.SetLanguage(rq.ctx(), rq.tenant.ID, rq.user.ID, code); err != nil {
		return err
	}
	rq.user.Locale = code
	return nil
}

// langChoice is an entry of the language switch.
type langChoice struct{ Code, Name string }

// otherLanguages are the switch's entries: every language but the current one.
func (p *Portal) otherLanguages(cur *language) []langChoice {
	var out []langChoice
	for _, l := range p.langs {
		if l != cur {
			out = append(out, langChoice{Code: l.text.Lang, Name: l.name})
		}
	}
	return out
}

// setLanguage remembers the chosen language for a year and goes back to
// the page the person was on. It is a form (POST) like every other change.
func (p *Portal) setLanguage(rq *request) error {
	code := rq.form("lang")
	if p.byCode(code) == nil {
		code = flow.DefaultLanguage
	}
	// A signed-in person's choice is theirs: their messages follow it.
	if err := rq.recordLanguage(code); err != nil {
		return err
	}
	http.SetCookie(rq.w, &http.Cookie{Name: langCookie, Value: code, Path: "/", MaxAge: int(365 * 24 * time.Hour / time.Second),
		Secure: p.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	back := rq.form("back")
	// Only a page of this tenant's portal: never another site (an open redirect).
	if !strings.HasPrefix(back, rq.base()+"/") || strings.ContainsAny(back, "\\\r\n") || strings.Contains(back, "//") {
		back = rq.base() + "/"
	}
	http.Redirect(rq.w, rq.r, back, http.StatusSeeOther)
	return nil
}
