package portal

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/countersign/countersign/internal/validate"
)

// unusableInput lists the query and form values of r that are not usable
// text (G4, issue 10): PostgreSQL refuses a NUL or invalid UTF-8, so they
// are stopped here, before any handler, for every page alike.
func unusableInput(r *http.Request) validate.Errors {
	var errs validate.Errors
	for _, values := range []map[string][]string{r.URL.Query(), r.PostForm} {
		for _, key := range slices.Sorted(maps.Keys(values)) {
			if !validate.Usable(key) {
				// No form has such a field, so its value is never read.
				continue
			}
			if slices.ContainsFunc(values[key], func(v string) bool { return !validate.Usable(v) }) {
				validate.Unusable(&errs, key)
			}
		}
	}
	return errs
}

// refuseInput shows the fields that cannot be used, in the person's
// language, with the catalogue's code and the status of any field error.
func (rq *request) refuseInput(errs validate.Errors) {
	msgs := make([]string, len(errs))
	for i, fe := range errs {
		msgs[i] = rq.fieldMessage(fe)
	}
	rq.status = http.StatusUnprocessableEntity
	rq.render("error", &Page{Title: "error.title", Alert: &Alert{Code: "E12", Message: strings.Join(msgs, " ")}})
}

// storableHeader is a header value kept as data (the browser's name in a
// session), made usable instead of refused: it is a note for people, and a
// browser that sends odd bytes must still be able to sign in.
func storableHeader(v string, max int) string {
	if len(v) > max {
		v = v[:max]
	}
	return strings.ToValidUTF8(strings.ReplaceAll(v, "\x00", ""), "")
}
