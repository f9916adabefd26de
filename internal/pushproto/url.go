package pushproto

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrURL is returned (wrapped) by NormalizeURL for a URL it does not accept.
var ErrURL = errors.New("pushproto: unusable push URL")

func urlErr(msg string) error { return fmt.Errorf("%w: %s", ErrURL, msg) }

// NormalizeURL returns raw as the app prints it after Dart's Uri.parse, which
// is the form the app puts into the signed string it rebuilds from a challenge
// (and the address it answers to). Challenges must carry and sign this form.
//
// Handled, as Dart's Uri does:
//   - the scheme (http or https only) in lower case;
//   - the host in lower case; an IPv6 literal in brackets is checked and
//     lower-cased as written (not compressed);
//   - the default port (80 for http, 443 for https) and an empty port dropped;
//   - an empty path stays empty ("https://h" stays without "/");
//   - dot segments ("." and "..") removed from the path;
//   - percent-escapes: an escape of an unreserved character (A-Z a-z 0-9 - . _ ~)
//     decoded (lower-cased in the host), lower-case hex digits upper-cased, a
//     '%' not followed by two hex digits written as "%25";
//   - characters URIs do not allow there (space, " < > ^ ` { | }, '[' and ']'
//     outside the host, non-ASCII) as upper-case percent-escapes of their UTF-8
//     bytes; in the host the sub-delimiters (!$&'()*+,;=) stay, in the path
//     also ':' '@' and '/', in the query also '/' and '?'.
//
// Refused, because they are useless for a push endpoint or Dart's reading of
// them is not worth relying on: other schemes, a missing host, user info,
// fragments, a backslash (Dart turns it into '/' in the path), control
// characters, invalid UTF-8, a port that is not decimal digits, has a leading
// zero or is above 65535 (Dart's fast path for already-normal URIs may keep a
// port like ":0443" as written), general delimiters (: / ? # [ ] @) in a host
// name.
//
// The rules follow the Dart SDK's sdk/lib/core/uri.dart (_Uri.notSimple,
// _makeScheme, _makeHost, _normalizeRegName, _makePort, _makePath,
// _removeDotSegments, _makeQuery, _normalize, _normalizeEscape and the
// character tables _regNameTable, _pathCharOrSlashTable, _queryCharTable).
func NormalizeURL(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", urlErr("not UTF-8")
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "", urlErr("control character or backslash")
		}
	}
	colon := strings.IndexByte(raw, ':')
	if colon < 0 {
		return "", urlErr("no scheme")
	}
	scheme := strings.ToLower(raw[:colon])
	var defaultPort int
	switch scheme {
	case "http":
		defaultPort = 80
	case "https":
		defaultPort = 443
	default:
		return "", urlErr("scheme is not http or https")
	}
	rest := raw[colon+1:]
	if !strings.HasPrefix(rest, "//") {
		return "", urlErr("no host")
	}
	rest = rest[2:]
	if strings.IndexByte(rest, '#') >= 0 {
		return "", urlErr("fragment")
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	path, query, hasQuery := rest, "", false
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		path, query, hasQuery = rest[:q], rest[q+1:], true
	}
	if strings.IndexByte(authority, '@') >= 0 {
		return "", urlErr("user info")
	}

	host, port := authority, ""
	hasPort := false
	if strings.HasPrefix(authority, "[") {
		rb := strings.IndexByte(authority, ']')
		if rb < 0 {
			return "", urlErr("unterminated IPv6 host")
		}
		host = authority[:rb+1]
		after := authority[rb+1:]
		if after != "" {
			if after[0] != ':' {
				return "", urlErr("bad authority")
			}
			port, hasPort = after[1:], true
		}
		addr, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", urlErr("bad IPv6 host")
		}
		host = strings.ToLower(host)
	} else {
		if c := strings.LastIndexByte(authority, ':'); c >= 0 {
			host, port, hasPort = authority[:c], authority[c+1:], true
		}
		var err error
		if host, err = normalizeComponent(host, regNameChar, true); err != nil {
			return "", err
		}
	}
	if host == "" {
		return "", urlErr("no host")
	}

	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	if hasPort && port != "" {
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return "", urlErr("bad port")
			}
		}
		n, err := strconv.Atoi(port)
		if err != nil || n > 65535 || (port[0] == '0' && port != "0") {
			return "", urlErr("bad port")
		}
		if n != defaultPort {
			b.WriteString(":" + strconv.Itoa(n))
		}
	}
	p, err := normalizeComponent(path, pathChar, false)
	if err != nil {
		return "", err
	}
	b.WriteString(removeDotSegments(p))
	if hasQuery {
		q, err := normalizeComponent(query, queryChar, false)
		if err != nil {
			return "", err
		}
		b.WriteString("?" + q)
	}
	return b.String(), nil
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isSubDelim(c byte) bool { return strings.IndexByte("!$&'()*+,;=", c) >= 0 }

func regNameChar(c byte) bool { return isUnreserved(c) || isSubDelim(c) }

func pathChar(c byte) bool {
	return isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@' || c == '/'
}

func queryChar(c byte) bool { return pathChar(c) || c == '?' }

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// normalizeComponent applies Dart's percent-escape normalisation to one URI
// component; lower also lower-cases letters (the host).
func normalizeComponent(s string, allowed func(byte) bool, lower bool) (string, error) {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80 && allowed(c):
			if lower && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		case c == '%':
			if i+2 >= len(s) || hexVal(s[i+1]) < 0 || hexVal(s[i+2]) < 0 {
				b.WriteString("%25")
				continue
			}
			v := byte(hexVal(s[i+1])<<4 | hexVal(s[i+2]))
			if isUnreserved(v) {
				if lower && 'A' <= v && v <= 'Z' {
					v += 'a' - 'A'
				}
				b.WriteByte(v)
			} else {
				b.WriteString(strings.ToUpper(s[i : i+3]))
			}
			i += 2
		case lower && strings.IndexByte("#/:?@[]", c) >= 0:
			// Dart refuses general delimiters in a host (_normalizeRegName);
			// in the path and query it escapes them (escapeDelimiters).
			return "", urlErr("character " + strconv.QuoteRune(rune(c)) + " not allowed in the host")
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String(), nil
}

// removeDotSegments removes "." and ".." segments from an absolute path the
// way Dart's Uri does (RFC 3986 section 5.2.4).
func removeDotSegments(path string) string {
	if !strings.HasPrefix(path, ".") && !strings.Contains(path, "/.") {
		return path
	}
	var out []string
	appendSlash := false
	for _, seg := range strings.Split(path, "/") {
		appendSlash = false
		switch seg {
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
				if len(out) == 0 {
					out = append(out, "")
				}
			}
			appendSlash = true
		case ".":
			appendSlash = true
		default:
			out = append(out, seg)
		}
	}
	if appendSlash {
		out = append(out, "")
	}
	return strings.Join(out, "/")
}
