package validate

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultLoginIDMaxLen is the longest login ID C11 allows.
const DefaultLoginIDMaxLen = 15

// LoginID checks a login ID: required, at most maxLen characters
// (DefaultLoginIDMaxLen when maxLen <= 0), ASCII letters, digits and
// . _ - @ only. The value keeps its case for display; compare and store
// uniqueness through NormalizeLoginID.
func LoginID(errs *Errors, field, v string, maxLen int) string {
	if maxLen <= 0 {
		maxLen = DefaultLoginIDMaxLen
	}
	v = strings.TrimSpace(v)
	if v == "" {
		required(errs, field)
		return v
	}
	l := Label(field)
	if utf8.RuneCountInString(v) > maxLen {
		errs.AddLimit(field, "too_long", fmt.Sprintf("%s must be at most %d characters. Enter a shorter %s.", l, maxLen, l), maxLen)
	}
	// ASCII only: look-alike letters from other scripts would let two login
	// IDs that read the same belong to different people.
	for _, r := range v {
		if !(r < utf8.RuneSelf && (isASCIIAlnum(byte(r)) || strings.ContainsRune("._-@", r))) {
			errs.Add(field, "invalid_chars", l+" may contain only letters, digits and . _ - @, with no spaces.")
			break
		}
	}
	return v
}

// NormalizeLoginID returns the form used to compare login IDs, which C11
// makes case-insensitive.
func NormalizeLoginID(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// Email checks an email address: at most 255 characters, exactly one @, a
// dot inside the domain, and no spaces or control characters. It does not
// try to implement RFC 5322; delivery is the real test.
func Email(errs *Errors, field, v string, req bool) string {
	v = strings.TrimSpace(v)
	if v == "" {
		if req {
			required(errs, field)
		}
		return v
	}
	l := Label(field)
	if utf8.RuneCountInString(v) > 255 {
		errs.AddLimit(field, "too_long", l+" must be at most 255 characters.", 255)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		errs.Add(field, "invalid_chars", l+" must not contain spaces. Enter an address like name@example.com.")
	}
	local, domain, _ := strings.Cut(v, "@")
	if strings.Count(v, "@") != 1 || local == "" || !validDomain(domain) {
		errs.Add(field, "invalid_format", "Enter "+l+" as an address like name@example.com, with one @ and a dot in the part after it.")
	}
	return v
}

func validDomain(d string) bool {
	return strings.Contains(d, ".") && !strings.HasPrefix(d, ".") && !strings.HasSuffix(d, ".") && !strings.Contains(d, "..")
}

// NormalizeEmail returns the form used to compare email addresses for
// uniqueness. Lower-casing the local part is technically lossy but no
// mainstream provider treats case there as significant.
func NormalizeEmail(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// Phone checks a North American phone number and returns its 10 digits.
// Spaces, dashes, dots and parentheses are ignored, and a leading 1 or +1
// country code is dropped only when it makes 11 digits, so a 10-digit number
// that happens to start with 1 is not shortened.
func Phone(errs *Errors, field, v string, req bool) string {
	v = strings.TrimSpace(v)
	if v == "" {
		if req {
			required(errs, field)
		}
		return ""
	}
	l := Label(field)
	plus := strings.HasPrefix(v, "+")
	digits := strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -.()", r) {
			return -1
		}
		return r
	}, strings.TrimPrefix(v, "+"))
	if !isASCIIDigits(digits) {
		errs.Add(field, "invalid_chars", l+" may contain only digits, spaces, dashes, dots and parentheses.")
		return ""
	}
	if len(digits) == 11 && digits[0] == '1' {
		digits = digits[1:]
	} else if plus {
		// "+" announces a country code, and only +1 is supported.
		digits = ""
	}
	if len(digits) != 10 {
		errs.Add(field, "invalid_length", l+" must be a 10-digit number, like 555-123-4567.")
		return ""
	}
	return digits
}

// Extension checks an optional phone extension of 1 to 10 digits.
func Extension(errs *Errors, field, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	l := Label(field)
	if !isASCIIDigits(v) {
		errs.Add(field, "invalid_chars", l+" may contain only digits.")
		return ""
	}
	if len(v) > 10 {
		errs.AddLimit(field, "too_long", l+" must be at most 10 digits.", 10)
		return ""
	}
	return v
}

