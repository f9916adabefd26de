package main

import (
	"bytes"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestBar(t *testing.T) {
	tests := []struct {
		b    bar
		v    float64
		want bool
		text string
	}{
		{bar{"≥", 0.4}, 0.4, true, "≥ 0.4"},
		{bar{"≥", 0.4}, 0.39, false, "≥ 0.4"},
		{bar{"≤", 20}, 20, true, "≤ 20"},
		{bar{"<", 512}, 512, false, "< 512"},
		{bar{"<", 512}, 511.9, true, "< 512"},
		{bar{}, 1e9, true, ""},
	}
	for _, tt := range tests {
		if got := tt.b.meets(tt.v); got != tt.want || tt.b.String() != tt.text {
			t.Errorf("%q.meets(%v) = %v, want %v", tt.b, tt.v, got, tt.want)
		}
	}
}

func TestUsersAndNumber(t *testing.T) {
	for n, want := range map[int]string{1_020_000: "1.02 M", 60_000: "60 k", 500: "500"} {
		if got := users(n); got != want {
			t.Errorf("users(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{0.1234: "0.123", 85.25: "85.2", 420.5: "420", 3: "3"} {
		if got := number(v); got != want {
			t.Errorf("number(%v) = %q, want %q", v, got, want)
		}
	}
}

// roundsOf builds a report whose rounds carry the given ratio values.
func roundsOf(concurrency int, name string, values ...float64) *Report {
	rep := &Report{Concurrency: concurrency}
	for _, v := range values {
		rep.Rounds = append(rep.Rounds, Round{Ratios: []Ratio{{Name: name, Value: v}}})
	}
	return rep
}

func totpRounds(perSecond ...float64) *Report {
	rep := &Report{Concurrency: 16}
	for _, v := range perSecond {
		rep.Rounds = append(rep.Rounds, Round{Phases: []PhaseReport{{Name: "totp", PerSecond: v}}})
	}
	return rep
}

func TestScaleValues(t *testing.T) {
	runs := map[string]*Report{tablePadSmall: totpRounds(1000, 2000, 1500), tablePadBig: totpRounds(950, 2000)}
	values, noted := scaleValues(runs)
	if want := []float64{0.95, 1}; !slices.Equal(values, want) || noted != 0 {
		t.Errorf("scaleValues = %v, %d; want %v, 0", values, noted, want)
	}
	runs[tablePadBig].Rounds[0].Phases[0].IdleShare = 0.5
	if _, noted := scaleValues(runs); noted != 1 {
		t.Errorf("a user-limited round: noted %d, want 1", noted)
	}
	if values, _ := scaleValues(map[string]*Report{tablePadBig: totpRounds(1)}); values != nil {
		t.Errorf("without the small run: %v, want none", values)
	}
}

// TestRunTable writes reports as -json-file would and checks the rows the
// table prints from them, and that rows without a report are left out.
func TestRunTable(t *testing.T) {
	dir := t.TempDir()
	hello := roundsOf(64, ratioTOTPHello, 0.5, 0.3, 0.41)
	for i, v := range []float64{12, 25, 30} {
		hello.Rounds[i].Ratios = append(hello.Rounds[i].Ratios, Ratio{Name: figureTOTPP99, Value: v})
	}
	hello.Rounds[1].Ratios[0].Note = "user-limited: totp waited"
	flood := roundsOf(64, ratioFlood, 0.26, 0.27)
	for _, w := range []struct {
		name string
		rep  *Report
	}{{tableHello64, hello}, {tableFlood, flood}, {tablePadSmall, totpRounds(1000)}, {tablePadBig, totpRounds(990)}} {
		if err := writeJSON(filepath.Join(dir, w.name+".json"), *w.rep); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := runTable([]string{"-pad-small", "2000", "-pad-big", "30000", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	space := regexp.MustCompile(`\s{2,}`)
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		lines = append(lines, space.ReplaceAllString(strings.TrimSpace(l), "|"))
	}
	want := []string{
		"POST /api/v1/auth/check ÷ hello (SQLite)|64|3|0.3|0.41|0.5|≥ 0.4|yes|user-limited in 1 of 3 rounds",
		"its p99 (ms)|64|3|12|25|30|≤ 20|no",
		"server CPU per check (µs), SQLite|64|0|-|-|-|≤ 100|not measured in hello64.json",
		"checks under a password flood ÷ checks alone|64|2|0.26|0.265|0.27|≥ 0.5|no",
		"checks/s, 30 k users ÷ 2 k users|16|1|0.99|0.99|0.99|≥ 0.95|yes",
	}
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("no line %q in\n%s", w, text)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "PostgreSQL") || strings.HasPrefix(l, "password logins") || strings.Contains(l, "(SQLite)|16|") {
			t.Errorf("a row without its report: %q", l)
		}
	}
	if err := runTable([]string{t.TempDir()}, io.Discard, io.Discard); err == nil {
		t.Error("empty directory: want an error")
	}
}
