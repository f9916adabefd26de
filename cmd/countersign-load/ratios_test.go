package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHelloRatios(t *testing.T) {
	phases := []PhaseReport{{Name: "hello", PerSecond: 10000}, {Name: "totp", PerSecond: 1700}, {Name: "flood", PerSecond: 500}, {Name: "flood logins", PerSecond: 60}}
	got := helloRatios(phases)
	want := []Ratio{{ratioTOTPHello, 0.17, ""}, {"flood ÷ hello", 0.05, ""}}
	if !slices.Equal(got, want) {
		t.Errorf("helloRatios = %v, want %v", got, want)
	}
	if r := helloRatios([]PhaseReport{{Name: "totp", PerSecond: 1700}}); r != nil {
		t.Errorf("without hello: %v, want none", r)
	}
	if r := helloRatios([]PhaseReport{{Name: "hello"}, {Name: "totp", PerSecond: 1700}}); r != nil {
		t.Errorf("hello at 0/s: %v, want none", r)
	}
}

func TestCPUPerOp(t *testing.T) {
	tests := []struct {
		d    time.Duration
		n    int64
		want float64
	}{
		{2 * time.Second, 20000, 100},
		{1500 * time.Millisecond, 7, 214285.7},
		{time.Second, 0, 0},
	}
	for _, tt := range tests {
		if got := cpuPerOp(tt.d, tt.n); got != tt.want {
			t.Errorf("cpuPerOp(%v, %d) = %v, want %v", tt.d, tt.n, got, tt.want)
		}
	}
}

func TestCPUFigures(t *testing.T) {
	phases := []PhaseReport{{Name: "hello", CPUPerOpMicros: 40}, {Name: "totp", CPUPerOpMicros: 300}}
	want := []Ratio{{figureHelloCPU, 40, ""}, {figureCheckCPU, 300, ""}, {ratioCPU, 7.5, ""}}
	if got := cpuFigures(phases); !slices.Equal(got, want) {
		t.Errorf("cpuFigures = %v, want %v", got, want)
	}
	// -hello-url: no CPU figure for hello, so no ratio either.
	phases[0].CPUPerOpMicros = 0
	if got := cpuFigures(phases); !slices.Equal(got, want[1:2]) {
		t.Errorf("without hello's CPU: %v, want %v", got, want[1:2])
	}
	if got := cpuFigures([]PhaseReport{{Name: "totp"}}); got != nil {
		t.Errorf("nothing measured: %v, want none", got)
	}
}

func TestPasswordRatio(t *testing.T) {
	phases := []PhaseReport{{Name: "password", PerSecond: 61.2}}
	h := &Hashing{ServerCPUs: 2, HashMS: 29.4, PerSecond: 68}
	if got := passwordRatio(phases, h); !slices.Equal(got, []Ratio{{ratioPassword, 0.9, ""}}) {
		t.Errorf("passwordRatio = %v, want 0.9", got)
	}
	if got := passwordRatio(phases, nil); got != nil {
		t.Errorf("no capacity: %v, want none", got)
	}
	if got := passwordRatio([]PhaseReport{{Name: "totp"}}, h); got != nil {
		t.Errorf("no password phase: %v, want none", got)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{0.1, 0.2}, 0.15},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSummarizeRounds(t *testing.T) {
	rounds := [][]Ratio{
		{{Name: "a", Value: 0.3}, {Name: "b", Value: 10}},
		{{Name: "a", Value: 0.1, Note: "user-limited"}, {Name: "c", Value: 5}},
		{{Name: "a", Value: 0.2}, {Name: "b", Value: 30}},
	}
	want := []Summary{
		{Name: "a", Min: 0.1, Median: 0.2, Max: 0.3, Rounds: 3, Noted: 1, Note: "user-limited"},
		{Name: "b", Min: 10, Median: 20, Max: 30, Rounds: 2},
		{Name: "c", Min: 5, Median: 5, Max: 5, Rounds: 1},
	}
	if got := summarizeRounds(rounds); !slices.Equal(got, want) {
		t.Errorf("summarizeRounds =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseFlagsRoundsAndInflight(t *testing.T) {
	env := func(string) string { return "" }
	keys := []string{"-app-key", "a", "-admin-key", "b"}
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-rounds", "3", "-phases", "hello,totp,flood"}, ""},
		{[]string{"-rounds", "0"}, "-rounds must be between 1 and 10"},
		{[]string{"-rounds", "11"}, "-rounds must be between 1 and 10"},
		{[]string{"-rounds", "2", "-phases", "oidc", "-client-id", "x", "-client-secret", "y"}, "run it with -rounds 1"},
		{[]string{"-phases", "flood", "-flood-inflight", "0"}, "-flood-inflight must be between 1 and 10000"},
		{[]string{"-phases", "password", "-server-cpus", "0"}, "-server-cpus must be at least 1"},
		{[]string{"-phases", "totp", "-flood-inflight", "0"}, ""}, // only the flood uses it
	}
	for _, tt := range tests {
		cfg, err := parseFlags(append(slices.Clone(keys), tt.args...), env, io.Discard)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.wantErr)
		}
		if tt.wantErr == "" && tt.args[0] == "-rounds" && cfg.rounds != 3 {
			t.Errorf("%v: rounds %d", tt.args, cfg.rounds)
		}
	}
	cfg, err := parseFlags(keys, env, io.Discard)
	if err != nil || cfg.rounds != 1 || cfg.floodInflight != 1024 {
		t.Errorf("defaults: rounds %d, flood-inflight %d, %v; want 1, 1024", cfg.rounds, cfg.floodInflight, err)
	}
}
