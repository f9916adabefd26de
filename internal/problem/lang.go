package problem

import (
	"sort"

	"golang.org/x/text/language"
)

// DefaultLanguage is the language of an answer when nothing asks for another.
const DefaultLanguage = "en"

// Languages lists the languages messages are written in, English first.
func Languages() []string {
	out := []string{DefaultLanguage}
	for l := range texts {
		if l != DefaultLanguage {
			out = append(out, l)
		}
	}
	sort.Strings(out[1:])
	return out
}

var matcher = func() language.Matcher {
	var tags []language.Tag
	for _, l := range Languages() {
		tags = append(tags, language.MustParse(l))
	}
	return language.NewMatcher(tags)
}()

// Negotiate picks the language of an answer from an Accept-Language header,
// honouring its q-values; a regional variant ("es-MX") gets its language,
// and anything unknown or unreadable gets English.
func Negotiate(acceptLanguage string) string {
	if acceptLanguage == "" {
		return DefaultLanguage
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return DefaultLanguage
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return DefaultLanguage
	}
	return Languages()[i]
}

// Match returns lang when messages are written in it, else its base
// language when they are ("es-MX" gives "es"), else English.
func Match(lang string) string {
	if l, ok := lookup(lang); ok {
		return l
	}
	return DefaultLanguage
}

// lookup is the language of messages lang asks for, if there is one.
func lookup(lang string) (string, bool) {
	if _, ok := texts[lang]; ok {
		return lang, true
	}
	tag, err := language.Parse(lang)
	if err != nil {
		return "", false
	}
	base, _ := tag.Base()
	_, ok := texts[base.String()]
	return base.String(), ok
}
