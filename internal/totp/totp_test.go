package totp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the shared secret of RFC 4226 Appendix D and RFC 6238
// Appendix B (SHA-1).
var rfcSecret = []byte("12345678901234567890")

// requireTool returns the path of an external reference tool. In CI a missing
// tool fails the test, so an incomplete image cannot silently drop the
// cross-checks against an independent implementation.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", name, err)
	}
	t.Skipf("%s not installed (apt-get install oathtool zbar-tools); skipping cross-check", name)
	return ""
}

func TestHOTPRFC4226(t *testing.T) {
	want := []string{
		"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489",
	}
	for counter, code := range want {
		t.Run(strconv.Itoa(counter), func(t *testing.T) {
			if got := HOTP(rfcSecret, uint64(counter), 6); got != code {
				t.Errorf("HOTP(counter %d) = %s, want %s", counter, got, code)
			}
		})
	}
}

func TestTOTPRFC6238(t *testing.T) {
	tests := []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(tt.unix, 10), func(t *testing.T) {
			step := Step(time.Unix(tt.unix, 0))
			if got := HOTP(rfcSecret, uint64(step), 8); got != tt.want {
				t.Errorf("HOTP at %d = %s, want %s", tt.unix, got, tt.want)
			}
			if got, want := CodeAt(rfcSecret, step), tt.want[2:]; got != want {
				t.Errorf("CodeAt at %d = %s, want %s", tt.unix, got, want)
			}
		})
	}
}

func TestStep(t *testing.T) {
	tests := []struct {
		unix int64
		want int64
	}{
		{0, 0},
		{29, 0},
		{30, 1},
		{59, 1},
		{-1, -1},
		{-30, -1},
		{-31, -2},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(tt.unix, 10), func(t *testing.T) {
			if got := Step(time.Unix(tt.unix, 0)); got != tt.want {
				t.Errorf("Step(%d) = %d, want %d", tt.unix, got, tt.want)
			}
		})
	}
}

func TestCodeAtMatchesOathtool(t *testing.T) {
	oathtool := requireTool(t, "oathtool")

	random, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"rfc":    rfcSecret,
		"random": random,
		"zeros":  make([]byte, SecretSize),
		"short":  []byte("0123456789"),
	}
	times := []int64{0, 59, 1111111109, 1234567890, 1700000000, 2000000000, time.Now().Unix()}
	for name, secret := range secrets {
		for _, unix := range times {
			t.Run(name+"/"+strconv.FormatInt(unix, 10), func(t *testing.T) {
				// The key is a throwaway test value, so passing it on the
				// command line is harmless here.
				out, err := exec.CommandContext(t.Context(), oathtool,
					"--totp", "-b", EncodeSecret(secret), "-N", "@"+strconv.FormatInt(unix, 10)).Output()
				if err != nil {
					t.Fatalf("oathtool: %v", err)
				}
				want := strings.TrimSpace(string(out))
				if got := CodeAt(secret, Step(time.Unix(unix, 0))); got != want {
					t.Errorf("CodeAt = %s, oathtool says %s", got, want)
				}
			})
		}
	}
}

func TestQRPNGDecodes(t *testing.T) {
	zbarimg := requireTool(t, "zbarimg")

	secret, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ issuer, account string }{
		{"Countersign", "alice@example.com"},
		{"Acme Corp: HR", "bob smith"},
		{"Bank & Trust", "carol+mfa@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.issuer, func(t *testing.T) {
			uri := URI(tt.issuer, tt.account, secret)
			png, err := QRPNG(uri, 256)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "qr.png")
			if err := os.WriteFile(file, png, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), zbarimg, "--raw", "-q", file).Output()
			if err != nil {
				t.Fatalf("zbarimg: %v", err)
			}
			if got := strings.TrimRight(string(out), "\n"); got != uri {
				t.Errorf("QR decodes to %q, want %q", got, uri)
			}
		})
	}
}

