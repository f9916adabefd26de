// Package text holds the words of the messages Countersign sends — texts,
// emails, what a call says — in every language, from <lang>.json (X8). The
// portal's pages have their own catalogue; these are the engine's and its
// factors'.
package text

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed *.json
var files embed.FS

// Default is the language used when nothing says otherwise.
const Default = "en"

var catalogue = func() map[string]map[string]string {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		panic(err)
	}
	all := map[string]map[string]string{}
	for _, f := range names {
		b, err := files.ReadFile(f)
		if err != nil {
			panic(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("text: %s: %v", f, err))
		}
		all[strings.TrimSuffix(path.Base(f), ".json")] = m
	}
	return all
}()

// Known reports whether messages can be written in lang.
func Known(lang string) bool {
	_, ok := catalogue[lang]
	return ok
}

// Languages lists the languages messages can be written in, sorted.
func Languages() []string {
	known := make([]string, 0, len(catalogue))
	for l := range catalogue {
		known = append(known, l)
	}
	sort.Strings(known)
	return known
}

// Words formats the message key in lang, falling back to English; a key
// missing from English too is a programming error, shown as the key.
func Words(lang, key string, args ...any) string {
	s, ok := catalogue[lang][key]
	if !ok {
		if s, ok = catalogue[Default][key]; !ok {
			return "[" + key + "]"
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// When formats a moment for a message in lang.
func When(lang string, t time.Time) string {
	return t.UTC().Format(Words(lang, "format.datetime"))
}
