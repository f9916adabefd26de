package portal

import (
	"io/fs"
	"net/http"
	"slices"
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

// language picks the translation for a request: the chosen one, else the
// best match of Accept-Language, else English.
func (p *Portal) language(r *http.Request) *language {
	chosen := ""
	if c, err := r.Cookie(langCookie); err == nil {
		chosen = c.Value
	}
	_, i := lang.MatchStrings(p.match, chosen, r.Header.Get("Accept-Language"))
	return p.langs[i]
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
	if !slices.ContainsFunc(p.langs, func(l *language) bool { return l.text.Lang == code }) {
		code = "en"
	}
	http.SetCookie(rq.w, &http.Cookie{Name: langCookie, Value: code, Path: "/portal/", MaxAge: int(365 * 24 * time.Hour / time.Second),
		Secure: p.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	back := rq.form("back")
	// Only a page of this tenant's portal: never another site (an open redirect).
	if !strings.HasPrefix(back, rq.base()+"/") || strings.ContainsAny(back, "\\\r\n") || strings.Contains(back, "//") {
		back = rq.base() + "/"
	}
	http.Redirect(rq.w, rq.r, back, http.StatusSeeOther)
	return nil
}

// rememberLanguage records the language a signed-in person uses the portal
// in, so the messages sent to them later — by an application's sign-in too —
// are in it (X8). It writes only when the language changes.
func (rq *request) rememberLanguage() error {
	if rq.user == nil {
		return nil
	}
	lang, had := rq.lang.text.Lang, rq.user.Locale
	if had == "" {
		had = flow.DefaultLanguage
	}
	if lang == had {
		return nil
	}
	if err := rq.p.Engine.Store.SetUserLocale(rq.ctx(), rq.tenant.ID, rq.user.ID, lang); err != nil {
		return err
	}
	rq.user.Locale = lang
	return nil
}
