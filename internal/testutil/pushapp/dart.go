package pushapp

import (
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// dartTimestamp formats t as Dart's DateTime.toUtc().toIso8601String() does:
// milliseconds always, microseconds only when they are not zero, then "Z".
func dartTimestamp(t time.Time) string {
	t = t.UTC()
	us := t.Nanosecond() / 1000
	ms, rest := us/1000, us%1000
	s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03d", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), ms)
	if rest != 0 {
		s += fmt.Sprintf("%03d", rest)
	}
	return s + "Z"
}

func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// queryComponent encodes s as Dart's Uri.encodeQueryComponent: RFC 3986
// unreserved characters stay, a space becomes '+', everything else %XX.
func queryComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUnreserved(c):
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// kv is one form field or query parameter; order matters to the app.
type kv struct{ k, v string }

func encodeForm(fields []kv) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = queryComponent(f.k) + "=" + queryComponent(f.v)
	}
	return strings.Join(parts, "&")
}

// b32 encodes as the app sends signatures: RFC 4648, upper case, padded.
func b32(b []byte) string { return base32.StdEncoding.EncodeToString(b) }

// b32decode decodes as the app does: missing padding is re-added, lower
// case is refused.
func b32decode(s string) ([]byte, error) {
	if strings.ToUpper(s) != s {
		return nil, errors.New("base32: lower case is not accepted")
	}
	if m := len(s) % 8; m != 0 && !strings.Contains(s, "=") {
		s += strings.Repeat("=", 8-m)
	}
	return base32.StdEncoding.DecodeString(s)
}

// dartBase64Decode decodes as Dart's base64.decode: both alphabets, padding
// mandatory, no whitespace.
func dartBase64Decode(s string) ([]byte, error) {
	if len(s)%4 != 0 {
		return nil, fmt.Errorf("base64: invalid length %d, must be a multiple of four (padding is mandatory)", len(s))
	}
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	return base64.StdEncoding.Strict().DecodeString(s)
}

