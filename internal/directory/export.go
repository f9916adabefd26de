package directory

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// Audit export for investigators (G5): every event a filter matches,
// newest first, as CSV or as JSON lines, read a page at a time.

// Export formats.
const (
	ExportCSV   = "csv"
	ExportJSONL = "jsonl"
)

// ExportContentType is the media type of an export in format.
func ExportContentType(format string) string {
	if format == ExportJSONL {
		return "application/jsonl; charset=utf-8"
	}
	return "text/csv; charset=utf-8"
}

// MaxExport bounds one export; narrow the time range for more.
const MaxExport = 100_000

// ExportAudit writes the events f matches (f.Limit and f.BeforeID are the
// export's own) to w in format, at most MaxExport of them, and returns how
// many it wrote. Nothing is written before the first page was read.
func (s *Service) ExportAudit(ctx context.Context, f store.AuditFilter, format string, w io.Writer) (int, error) {
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	n := 0
	f.Limit, f.BeforeID = 1000, 0
	for n < MaxExport {
		events, err := s.Audit(ctx, f)
		if err != nil {
			return n, err
		}
		if format == ExportCSV && cw == nil {
			// Written once the first page is read: a database that cannot
			// be read answers an error, not an empty file.
			cw = csv.NewWriter(w)
			if err := cw.Write([]string{"id", "time", "event", "outcome", "user_id", "application_id", "actor", "ip", "detail"}); err != nil {
				return 0, err
			}
		}
		for i := range events {
			b := ToAuditBody(&events[i])
			if cw != nil {
				err = cw.Write([]string{strconv.FormatInt(b.ID, 10), b.Time.UTC().Format(time.RFC3339Nano), cell(b.Event), cell(b.Outcome),
					cell(b.UserID), cell(b.ApplicationID), cell(b.Actor), cell(b.IP), cell(string(b.Detail))})
			} else {
				err = enc.Encode(b)
			}
			if err != nil {
				return n, err
			}
			n++
		}
		if len(events) < f.Limit {
			break
		}
		f.BeforeID = events[len(events)-1].ID
	}
	if cw != nil {
		cw.Flush()
		return n, cw.Error()
	}
	return n, nil
}

// ExportAuditTo is ExportAudit for a download: begin runs once, just before
// the first byte (or at the end of an export with none), so a front door
// sets the download's headers only when it answers with the file; an error
// before then is the answer instead. started reports whether begin ran: an
// error after it ended the file early.
func (s *Service) ExportAuditTo(ctx context.Context, f store.AuditFilter, format string, w io.Writer, begin func()) (started bool, err error) {
	fw := &firstWrite{w: w, begin: begin}
	if _, err := s.ExportAudit(ctx, f, format, fw); err != nil {
		return fw.started, err
	}
	if !fw.started {
		begin()
	}
	return true, nil
}

// firstWrite runs begin before the first byte it passes on.
type firstWrite struct {
	w       io.Writer
	begin   func()
	started bool
}

func (f *firstWrite) Write(b []byte) (int, error) {
	if !f.started {
		f.started = true
		f.begin()
	}
	return f.w.Write(b)
}

// cell keeps a spreadsheet from reading a value as a formula: one that
// starts with =, +, -, @ or a control character gets a leading quote.
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
