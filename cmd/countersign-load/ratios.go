package main

import (
	"slices"
	"strings"
	"time"
)

// Issue 14 states Countersign's speed goals as ratios between phases of one
// run, so that the machine cancels out, and as a few figures with bars of
// their own (p99s, CPU per check, peak memory). Each round gets its own;
// over several rounds every one is summarized by its min, median and max.

// Names of the ratios and figures; scripts/load's table reads them.
const (
	ratioTOTPHello = "totp ÷ hello"
	figureTOTPP99  = "totp p99 (ms)"
	figureCheckCPU = "server CPU per check (µs)"
	figureHelloCPU = "hello CPU per request (µs)"
	ratioCPU       = "server CPU per check ÷ hello's per request"
	ratioFlood     = "flood checks ÷ checks alone"
	ratioFloodP99  = "flood checks' p99 ÷ checks alone's p99"
	figureFloodP99 = "flood checks' p99 (ms)"
	figurePeakRSS  = "server peak RSS, child processes included (MiB)"
	ratioPassword  = "password logins ÷ (cores ÷ one hash)"
)

// Ratio is one of issue 14's ratios (a phase's figure over a reference's)
// or one of its figures.
type Ratio struct {
	Name  string  `json:"name"` // e.g. "totp ÷ hello"
	Value float64 `json:"value"`
	// Note says why the ratio may mislead, e.g. a phase the user count held back.
	Note string `json:"note,omitempty"`
}

// idleNote flags a ratio whose phases waited for fresh TOTP steps more than
// the report's 5% threshold: the user count, not the server, set the rate.
func idleNote(phases ...PhaseReport) string {
	for _, p := range phases {
		if p.IdleShare > 0.05 {
			return "user-limited: " + p.Name + " waited for fresh TOTP steps; raise -users"
		}
	}
	return ""
}

// roundRatios is every ratio and figure the phases of one round allow; h is
// the hashing capacity, when the password or flood phase needed it.
func roundRatios(phases []PhaseReport, flood *FloodReport, h *Hashing) []Ratio {
	out := helloRatios(phases)
	out = append(out, totpFigures(phases)...)
	out = append(out, cpuFigures(phases)...)
	out = append(out, floodRatios(phases, flood)...)
	return append(out, passwordRatio(phases, h)...)
}

func phase(phases []PhaseReport, name string) (PhaseReport, bool) {
	i := slices.IndexFunc(phases, func(p PhaseReport) bool { return p.Name == name })
	if i < 0 {
		return PhaseReport{}, false
	}
	return phases[i], true
}

// helloRatios divides each phase's ok/s by hello's, when hello ran and
// completed something; the flood's logins are not checks and are left out.
func helloRatios(phases []PhaseReport) []Ratio {
	hello, ok := phase(phases, "hello")
	if !ok || hello.PerSecond <= 0 {
		return nil
	}
	var out []Ratio
	for _, p := range phases {
		if p.Name == "hello" || strings.HasSuffix(p.Name, "logins") {
			continue
		}
		out = append(out, Ratio{Name: p.Name + " ÷ hello", Value: round(p.PerSecond/hello.PerSecond, 3), Note: idleNote(p)})
	}
	return out
}

// totpFigures is the checks' p99, which has a bar of its own.
func totpFigures(phases []PhaseReport) []Ratio {
	if p, ok := phase(phases, "totp"); ok && p.Successes > 0 {
		return []Ratio{{Name: figureTOTPP99, Value: p.Latency.P99, Note: idleNote(p)}}
	}
	return nil
}

// cpuPerOp is d spread over n operations, in µs; 0 when there were none.
func cpuPerOp(d time.Duration, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return round(float64(d.Microseconds())/float64(n), 1)
}

// cpuFigures is the server's CPU per check and the hello server's per
// request, when they were measured, and the one over the other.
func cpuFigures(phases []PhaseReport) []Ratio {
	var out []Ratio
	hello, helloOK := phase(phases, "hello")
	helloOK = helloOK && hello.CPUPerOpMicros > 0
	if helloOK {
		out = append(out, Ratio{Name: figureHelloCPU, Value: hello.CPUPerOpMicros})
	}
	if p, ok := phase(phases, "totp"); ok && p.CPUPerOpMicros > 0 {
		out = append(out, Ratio{Name: figureCheckCPU, Value: p.CPUPerOpMicros})
		if helloOK {
			out = append(out, Ratio{Name: ratioCPU, Value: round(p.CPUPerOpMicros/hello.CPUPerOpMicros, 2)})
		}
	}
	return out
}

// floodRatios compares the checks under the flood with the checks alone,
// when both the totp and the flood phase ran, and gives the flood's p99 and
// the server's peak memory, which have bars of their own.
func floodRatios(phases []PhaseReport, fr *FloodReport) []Ratio {
	flood, ok := phase(phases, "flood")
	if !ok {
		return nil
	}
	var out []Ratio
	alone, aloneOK := phase(phases, "totp")
	if aloneOK && alone.PerSecond > 0 {
		note := idleNote(alone, flood)
		out = append(out, Ratio{Name: ratioFlood, Value: round(flood.PerSecond/alone.PerSecond, 3), Note: note})
		if alone.Latency.P99 > 0 && flood.Successes > 0 {
			out = append(out, Ratio{Name: ratioFloodP99, Value: round(flood.Latency.P99/alone.Latency.P99, 3), Note: note})
		}
	}
	if flood.Successes > 0 {
		out = append(out, Ratio{Name: figureFloodP99, Value: flood.Latency.P99, Note: idleNote(flood)})
	}
	if fr != nil && fr.PeakRSSKiB > 0 {
		out = append(out, Ratio{Name: figurePeakRSS, Value: round(float64(fr.PeakRSSKiB)/1024, 1)})
	}
	return out
}

// passwordRatio divides the password phase's logins per second by the
// hashing capacity: 1 means every core hashed all the time.
func passwordRatio(phases []PhaseReport, h *Hashing) []Ratio {
	p, ok := phase(phases, "password")
	if !ok || h == nil || h.PerSecond <= 0 {
		return nil
	}
	return []Ratio{{Name: ratioPassword, Value: round(p.PerSecond/h.PerSecond, 3)}}
}

// Summary is one ratio over the rounds that gave it.
type Summary struct {
	Name   string  `json:"name"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	Rounds int     `json:"rounds"`
	// Noted is how many of those rounds flagged the ratio, and Note the
	// first such flag.
	Noted int    `json:"noted_rounds,omitempty"`
	Note  string `json:"note,omitempty"`
}

// summarizeRounds gives each ratio's min, median and max over the rounds,
// in the order the ratios first appear.
func summarizeRounds(rounds [][]Ratio) []Summary {
	var out []Summary
	values := map[string][]float64{}
	for _, rs := range rounds {
		for _, r := range rs {
			i := slices.IndexFunc(out, func(s Summary) bool { return s.Name == r.Name })
			if i < 0 {
				out = append(out, Summary{Name: r.Name})
				i = len(out) - 1
			}
			values[r.Name] = append(values[r.Name], r.Value)
			if r.Note != "" {
				out[i].Noted++
				if out[i].Note == "" {
					out[i].Note = r.Note
				}
			}
		}
	}
	for i := range out {
		v := values[out[i].Name]
		out[i].Min, out[i].Median, out[i].Max, out[i].Rounds = slices.Min(v), median(v), slices.Max(v), len(v)
	}
	return out
}

// median of xs (not empty): the middle value, or the mean of the two middle
// ones for an even count.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return round((s[n/2-1]+s[n/2])/2, 3)
}
