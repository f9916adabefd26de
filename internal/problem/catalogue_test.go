package problem

import (
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCatalogueWellFormed(t *testing.T) {
	codes, names := map[string]bool{}, map[string]bool{}
	prev := ""
	for _, e := range Catalogue() {
		if codes[e.Code] {
			t.Errorf("code %s appears twice", e.Code)
		}
		if names[e.Name] {
			t.Errorf("name %s appears twice", e.Name)
		}
		codes[e.Code], names[e.Name] = true, true
		if len(e.Code) != 3 || e.Code[0] != 'E' || e.Code[1] < '0' || e.Code[1] > '9' || e.Code[2] < '0' || e.Code[2] > '9' {
			t.Errorf("code %q is not E followed by two digits", e.Code)
		}
		if e.Code <= prev {
			t.Errorf("%s follows %s; keep the catalogue in code order", e.Code, prev)
		}
		prev = e.Code
		if e.Status < 400 || e.Status > 599 || http.StatusText(e.Status) == "" {
			t.Errorf("%s has status %d, want a known 4xx or 5xx", e.Code, e.Status)
		}
		retry := e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
		if retry != (e.RetryAfter > 0) {
			t.Errorf("%s: status %d with RetryAfter %d; a 503 or 429 must say when to retry, and only those", e.Code, e.Status, e.RetryAfter)
		}
		for _, lang := range Languages() {
			if m := e.Message(lang); m == "" || m[0] == '[' || !strings.HasSuffix(m, ".") {
				t.Errorf("%s message in %s %q should be a full sentence", e.Code, lang, m)
			}
		}
	}
}

// placeholders lists the {name} placeholders and % verbs of s, which a
// translation must keep, sorted.
var placeholderRE = regexp.MustCompile(`\{[a-z_0-9]+\}|%[-+# 0]*[0-9]*(\.[0-9]+)?[a-zA-Z%]`)

func placeholders(s string) []string {
	p := placeholderRE.FindAllString(s, -1)
	slices.Sort(p)
	return p
}

// knownPlaceholders are the values From and FieldMessage fill in.
var knownPlaceholders = map[string]bool{
	"{help_desk}": true, "{n}": true, "{name}": true, "{means}": true, "{last4}": true, "{to}": true,
	"{offset}": true, "{field}": true, "{type}": true, "{limit}": true, "{message}": true, "{minutes}": true,
}

// TestEveryLanguageSaysEverything checks that each text, and each field
// rule of a language other than English, exists in every language with the
// same placeholders and % verbs, so no language falls back or shows a hole.
func TestEveryLanguageSaysEverything(t *testing.T) {
	if got := Languages(); !slices.Equal(got, []string{"en", "es"}) {
		t.Fatalf("languages %v, want en and es", got)
	}
	for _, set := range []map[string]map[string]string{texts, fieldTexts} {
		var ref map[string]string
		for _, lang := range slices.Sorted(maps.Keys(set)) {
			if ref == nil {
				ref = set[lang]
			}
			for key, s := range set[lang] {
				for _, p := range placeholders(s) {
					if !knownPlaceholders[p] {
						t.Errorf("%s %s: %s is filled in by nothing", lang, key, p)
					}
				}
				other, ok := ref[key]
				if !ok {
					t.Errorf("%s %s is missing from the other languages", lang, key)
					continue
				}
				if !slices.Equal(placeholders(s), placeholders(other)) {
					t.Errorf("%s %s has %v, another language %v", lang, key, placeholders(s), placeholders(other))
				}
			}
			for key := range ref {
				if _, ok := set[lang][key]; !ok {
					t.Errorf("%s lacks %s", lang, key)
				}
			}
		}
	}
	for _, e := range Catalogue() {
		for _, lang := range Languages() {
			if _, ok := texts[lang][e.Name]; !ok {
				t.Errorf("%s %s has no message in %s", e.Code, e.Name, lang)
			}
		}
	}
	for key := range texts[DefaultLanguage] {
		name, _, _ := strings.Cut(key, ".")
		if _, entry := byName[name]; !entry && !slices.Contains([]string{"help_desk", "list", "attempts_left"}, name) {
			t.Errorf("text %s belongs to no entry", key)
		}
	}
}

// docTables reads the tables of docs/errors.md, keyed by language (the
// English table first, then one under "## Messages in <language> (code)")
// and code.
func docTables(t *testing.T) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]map[string][]string{}
	lang := DefaultLanguage
	heading := regexp.MustCompile(`^## .*\(([a-z]{2})\)$`)
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if m := heading.FindStringSubmatch(line); m != nil {
			lang = m[1]
			continue
		}
		if !strings.HasPrefix(line, "| E") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if tables[lang] == nil {
			tables[lang] = map[string][]string{}
		}
		if _, dup := tables[lang][cells[0]]; dup {
			t.Errorf("docs/errors.md has two %s rows for %s", lang, cells[0])
		}
		tables[lang][cells[0]] = cells
	}
	return tables
}

func TestCatalogueDocumented(t *testing.T) {
	tables := docTables(t)
	if got := slices.Sorted(maps.Keys(tables)); !slices.Equal(got, Languages()) {
		t.Fatalf("docs/errors.md has tables for %v, want one per language %v", got, Languages())
	}
	for _, e := range Catalogue() {
		t.Run(e.Code, func(t *testing.T) {
			row, ok := tables[DefaultLanguage][e.Code]
			if !ok {
				t.Fatalf("%s %s is not in docs/errors.md", e.Code, e.Name)
			}
			if len(row) != 6 {
				t.Fatalf("row has %d cells, want 6 (code, name, HTTP, message, when, what to do): %q", len(row), row)
			}
			if row[1] != "`"+e.Name+"`" {
				t.Errorf("name %s, want `%s`", row[1], e.Name)
			}
			if row[2] != strconv.Itoa(e.Status) {
				t.Errorf("HTTP %s, want %d", row[2], e.Status)
			}
			if row[3] != e.Message(DefaultLanguage) {
				t.Errorf("message differs from the catalogue:\n doc: %s\nwant: %s", row[3], e.Message(DefaultLanguage))
			}
			if row[4] == "" || row[5] == "" {
				t.Error("say when it happens and what the caller should do")
			}
			for _, lang := range Languages()[1:] {
				row, ok := tables[lang][e.Code]
				if !ok {
					t.Fatalf("%s %s has no row in the %s table", e.Code, e.Name, lang)
				}
				if len(row) != 3 || row[1] != "`"+e.Name+"`" {
					t.Fatalf("%s row %q, want code, `%s`, message", lang, row, e.Name)
				}
				if row[2] != e.Message(lang) {
					t.Errorf("%s message differs from the catalogue:\n doc: %s\nwant: %s", lang, row[2], e.Message(lang))
				}
			}
		})
	}
	for lang, rows := range tables {
		for code := range rows {
			if !slices.ContainsFunc(Catalogue(), func(e Entry) bool { return e.Code == code }) {
				t.Errorf("docs/errors.md documents %s in %s, which is not in the catalogue", code, lang)
			}
		}
	}
}
