package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// printReport writes the human-readable report: the setup, then for each
// round the table, the ratios and whatever needs a second look (failures,
// 503s, phases the user count held back), and with several rounds each
// ratio's min, median and max.
func printReport(w io.Writer, rep Report) error {
	fmt.Fprintf(w, "Countersign load: %s, %d workers, %gs phases, client on %d CPUs (%s)\n", rep.URL, rep.Concurrency, rep.Duration, rep.Machine.CPUs, rep.Machine.CPUModel)
	fmt.Fprintf(w, "setup: %d TOTP users, %d password users in %.1fs (prefix %s)\n",
		rep.Setup.TOTPUsers, rep.Setup.PasswordUsers, rep.Setup.Seconds, rep.Prefix)
	if c := rep.Codes; c != nil {
		fmt.Fprintf(w, "oidc: %d of %d authorization codes obtained through the hosted login in %.1fs (%d users, not timed)", c.Codes, c.Wanted, c.Seconds, c.Users)
		if len(c.Failures) > 0 {
			fmt.Fprintf(w, "; failed sign-ins: %s", outcomes(c.Failures))
		}
		fmt.Fprintln(w)
	}
	if h := rep.Hashing; h != nil {
		how := "from -hash-ms"
		if h.Measured {
			how = "measured here"
		}
		fmt.Fprintf(w, "hashing capacity: %d server CPUs ÷ %.1f ms per argon2id hash (%s) = %.0f/s\n", h.ServerCPUs, h.HashMS, how, h.PerSecond)
	}
	for i, r := range rep.Rounds {
		fmt.Fprintln(w)
		if len(rep.Rounds) > 1 {
			fmt.Fprintf(w, "round %d of %d\n", i+1, len(rep.Rounds))
		}
		if err := printRound(w, r); err != nil {
			return err
		}
	}
	if len(rep.Summary) > 0 {
		fmt.Fprintf(w, "\nover %d rounds, min / median / max:\n", len(rep.Rounds))
		for _, s := range rep.Summary {
			fmt.Fprintf(w, "  %s = %s / %s / %s", s.Name, number(s.Min), number(s.Median), number(s.Max))
			if s.Rounds < len(rep.Rounds) {
				fmt.Fprintf(w, " (from %d of %d rounds)", s.Rounds, len(rep.Rounds))
			}
			if s.Noted > 0 {
				fmt.Fprintf(w, " (flagged in %d: %s)", s.Noted, s.Note)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// number shows a figure with three significant digits, whole numbers from 100 up.
func number(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// cpuCell shows a CPU figure, or a dash when it was not measured.
func cpuCell(v float64, format string) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func printRound(w io.Writer, rep Round) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tok/s\tok\tfailed\t503 share\tp50 ms\tp90 ms\tp99 ms\tmax ms\tseconds\tCPU s\tCPU µs/op\t")
	for _, p := range rep.Phases {
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%d\t%.1f%%\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t\n", p.Name, p.PerSecond, p.Successes, p.Failures,
			100*p.BusyShare, p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.Max, p.Seconds,
			cpuCell(p.ServerCPUSeconds, "%.2f"), cpuCell(p.CPUPerOpMicros, "%.1f"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f := rep.Flood; f != nil {
		fmt.Fprintf(w, "\nflood: logins sent at %g × capacity = %.0f/s; %d sent, %d not sent (due while %d were in flight)\n",
			f.Factor, f.Target, f.Sent, f.Unsent, f.Inflight)
		if f.PeakRSSKiB > 0 {
			fmt.Fprintf(w, "flood: server peak RSS %.1f MiB (VmHWM of the server plus its %d child processes, each over its whole life)\n",
				float64(f.PeakRSSKiB)/1024, f.PeakRSSProcs-1)
		}
	}
	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "ratios:")
		for _, r := range rep.Ratios {
			fmt.Fprintf(w, "  %s = %s", r.Name, number(r.Value))
			if r.Note != "" {
				fmt.Fprintf(w, " (%s)", r.Note)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w)
	for _, p := range rep.Phases {
		fmt.Fprintf(w, "%s (%s/s, stopped by %s): %s\n", p.Name, p.Unit, p.StoppedBy, outcomes(p.Outcomes))
		logins := p.Name == "password" || p.Name == "flood logins"
		if p.Failures > 0 && !logins {
			fmt.Fprintf(w, "  BUG? %d of %d attempts failed; every attempt in this phase uses a fresh valid code\n", p.Failures, p.Attempts)
		}
		if logins && p.Failures > 0 {
			fmt.Fprintf(w, "  %.1f%% of requests got 503 busy (expected when the hashing pool is saturated)", 100*p.BusyShare)
			if other := p.Failures - busy(p.Outcomes); other > 0 {
				fmt.Fprintf(w, "; BUG? %d other failures", other)
			}
			fmt.Fprintln(w)
		}
		if p.IdleShare > 0.05 {
			fmt.Fprintf(w, "  workers waited %.0f%% of the time for a fresh TOTP step: the user count, not the server, limited this phase; raise -users or run it alone (-phases %s)\n", 100*p.IdleShare, p.Name)
		}
	}
	return nil
}

func outcomes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func busy(m map[string]int64) int64 {
	var n int64
	for k, v := range m {
		if strings.HasPrefix(k, "503") {
			n += v
		}
	}
	return n
}