// SSN checks a US Social Security number, typed either as 9 digits or as
// 123-45-6789, and returns the 9 digits.
func SSN(errs *Errors, field, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		required(errs, field)
		return ""
	}
	digits := v
	if len(v) == 11 && v[3] == '-' && v[6] == '-' {
		digits = v[:3] + v[4:6] + v[7:]
	}
	if len(digits) != 9 || !isASCIIDigits(digits) {
		errs.Add(field, "invalid_format", Label(field)+" must be exactly 9 digits, like 123-45-6789 or 123456789.")
		return ""
	}
	return digits
}

// earliestBirth excludes dates that are certainly typing mistakes.
var earliestBirth = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// DateOfBirth checks a date of birth typed as YYYY-MM-DD or M/D/YYYY. It
// must exist on the calendar, lie strictly before today (in now's time
// zone) and after 1900-01-01. It returns midnight UTC of that date, or the
// zero time when invalid.
func DateOfBirth(errs *Errors, field, v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		required(errs, field)
		return time.Time{}
	}
	l := Label(field)
	y, m, d, ok := parseDate(v)
	if !ok {
		errs.Add(field, "invalid_format", "Enter "+l+" as YYYY-MM-DD or MM/DD/YYYY, like 1985-07-24 or 7/24/1985.")
		return time.Time{}
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d {
		errs.Add(field, "invalid_date", l+" is not a real date. Check the month and day.")
		return time.Time{}
	}
	ny, nm, nd := now.Date()
	if !t.Before(time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC)) {
		errs.Add(field, "not_in_past", l+" must be a date in the past.")
		return time.Time{}
	}
	if !t.After(earliestBirth) {
		errs.Add(field, "too_old", l+" must be after January 1, 1900.")
		return time.Time{}
	}
	return t
}

func parseDate(v string) (y, m, d int, ok bool) {
	var ys, ms, ds string
	if parts := strings.Split(v, "-"); len(parts) == 3 {
		ys, ms, ds = parts[0], parts[1], parts[2]
		if len(ms) != 2 || len(ds) != 2 {
			return 0, 0, 0, false
		}
	} else if parts := strings.Split(v, "/"); len(parts) == 3 {
		ms, ds, ys = parts[0], parts[1], parts[2]
		if len(ms) < 1 || len(ms) > 2 || len(ds) < 1 || len(ds) > 2 {
			return 0, 0, 0, false
		}
	} else {
		return 0, 0, 0, false
	}
	if len(ys) != 4 || !isASCIIDigits(ys) || !isASCIIDigits(ms) || !isASCIIDigits(ds) {
		return 0, 0, 0, false
	}
	y, _ = strconv.Atoi(ys)
	m, _ = strconv.Atoi(ms)
	d, _ = strconv.Atoi(ds)
	return y, m, d, true
}

// Code checks a one-time code of exactly 6 ASCII digits.
func Code(errs *Errors, field, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		required(errs, field)
		return ""
	}
	if len(v) != 6 || !isASCIIDigits(v) {
		errs.Add(field, "invalid_format", Label(field)+" must be exactly 6 digits.")
		return ""
	}
	return v
}

// Text checks free text: trimmed, at most maxLen characters (no limit when
// maxLen <= 0), and no control characters other than newline and tab. Browsers
// submit textarea line breaks as CRLF, so those become plain newlines first.
func Text(errs *Errors, field, v string, req bool, maxLen int) string {
	v = strings.TrimSpace(strings.ReplaceAll(v, "\r\n", "\n"))
	if v == "" {
		if req {
			required(errs, field)
		}
		return v
	}
	l := Label(field)
	if maxLen > 0 && utf8.RuneCountInString(v) > maxLen {
		errs.AddLimit(field, "too_long", fmt.Sprintf("%s must be at most %d characters. Shorten it.", l, maxLen), maxLen)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\t'
	}) {
		errs.Add(field, "invalid_chars", l+" contains characters that are not allowed. Remove any special control characters.")
	}
	return v
}

func isASCIIAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}
