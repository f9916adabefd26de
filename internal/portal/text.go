package portal

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

//go:embed text
var textFS embed.FS

// Catalogue holds every user-facing string of the portal in one language.
// Strings live in text/<language>/*.json, one file per area of the portal;
// a key defined twice is an error, so areas cannot silently override each
// other. Adding a language is adding a directory.
type Catalogue struct {
	Lang    string
	strings map[string]string
}

// LoadCatalogue reads the catalogue of one language.
func LoadCatalogue(lang string) (*Catalogue, error) {
	dir := path.Join("text", lang)
	files, err := fs.Glob(textFS, dir+"/*.json")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("portal: no strings for language %q", lang)
	}
	sort.Strings(files)
	c := &Catalogue{Lang: lang, strings: map[string]string{}}
	for _, f := range files {
		b, err := textFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("portal: %s: %w", f, err)
		}
		for k, v := range m {
			if _, dup := c.strings[k]; dup {
				return nil, fmt.Errorf("portal: %s: key %q is already defined in another file", f, k)
			}
			c.strings[k] = v
		}
	}
	return c, nil
}

// T returns the string for key, formatted with args. A missing key renders
// as the key in brackets, and the template test fails on it.
func (c *Catalogue) T(key string, args ...any) string {
	s, ok := c.strings[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Has reports whether key is in the catalogue, as one string or as the
// plural forms N picks from.
func (c *Catalogue) Has(key string) bool {
	_, ok := c.strings[key]
	if !ok {
		_, ok = c.strings[key+".other"]
	}
	return ok
}

// N is the string for a count n: key.one or key.other, chosen by the
// language's plural rule, formatted with args (n alone when there are
// none). A key without plural forms is used as it is.
func (c *Catalogue) N(key string, n int, args ...any) string {
	if len(args) == 0 {
		args = []any{n}
	}
	if _, ok := c.strings[key+".other"]; !ok {
		return c.T(key, args...)
	}
	if pluralOne(c.Lang, n) {
		return c.T(key+".one", args...)
	}
	return c.T(key+".other", args...)
}

// pluralOne is CLDR's "one" category for the portal's languages. English
// and Spanish agree (exactly 1 is singular; 0 is plural), so lang is not
// consulted yet: a language with other categories adds its rule here.
func pluralOne(_ string, n int) bool { return n == 1 || n == -1 }

// Keys lists every key, sorted.
func (c *Catalogue) Keys() []string {
	keys := make([]string, 0, len(c.strings))
	for k := range c.strings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