func TestURI(t *testing.T) {
	secret := rfcSecret
	enc := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tests := []struct {
		name, issuer, account, want string
	}{
		{
			"plain", "Countersign", "alice@example.com",
			"otpauth://totp/Countersign:alice@example.com?secret=" + enc +
				"&issuer=Countersign&algorithm=SHA1&digits=6&period=30",
		},
		{
			"spaces and colons", "Acme Corp: HR", "bob smith",
			"otpauth://totp/Acme%20Corp%3A%20HR:bob%20smith?secret=" + enc +
				"&issuer=Acme%20Corp%3A%20HR&algorithm=SHA1&digits=6&period=30",
		},
		{
			"reserved characters", "A&B", "x/y?z#",
			"otpauth://totp/A&B:x%2Fy%3Fz%23?secret=" + enc +
				"&issuer=A%26B&algorithm=SHA1&digits=6&period=30",
		},
		{
			"no issuer", "", "alice",
			"otpauth://totp/alice?secret=" + enc + "&algorithm=SHA1&digits=6&period=30",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := URI(tt.issuer, tt.account, secret); got != tt.want {
				t.Errorf("URI = %s\nwant  %s", got, tt.want)
			}
		})
	}
}

func TestEncodeAndFormatSecret(t *testing.T) {
	if got, want := EncodeSecret(rfcSecret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; got != want {
		t.Errorf("EncodeSecret = %s, want %s", got, want)
	}
	if got, want := FormatSecret(rfcSecret), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"; got != want {
		t.Errorf("FormatSecret = %s, want %s", got, want)
	}
	// 10 bytes encode to 16 characters; 11 bytes to 18, which leaves a short last group.
	if got, want := FormatSecret([]byte("0123456789a")), "GAYT EMZU GU3D OOBZ ME"; got != want {
		t.Errorf("FormatSecret(11 bytes) = %s, want %s", got, want)
	}
}

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != SecretSize || len(b) != SecretSize {
		t.Fatalf("secret lengths %d, %d, want %d", len(a), len(b), SecretSize)
	}
	if bytes.Equal(a, b) {
		t.Error("two generated secrets are equal")
	}
}

func TestMatch(t *testing.T) {
	secret := rfcSecret
	other := []byte("abcdefghijabcdefghij")
	now := time.Unix(1700000000, 0)
	cur := Step(now)
	code := func(s int64) string { return CodeAt(secret, s) }

	tests := []struct {
		name     string
		secret   []byte
		code     string
		drift    int
		after    int64
		wantStep int64
		wantOK   bool
	}{
		{"current step", secret, code(cur), 1, -1, cur, true},
		{"previous step within drift", secret, code(cur - 1), 1, -1, cur - 1, true},
		{"next step within drift", secret, code(cur + 1), 1, -1, cur + 1, true},
		{"two steps behind refused", secret, code(cur - 2), 1, -1, 0, false},
		{"two steps ahead refused", secret, code(cur + 2), 1, -1, 0, false},
		{"two steps accepted with drift 2", secret, code(cur - 2), 2, -1, cur - 2, true},
		{"no drift refuses neighbour", secret, code(cur - 1), 0, -1, 0, false},
		{"negative drift acts as zero", secret, code(cur), -5, -1, cur, true},
		{"replay of used step", secret, code(cur), 1, cur, 0, false},
		{"older step after newer used", secret, code(cur - 1), 1, cur, 0, false},
		{"newer step after older used", secret, code(cur + 1), 1, cur, cur + 1, true},
		{"step just after used", secret, code(cur), 1, cur - 1, cur, true},
		{"other secret refused", other, code(cur), 1, -1, 0, false},
		{"surrounding whitespace accepted", secret, " " + code(cur) + "\n", 1, -1, cur, true},
		{"malformed refused", secret, code(cur)[:5], 1, -1, 0, false},
		{"empty refused", secret, "", 1, -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Match(tt.secret, tt.code, now, tt.drift, tt.after)
			if ok != tt.wantOK || (ok && step != tt.wantStep) {
				t.Errorf("Match = (%d, %v), want (%d, %v)", step, ok, tt.wantStep, tt.wantOK)
			}
		})
	}
}

