package problem

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Entry is one public error: a stable code and name, the HTTP status a
// request refused with it answers, and its message in each language.
type Entry struct {
	Code   string
	Name   string
	Status int
	// RetryAfter is the wait in seconds a client is told when nothing more
	// precise is known; only entries that ask to come back have one.
	RetryAfter int
}

// catalogue is every entry in code order; docs/errors.md is checked
// against it. A published code keeps its name, status and meaning.
var catalogue = []Entry{
	{Code: "E01", Name: "invalid_credentials", Status: 401},
	{Code: "E02", Name: "wrong_code", Status: 401},
	{Code: "E03", Name: "mfa_locked", Status: 423},
	{Code: "E04", Name: "transaction_gone", Status: 410},
	{Code: "E05", Name: "user_not_found", Status: 404},
	{Code: "E06", Name: "user_not_registered", Status: 403},
	{Code: "E07", Name: "account_disabled", Status: 403},
	{Code: "E08", Name: "account_inactive", Status: 403},
	{Code: "E09", Name: "account_pending", Status: 403},
	{Code: "E10", Name: "account_expired", Status: 403},
	{Code: "E11", Name: "account_locked", Status: 423},
	{Code: "E12", Name: "validation_failed", Status: 400},
	{Code: "E13", Name: "unauthenticated", Status: 401},
	{Code: "E14", Name: "forbidden", Status: 403},
	{Code: "E15", Name: "not_found", Status: 404},
	{Code: "E16", Name: "conflict", Status: 409},
	{Code: "E17", Name: "busy", Status: 503, RetryAfter: 2},
	{Code: "E18", Name: "bad_request", Status: 400},
	{Code: "E19", Name: "enrolment_gone", Status: 410},
	{Code: "E20", Name: "factor_not_allowed", Status: 403},
	{Code: "E21", Name: "fresh_authentication_required", Status: 401},
	{Code: "E22", Name: "method_not_allowed", Status: 405},
	{Code: "E23", Name: "too_large", Status: 413},
	{Code: "E24", Name: "unsupported_media_type", Status: 415},
	{Code: "E25", Name: "rate_limited", Status: 429, RetryAfter: 60},
	{Code: "E26", Name: "one_time_tokens_spent", Status: 403},
	{Code: "E27", Name: "no_verified_destination", Status: 409},
	{Code: "E28", Name: "verification_gone", Status: 410},
	{Code: "E29", Name: "contact_change_denied", Status: 403},
	{Code: "E30", Name: "call_wrong_key", Status: 401},
	{Code: "E31", Name: "call_no_input", Status: 401},
	{Code: "E32", Name: "call_disconnected", Status: 401},
	{Code: "E33", Name: "call_no_answer", Status: 401},
	{Code: "E34", Name: "call_wrong_pin", Status: 401},
	{Code: "E35", Name: "call_fraud_reported", Status: 403},
	{Code: "E36", Name: "call_failed", Status: 502},
	{Code: "E37", Name: "last_factor", Status: 409},
	{Code: "E38", Name: "identity_not_matched", Status: 401},
	{Code: "E39", Name: "wrong_sms_code", Status: 401},
	{Code: "E40", Name: "wrong_email_code", Status: 401},
	{Code: "E41", Name: "wrong_security_answer", Status: 401},
	{Code: "E42", Name: "wrong_one_time_token", Status: 401},
	{Code: "E43", Name: "password_locked", Status: 423},
	{Code: "E44", Name: "wrong_verification_code", Status: 401},
	{Code: "E45", Name: "temporarily_unavailable", Status: 503, RetryAfter: 5},
	{Code: "E46", Name: "sign_on_gone", Status: 400},
	{Code: "E47", Name: "push_not_registered", Status: 409},
	{Code: "E50", Name: "account_terminated", Status: 403},
	{Code: "E55", Name: "enablement_not_ready", Status: 409},
	{Code: "E56", Name: "mfa_enabled_permanently", Status: 409},
	{Code: "E57", Name: "phase_started", Status: 409},
	{Code: "E60", Name: "console_no_role", Status: 403},
	{Code: "E61", Name: "console_second_factor", Status: 403},
	{Code: "E99", Name: "internal", Status: 500},
}

// Catalogue returns every entry in code order.
func Catalogue() []Entry { return append([]Entry(nil), catalogue...) }

var byName = func() map[string]Entry {
	m := make(map[string]Entry, len(catalogue))
	for _, e := range catalogue {
		m[e.Name] = e
	}
	return m
}()

// Lookup returns the entry with this name.
func Lookup(name string) (Entry, bool) {
	e, ok := byName[name]
	return e, ok
}

// Message is the entry's message in lang (English when lang is unknown),
// with its placeholders, such as {help_desk}, not yet filled in.
func (e Entry) Message(lang string) string { return text(Match(lang), e.Name) }

// Messages are the words of every entry, and the sentences From adds to
// them, in text/<lang>.json; field rules in languages other than English
// are in text/fields/<lang>.json, since English ones are written where
// package validate checks each rule.
//
//go:embed text/*.json text/fields/*.json
var textFS embed.FS

var (
	texts      = loadTexts("text")
	fieldTexts = loadTexts("text/fields")
)

func loadTexts(dir string) map[string]map[string]string {
	files, err := fs.Glob(textFS, dir+"/*.json")
	if err != nil {
		panic(err)
	}
	all := map[string]map[string]string{}
	for _, f := range files {
		b, err := textFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("problem: %s: %v", f, err))
		}
		all[strings.TrimSuffix(path.Base(f), ".json")] = m
	}
	return all
}

// text is the words of key in lang; the tests make sure every key exists
// in every language, so a miss is a programming error shown as the key.
func text(lang, key string) string {
	if s, ok := texts[lang][key]; ok {
		return s
	}
	if s, ok := texts[DefaultLanguage][key]; ok {
		return s
	}
	return "[" + key + "]"
}

// fill replaces each {name} in s with its value.
func fill(s string, vars map[string]string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}
