package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
)

// `countersign-load table DIR` prints issue 14's table from the JSON reports
// that `scripts/load table` had the tool write into DIR, one file per run:
// a row whose run is missing is left out. Each row's figure is given per
// round and summarized by its min, median and max; its bar is judged on
// the median.

// The runs behind the table's rows; DIR/<name>.json holds each one's report.
const (
	tableHello64    = "hello64"    // -phases hello,totp, 64 clients, SQLite
	tableHello16    = "hello16"    // the same, 16 clients
	tablePostgres64 = "postgres64" // -phases hello,totp, 64 clients, PostgreSQL
	tablePassword   = "password"   // -phases password
	tableFlood      = "flood"      // -phases totp,flood
	tablePadSmall   = "pad-small"  // -phases totp, 16 clients, a small user table
	tablePadBig     = "pad-big"    // the same with a big one
)

// bar is a row's goal: op is "≥", "≤" or "<", or empty for no goal.
type bar struct {
	op    string
	limit float64
}

func (b bar) String() string {
	if b.op == "" {
		return ""
	}
	return b.op + " " + strconv.FormatFloat(b.limit, 'f', -1, 64)
}

func (b bar) meets(v float64) bool {
	switch b.op {
	case "≥":
		return v >= b.limit
	case "≤":
		return v <= b.limit
	case "<":
		return v < b.limit
	}
	return true
}

// tableRow is one line of the table: its figure per round, from the runs'
// reports, and how many rounds flagged it (a user-limited phase).
type tableRow struct {
	label string
	run   string
	bar   bar
	value func(runs map[string]*Report) (values []float64, noted int)
}

// ratioValues is a named ratio of run's rounds.
func ratioValues(run, name string) func(map[string]*Report) ([]float64, int) {
	return func(runs map[string]*Report) (values []float64, noted int) {
		for _, r := range runs[run].Rounds {
			for _, x := range r.Ratios {
				if x.Name == name {
					values = append(values, x.Value)
					if x.Note != "" {
						noted++
					}
				}
			}
		}
		return values, noted
	}
}

// scaleValues divides, round by round, the big user table's checks per
// second by the small one's: the two runs are separate servers, so only
// their rounds of the same rank are paired.
func scaleValues(runs map[string]*Report) (values []float64, noted int) {
	big, small := runs[tablePadBig], runs[tablePadSmall]
	if big == nil || small == nil {
		return nil, 0
	}
	for i := range min(len(big.Rounds), len(small.Rounds)) {
		b, okB := phase(big.Rounds[i].Phases, "totp")
		s, okS := phase(small.Rounds[i].Phases, "totp")
		if !okB || !okS || s.PerSecond <= 0 {
			continue
		}
		values = append(values, round(b.PerSecond/s.PerSecond, 3))
		if idleNote(b, s) != "" {
			noted++
		}
	}
	return values, noted
}

func tableRows(padSmall, padBig int) []tableRow {
	row := func(label, run, name string, b bar) tableRow {
		return tableRow{label: label, run: run, bar: b, value: ratioValues(run, name)}
	}
	return []tableRow{
		row("POST /api/v1/auth/check ÷ hello (SQLite)", tableHello64, ratioTOTPHello, bar{"≥", 0.40}),
		row("  its p99 (ms)", tableHello64, figureTOTPP99, bar{"≤", 20}),
		row("POST /api/v1/auth/check ÷ hello (SQLite)", tableHello16, ratioTOTPHello, bar{"≥", 0.35}),
		row("  its p99 (ms)", tableHello16, figureTOTPP99, bar{"≤", 10}),
		row("POST /api/v1/auth/check ÷ hello (PostgreSQL)", tablePostgres64, ratioTOTPHello, bar{"≥", 0.15}),
		row("server CPU per check (µs), SQLite", tableHello64, figureCheckCPU, bar{"≤", 100}),
		row("  hello's CPU per request (µs)", tableHello64, figureHelloCPU, bar{}),
		row("checks under a password flood ÷ checks alone", tableFlood, ratioFlood, bar{"≥", 0.5}),
		row("  their p99 under the flood (ms)", tableFlood, figureFloodP99, bar{"<", 50}),
		row("  server peak RSS, children included (MiB)", tableFlood, figurePeakRSS, bar{"<", 512}),
		row("password logins ÷ (cores ÷ one hash)", tablePassword, ratioPassword, bar{"≥", 0.9}),
		{label: fmt.Sprintf("checks/s, %s users ÷ %s users", users(padBig), users(padSmall)), run: tablePadBig, bar: bar{"≥", 0.95}, value: scaleValues},
	}
}

// users writes a padding count the way issue 14 does: 1.02 M, 60 k.
func users(n int) string {
	switch {
	case n >= 1_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + " M"
	case n >= 1000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + " k"
	}
	return strconv.Itoa(n)
}

func runTable(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("countersign-load table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	padSmall := fs.Int("pad-small", 60_000, "users added to the small table (for the label)")
	padBig := fs.Int("pad-big", 1_020_000, "users added to the big table (for the label)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: countersign-load table [flags] DIR\n\nPrints issue 14's table from the -json-file reports in DIR (hello64.json, hello16.json, postgres64.json, password.json, flood.json, pad-small.json, pad-big.json).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("table: name one directory")
	}
	runs, err := readRuns(fs.Arg(0))
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return fmt.Errorf("table: no reports in %s", fs.Arg(0))
	}
	return printTable(stdout, runs, tableRows(*padSmall, *padBig))
}

// readRuns reads the reports present in dir, by run name.
func readRuns(dir string) (map[string]*Report, error) {
	runs := map[string]*Report{}
	for _, name := range []string{tableHello64, tableHello16, tablePostgres64, tablePassword, tableFlood, tablePadSmall, tablePadBig} {
		data, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rep Report
		if err := json.Unmarshal(data, &rep); err != nil {
			return nil, fmt.Errorf("table: %s.json: %w", name, err)
		}
		runs[name] = &rep
	}
	return runs, nil
}

func printTable(w io.Writer, runs map[string]*Report, rows []tableRow) error {
	fmt.Fprintln(w, "issue 14's table: min / median / max over the rounds; the bar is judged on the median")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "row\tclients\trounds\tmin\tmedian\tmax\tbar\tmeets\tnote")
	for _, r := range rows {
		rep := runs[r.run]
		if rep == nil {
			continue
		}
		values, noted := r.value(runs)
		if len(values) == 0 {
			fmt.Fprintf(tw, "%s\t%d\t0\t-\t-\t-\t%s\t\tnot measured in %s.json\n", r.label, rep.Concurrency, r.bar, r.run)
			continue
		}
		mid := median(values)
		meets := ""
		if r.bar.op != "" {
			meets = "no"
			if r.bar.meets(mid) {
				meets = "yes"
			}
		}
		note := ""
		if noted > 0 {
			note = fmt.Sprintf("user-limited in %d of %d rounds", noted, len(values))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.label, rep.Concurrency, len(values),
			number(slices.Min(values)), number(mid), number(slices.Max(values)), r.bar, meets, note)
	}
	return tw.Flush()
}
