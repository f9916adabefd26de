package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/validate"
)

// maxPathValue is longer than any identifier, login ID or tracking number
// a path names; a longer value cannot name anything.
const maxPathValue = 256

// checkInput refuses a request whose path or query carries text the
// database cannot hold (G4, issue 10): a path value that cannot name
// anything is not found, a query value is a field error. It runs before
// every handler, so no handler can pass such text on.
func checkInput(r *http.Request, rt Route) error {
	for _, seg := range strings.Split(rt.Path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			if !possibleID(r.PathValue(strings.TrimSuffix(name, "}"))) {
				return problem.Named("not_found", nil)
			}
		}
	}
	var errs validate.Errors
	q := r.URL.Query()
	for _, key := range slices.Sorted(maps.Keys(q)) {
		if !validate.Usable(key) {
			// No parameter has such a name, so its value is never read.
			continue
		}
		if slices.ContainsFunc(q[key], func(v string) bool { return !validate.Usable(v) }) {
			validate.Unusable(&errs, key)
		}
	}
	return errs.Err()
}

// possibleID reports whether v could be an identifier, a login ID or a
// tracking number: usable text of printable characters, not too long.
func possibleID(v string) bool {
	if len(v) > maxPathValue || !validate.Usable(v) {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) })
}

// checkJSONText reports every string in body, a JSON document that has
// already decoded, that is not usable text, named by its path of keys
// ("device_label", "help_desk.name"). encoding/json replaces invalid UTF-8
// with U+FFFD, so the raw bytes of each string are what is checked; a NUL
// can only arrive escaped, so the decoded value is checked for it.
func checkJSONText(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object  bool
		key     string
		wantKey bool
	}
	var stack []frame
	var errs validate.Errors
	path := func() string {
		var keys []string
		for _, f := range stack {
			if f.object && f.key != "" {
				keys = append(keys, f.key)
			}
		}
		if len(keys) == 0 {
			return "body"
		}
		return strings.Join(keys, ".")
	}
	// afterValue readies the enclosing object for its next key.
	afterValue := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	start := dec.InputOffset()
	for {
		tok, err := dec.Token()
		if err != nil {
			break // the body decoded before, so this is its end
		}
		end := dec.InputOffset()
		raw := body[start:end]
		start = end
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				afterValue()
			}
		case string:
			usable := utf8.Valid(raw) && validate.Usable(t)
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				stack[n-1].wantKey = false
				stack[n-1].key = t
				if !usable {
					// The key cannot be repeated back as a field name.
					stack[n-1].key = ""
					validate.Unusable(&errs, path())
				}
				continue
			}
			if !usable {
				validate.Unusable(&errs, path())
			}
			afterValue()
		default:
			afterValue()
		}
	}
	return dedupe(errs).Err()
}

// dedupe keeps one error per field: an array of bad strings is one problem
// for the person to fix.
func dedupe(errs validate.Errors) validate.Errors {
	seen := map[string]bool{}
	var out validate.Errors
	for _, e := range errs {
		if !seen[e.Field] {
			seen[e.Field] = true
			out = append(out, e)
		}
	}
	return out
}