// canonicalJSON writes v (bool, string, []any, map[string]any) as RFC 8785
// JSON the way the app's canonicalizer does; anything else is an error.
func canonicalJSON(v any) (string, error) {
	var b strings.Builder
	if err := writeCanonical(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeCanonical(b *strings.Builder, v any) error {
	switch v := v.(type) {
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writeCanonicalString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case []string:
		l := make([]any, len(v))
		for i := range v {
			l[i] = v[i]
		}
		return writeCanonical(b, l)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		// Sorted by UTF-16 code units, as Dart compares strings.
		sort.Slice(keys, func(i, j int) bool { return utf16Less(keys[i], keys[j]) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonicalString(b, k)
			b.WriteByte(':')
			if err := writeCanonical(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("cannot canonicalize %T: only booleans, strings, lists and objects are allowed", v)
	}
	return nil
}

func utf16Less(a, b string) bool {
	x, y := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return len(x) < len(y)
}

func writeCanonicalString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// dartURI is a URL as Dart's Uri.parse holds it; String gives what
// Uri.parse(s).toString() prints.
type dartURI struct {
	scheme, userinfo, host, port, path, query, fragment string
	hasAuthority, hasQuery, hasFragment                 bool
}

// parseDartURI parses an absolute URL and normalises it as Dart's Uri.parse:
// lower-case scheme and host, default port dropped, dot segments removed,
// percent-escapes normalised (unreserved decoded, hex upper case, characters
// not allowed escaped).
func parseDartURI(s string) (*dartURI, error) {
	u := &dartURI{}
	i := strings.IndexAny(s, ":/?#")
	if i <= 0 || s[i] != ':' {
		return nil, fmt.Errorf("url %q has no scheme", s)
	}
	u.scheme = strings.ToLower(s[:i])
	for j := 0; j < len(u.scheme); j++ {
		c := u.scheme[j]
		if !(c >= 'a' && c <= 'z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return nil, fmt.Errorf("url %q has an invalid scheme", s)
		}
	}
	rest := s[i+1:]
	if k := strings.IndexByte(rest, '#'); k >= 0 {
		u.fragment, u.hasFragment = normEscapes(rest[k+1:], ":@/?"), true
		rest = rest[:k]
	}
	if k := strings.IndexByte(rest, '?'); k >= 0 {
		u.query, u.hasQuery = normEscapes(rest[k+1:], ":@/?"), true
		rest = rest[:k]
	}
	if strings.HasPrefix(rest, "//") {
		u.hasAuthority = true
		auth := rest[2:]
		if k := strings.IndexByte(auth, '/'); k >= 0 {
			auth, rest = auth[:k], auth[k:]
		} else {
			rest = ""
		}
		if k := strings.LastIndexByte(auth, '@'); k >= 0 {
			u.userinfo = normEscapes(auth[:k], ":")
			auth = auth[k+1:]
		}
		if strings.HasPrefix(auth, "[") {
			k := strings.IndexByte(auth, ']')
			if k < 0 {
				return nil, fmt.Errorf("url %q has an unterminated IPv6 host", s)
			}
			u.host, auth = strings.ToLower(auth[:k+1]), auth[k+1:]
			if auth != "" && auth[0] != ':' {
				return nil, fmt.Errorf("url %q has junk after the host", s)
			}
			if auth != "" {
				u.port = auth[1:]
			}
		} else {
			if k := strings.LastIndexByte(auth, ':'); k >= 0 {
				auth, u.port = auth[:k], auth[k+1:]
			}
			u.host = strings.ToLower(normEscapes(auth, ""))
		}
		if u.port != "" {
			p, err := strconv.Atoi(u.port)
			if err != nil || p < 0 || strings.ContainsAny(u.port, "+-") {
				return nil, fmt.Errorf("url %q has an invalid port", s)
			}
			u.port = strconv.Itoa(p)
			if u.scheme == "http" && p == 80 || u.scheme == "https" && p == 443 {
				u.port = ""
			}
		}
	}
	u.path = removeDotSegments(normEscapes(rest, "/:@"))
	return u, nil
}

func (u *dartURI) String() string {
	var b strings.Builder
	b.WriteString(u.scheme + ":")
	if u.hasAuthority {
		b.WriteString("//")
		if u.userinfo != "" {
			b.WriteString(u.userinfo + "@")
		}
		b.WriteString(u.host)
		if u.port != "" {
			b.WriteString(":" + u.port)
		}
	}
	b.WriteString(u.path)
	if u.hasQuery {
		b.WriteString("?" + u.query)
	}
	if u.hasFragment {
		b.WriteString("#" + u.fragment)
	}
	return b.String()
}

// queryPairs splits the query into raw key/value pairs (already encoded).
func (u *dartURI) queryPairs() []string {
	if u.query == "" {
		return nil
	}
	return strings.Split(u.query, "&")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isSubDelim(c byte) bool { return strings.IndexByte("!$&'()*+,;=", c) >= 0 }

// normEscapes normalises percent-escapes: escapes of unreserved characters
// are decoded, other escapes get upper-case hex, and characters outside
// unreserved, sub-delims and extra are escaped.
func normEscapes(s, extra string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if isUnreserved(byte(v)) {
				b.WriteByte(byte(v))
			} else {
				b.WriteString("%" + strings.ToUpper(s[i+1:i+3]))
			}
			i += 2
			continue
		}
		if isUnreserved(c) || isSubDelim(c) || strings.IndexByte(extra, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// removeDotSegments is RFC 3986 section 5.2.4.
func removeDotSegments(in string) string {
	var out []string
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			j := strings.IndexByte(in[1:], '/')
			if j < 0 {
				out, in = append(out, in), ""
			} else {
				out, in = append(out, in[:j+1]), in[j+1:]
			}
		}
	}
	return strings.Join(out, "")
}
