package pushproto

import (
	"errors"
	"testing"
)

// The expectations follow Dart's Uri.parse(raw).toString() as the app uses it
// (push_default_request.dart: uri: Uri.parse(url), signedData '$uri').
func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://mfa.example.com/ttype/push", "https://mfa.example.com/ttype/push"},
		{"HTTPS://MFA.Example.COM/Push/V1", "https://mfa.example.com/Push/V1"},
		{"https://h:443/p", "https://h/p"},
		{"http://h:80/p", "http://h/p"},
		{"http://h:443/p", "http://h:443/p"},
		{"https://h:8443/p", "https://h:8443/p"},
		{"https://h:/p", "https://h/p"},
		{"https://h", "https://h"},
		{"https://h/", "https://h/"},
		{"https://h?x=1", "https://h?x=1"},
		{"https://h/p?", "https://h/p?"},
		{"https://h/a/./b/../c", "https://h/a/c"},
		{"https://h/a/..", "https://h/"},
		{"https://h/a/.", "https://h/a/"},
		{"https://h/../../a", "https://h/a"},
		{"https://h/a/%2E%2E/b", "https://h/b"},
		{"https://h/%7euser/%2fx%41", "https://h/~user/%2FxA"},
		{"https://h/%2F%3a", "https://h/%2F%3A"},
		{"https://h/a b", "https://h/a%20b"},
		{"https://h/ä", "https://h/%C3%A4"},
		{"https://h/50%", "https://h/50%25"},
		{"https://h/5%zz", "https://h/5%25zz"},
		{"https://h/p|q{}", "https://h/p%7Cq%7B%7D"},
		{"https://h/p;x=1,y:z@w!$&'()*+", "https://h/p;x=1,y:z@w!$&'()*+"},
		{"https://h/p?a=%2f&b=c d", "https://h/p?a=%2F&b=c%20d"},
		{"https://h/p?x=/?y", "https://h/p?x=/?y"},
		{"https://EX%41MPLE.com/", "https://example.com/"},
		{"https://ex%c3%a4mple.com/", "https://ex%C3%A4mple.com/"},
		{"https://exämple.com/", "https://ex%C3%A4mple.com/"},
		{"https://[::1]:8443/p", "https://[::1]:8443/p"},
		{"https://[FE80::1]:443/", "https://[fe80::1]/"},
		{"http://127.0.0.1:8080/push", "http://127.0.0.1:8080/push"},
		{"https://h/[x]", "https://h/%5Bx%5D"},
		{"https://h/p?a[]=1&b=@:", "https://h/p?a%5B%5D=1&b=@:"},
	} {
		got, err := NormalizeURL(tc.in)
		if err != nil {
			t.Errorf("NormalizeURL(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Dart's normal form is a fixed point.
		if again, err := NormalizeURL(got); err != nil || again != got {
			t.Errorf("NormalizeURL(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
	for _, in := range []string{
		"", "mfa.example.com/push", "ftp://h/", "mailto:a@b", "https:/h/p", "https:///p",
		"https://u:p@h/", "https://h/#frag", "https://h[x]/", "https://h:+80/", "https://h:0443/p", "https://h:08443/p",
		"https://h:99999/", "https://h:x/", "https://h:1:2/", "https://[::1/", "https://[1.2.3.4]/",
		"https://[fe80::1%25eth0]/", "https://h/a\\b", "https://h/a\tb", "https://h/\xff",
	} {
		if got, err := NormalizeURL(in); !errors.Is(err, ErrURL) {
			t.Errorf("NormalizeURL(%q) = %q, want an error", in, got)
		}
	}
}