// TestMatchSmallestStep covers a code that is valid at two steps of the
// window: the earliest usable one must be returned so that the later one stays
// available. The secret was found by searching for such a collision.
func TestMatchSmallestStep(t *testing.T) {
	now := time.Unix(1700000000, 0)
	cur := Step(now)
	secret := []byte("1602437")
	code := CodeAt(secret, cur-1)
	if code != CodeAt(secret, cur+1) {
		t.Fatalf("fixture broken: codes at steps %d and %d differ", cur-1, cur+1)
	}
	if step, ok := Match(secret, code, now, 1, -1); !ok || step != cur-1 {
		t.Errorf("Match = (%d, %v), want (%d, true)", step, ok, cur-1)
	}
	if step, ok := Match(secret, code, now, 1, cur-1); !ok || step != cur+1 {
		t.Errorf("Match after first use = (%d, %v), want (%d, true)", step, ok, cur+1)
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "123456", "123456", true},
		{"outer ascii whitespace", " 123456\n", "123456", true},
		{"tabs and CR", "\t123456\r\n", "123456", true},
		{"leading zeros", "000000", "000000", true},
		{"inner space", "123 456", "", false},
		{"too short", "12345", "", false},
		{"too long", "1234567", "", false},
		{"letters", "abcdef", "", false},
		{"full-width digits", "１２３４５６", "", false},
		{"empty", "", "", false},
		{"only whitespace", "   \n", "", false},
		{"arabic-indic digits", "٣٣٣٣٣٣", "", false},
		{"unicode space around", "\u00a0123456", "", false},
		{"sign", "+12345", "", false},
		{"huge", strings.Repeat("1", 1<<20), "", false},
		{"huge whitespace", strings.Repeat(" ", 1<<20) + "123456", "123456", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NormalizeCode(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("NormalizeCode = (%q, %v), want (%q, %v)", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func checkCode(t *testing.T, code string) {
	t.Helper()
	if len(code) != Digits {
		t.Fatalf("accepted code %q has length %d", code, len(code))
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			t.Fatalf("accepted code %q has non-digit byte %q", code, code[i])
		}
	}
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", " 123456\n", "123 456", "12345", "1234567",
		"abcdef", "１２３４５６", "", "٣٣٣٣٣٣", "\x00123456", "12345\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := NormalizeCode(s)
		if !ok {
			if code != "" {
				t.Fatalf("rejected input returned code %q", code)
			}
			return
		}
		checkCode(t, code)
		if !strings.Contains(s, code) {
			t.Fatalf("code %q is not part of input %q", code, s)
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add(rfcSecret, "287082", int64(1111111109), 1, int64(-1))
	f.Add([]byte{}, "000000", int64(0), 0, int64(-1))
	f.Add([]byte("k"), " 123456 ", int64(-100), 3, int64(5))
	f.Add(rfcSecret, "１２３４５６", int64(1<<40), 10, int64(1<<62))
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix int64, drift int, after int64) {
		// Bound the window so that a huge fuzzed drift does not turn one
		// input into billions of HMACs.
		drift = max(drift%16, 0)
		step, ok := Match(secret, code, time.Unix(unix, 0), drift, after)
		if !ok {
			return
		}
		normalized, valid := NormalizeCode(code)
		if !valid {
			t.Fatalf("malformed code %q matched", code)
		}
		checkCode(t, normalized)
		if step <= after {
			t.Fatalf("step %d matched although %d was already used", step, after)
		}
		if CodeAt(secret, step) != normalized {
			t.Fatalf("step %d reported but its code differs from %q", step, normalized)
		}
		d := Step(time.Unix(unix, 0)) - step
		if d < -int64(drift) || d > int64(drift) {
			t.Fatalf("step %d outside drift %d of now", step, drift)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	secret, err := GenerateSecret()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	code := CodeAt(secret, Step(now)+1)
	for b.Loop() {
		if _, ok := Match(secret, code, now, 1, -1); !ok {
			b.Fatal("no match")
		}
	}
}
