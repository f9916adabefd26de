package keyring

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func testRing(t *testing.T) *Keyring {
	t.Helper()
	k, err := New(map[string][]byte{"k1": testKey(1), "k2": testKey(2)}, "k2", testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := testRing(t)
	tests := []struct {
		name           string
		plaintext, aad []byte
	}{
		{"secret with aad", []byte("totp seed bytes"), []byte("factor:42")},
		{"empty plaintext", []byte{}, []byte("factor:42")},
		{"no aad", []byte("x"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := k.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			// A short plaintext can occur in random ciphertext by chance.
			if len(tt.plaintext) >= 8 && bytes.Contains(sealed, tt.plaintext) {
				t.Error("sealed value contains the plaintext")
			}
			got, err := k.Open(sealed, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
			if id, err := k.KeyID(sealed); err != nil || id != "k2" {
				t.Errorf("KeyID = %q, %v, want k2", id, err)
			}
		})
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	k := testRing(t)
	a, _ := k.Seal([]byte("same"), nil)
	b, _ := k.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are identical")
	}
}

func TestOpenFailures(t *testing.T) {
	k := testRing(t)
	aad := []byte("factor:42")
	sealed, err := k.Seal([]byte("seed"), aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	other, err := New(map[string][]byte{"k9": testKey(7)}, "k9", testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Seal([]byte("seed"), aad)

	tests := []struct {
		name   string
		sealed []byte
		aad    []byte
		want   error
	}{
		{"wrong aad", sealed, []byte("factor:43"), ErrCorrupt},
		{"missing aad", sealed, nil, ErrCorrupt},
		{"tampered version", flip(0), aad, ErrCorrupt},
		{"tampered kid to unknown", flip(3), aad, ErrUnknownKey},
		{"tampered nonce", flip(5), aad, ErrCorrupt},
		{"tampered ciphertext", flip(len(sealed) - 20), aad, ErrCorrupt},
		{"tampered tag", flip(len(sealed) - 1), aad, ErrCorrupt},
		{"truncated", sealed[:10], aad, ErrCorrupt},
		{"empty", nil, aad, ErrCorrupt},
		{"unknown key", foreign, aad, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Open(tt.sealed, tt.aad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("Open returned plaintext %q on error", got)
			}
		})
	}
}

// TestKIDRelabelDetected moves a ciphertext under another key id the ring
// also holds; the header is authenticated, so this must fail.
func TestKIDRelabelDetected(t *testing.T) {
	k, err := New(map[string][]byte{"k1": testKey(1), "k2": testKey(1)}, "k2", testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := k.Seal([]byte("seed"), nil)
	sealed[3] = '1'
	if _, err := k.Open(sealed, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open of relabelled value = %v, want ErrCorrupt", err)
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name   string
		keys   map[string][]byte
		active string
		mac    []byte
	}{
		{"active missing", map[string][]byte{"k1": testKey(1)}, "k2", testKey(9)},
		{"short key", map[string][]byte{"k1": testKey(1)[:16]}, "k1", testKey(9)},
		{"short mac key", map[string][]byte{"k1": testKey(1)}, "k1", testKey(9)[:31]},
		{"empty id", map[string][]byte{"": testKey(1)}, "", testKey(9)},
		{"id with space", map[string][]byte{"k 1": testKey(1)}, "k 1", testKey(9)},
		{"long id", map[string][]byte{strings.Repeat("k", 65): testKey(1)}, strings.Repeat("k", 65), testKey(9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.keys, tt.active, tt.mac); err == nil {
				t.Error("New succeeded, want error")
			}
		})
	}
}

func TestMAC(t *testing.T) {
	k := testRing(t)
	a := k.MAC("email-code", []byte("123456"))
	if len(a) != 32 {
		t.Fatalf("MAC length %d, want 32", len(a))
	}
	if !bytes.Equal(a, k.MAC("email-code", []byte("123456"))) {
		t.Error("MAC is not deterministic")
	}
	if bytes.Equal(a, k.MAC("access-token", []byte("123456"))) {
		t.Error("MAC is the same for two purposes")
	}
	if bytes.Equal(a, k.MAC("email-code", []byte("123457"))) {
		t.Error("MAC is the same for two inputs")
	}
	otherMAC, _ := New(map[string][]byte{"k1": testKey(1)}, "k1", testKey(8))
	if bytes.Equal(a, otherMAC.MAC("email-code", []byte("123456"))) {
		t.Error("MAC does not depend on the MAC key")
	}
	sameMAC, _ := New(map[string][]byte{"k5": testKey(5)}, "k5", testKey(9))
	if !bytes.Equal(a, sameMAC.MAC("email-code", []byte("123456"))) {
		t.Error("MAC depends on the encryption keys")
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "keys.json")
	k1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ActiveID() != "k1" {
		t.Errorf("ActiveID = %q, want k1", k1.ActiveID())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %o, want 600", mode)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if mode := di.Mode().Perm(); mode != 0o700 {
		t.Errorf("key dir mode %o, want 700", mode)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("key dir holds %d entries, want only the key file", len(entries))
	}

	sealed, err := k1.Seal([]byte("seed"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func(string) (*Keyring, error){
		"LoadOrCreate": LoadOrCreate,
		"LoadFile":     LoadFile,
	} {
		t.Run(name, func(t *testing.T) {
			k2, err := load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := k2.Open(sealed, []byte("aad")); err != nil || string(got) != "seed" {
				t.Errorf("reloaded ring Open = %q, %v", got, err)
			}
			if !bytes.Equal(k1.MAC("p", []byte("d")), k2.MAC("p", []byte("d"))) {
				t.Error("reloaded ring computes a different MAC")
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(testKey(1))
	tests := []struct {
		name, content string
	}{
		{"not json", "not json at all"},
		{"unknown field", `{"active":"k1","mac_key":"` + key + `","keys":{"k1":"` + key + `"},"extra":1}`},
		{"missing mac key", `{"active":"k1","keys":{"k1":"` + key + `"}}`},
		{"active not present", `{"active":"k2","mac_key":"` + key + `","keys":{"k1":"` + key + `"}}`},
		{"short key", `{"active":"k1","mac_key":"` + key + `","keys":{"k1":"AAAA"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFile(path)
			if err == nil {
				t.Fatal("LoadFile succeeded, want error")
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error reveals key material: %v", err)
			}
			if _, err := LoadOrCreate(path); err == nil {
				t.Error("LoadOrCreate replaced or accepted a broken key file")
			}
		})
	}
}

func TestRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	k1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := k1.Seal([]byte("old seed"), []byte("f1"))
	mac := k1.MAC("email-code", []byte("123456"))

	for _, want := range []string{"k2", "k3"} {
		id, err := Rotate(path)
		if err != nil {
			t.Fatal(err)
		}
		if id != want {
			t.Errorf("Rotate = %q, want %q", id, want)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("rotated key file mode %o, want 600", mode)
	}

	k3, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k3.ActiveID() != "k3" {
		t.Errorf("ActiveID = %q, want k3", k3.ActiveID())
	}
	if got, err := k3.Open(old, []byte("f1")); err != nil || string(got) != "old seed" {
		t.Errorf("Open of pre-rotation value = %q, %v", got, err)
	}
	if id, _ := k3.KeyID(old); id != "k1" {
		t.Errorf("KeyID of pre-rotation value = %q, want k1", id)
	}
	fresh, _ := k3.Seal([]byte("new seed"), []byte("f1"))
	if id, _ := k3.KeyID(fresh); id != "k3" {
		t.Errorf("KeyID of new value = %q, want k3", id)
	}
	if _, err := k1.Open(fresh, []byte("f1")); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("pre-rotation ring opening new value: %v, want ErrUnknownKey", err)
	}
	if !bytes.Equal(mac, k3.MAC("email-code", []byte("123456"))) {
		t.Error("MAC changed across rotation")
	}
}

func TestRotateMissingFile(t *testing.T) {
	if _, err := Rotate(filepath.Join(t.TempDir(), "absent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Rotate of missing file = %v, want ErrNotExist", err)
	}
}

func TestFromBase64(t *testing.T) {
	key := testKey(3)
	key[0] = 0xfb // makes standard and URL-safe encodings differ
	valid := map[string]string{
		"std":         base64.StdEncoding.EncodeToString(key),
		"raw std":     base64.RawStdEncoding.EncodeToString(key),
		"url":         base64.URLEncoding.EncodeToString(key),
		"raw url":     base64.RawURLEncoding.EncodeToString(key),
		"with spaces": " " + base64.StdEncoding.EncodeToString(key) + "\n",
	}
	var first *Keyring
	for name, s := range valid {
		t.Run(name, func(t *testing.T) {
			k, err := FromBase64(s)
			if err != nil {
				t.Fatal(err)
			}
			if k.ActiveID() != "env" {
				t.Errorf("ActiveID = %q, want env", k.ActiveID())
			}
			if first == nil {
				first = k
				return
			}
			sealed, _ := first.Seal([]byte("x"), nil)
			if _, err := k.Open(sealed, nil); err != nil {
				t.Errorf("rings from the same key disagree: %v", err)
			}
			if !bytes.Equal(first.MAC("p", nil), k.MAC("p", nil)) {
				t.Error("rings from the same key compute different MACs")
			}
		})
	}

	invalid := map[string]string{
		"empty":        "",
		"16 bytes":     base64.StdEncoding.EncodeToString(key[:16]),
		"33 bytes":     base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 0)),
		"not base64":   "this is not base64!",
		"hex encoding": strings.Repeat("ab", 32),
	}
	for name, s := range invalid {
		t.Run(name, func(t *testing.T) {
			_, err := FromBase64(s)
			if err == nil {
				t.Fatal("FromBase64 succeeded, want error")
			}
			if s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("error echoes the key: %v", err)
			}
			if !strings.Contains(err.Error(), "master key") {
				t.Errorf("error %q does not say what is wrong", err)
			}
		})
	}
}

func TestFromBase64MACIsNotEncryptionKey(t *testing.T) {
	key := testKey(4)
	k, err := FromBase64(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k.macKey, key) {
		t.Error("MAC key equals the encryption key")
	}
}

// A check value opens only with the key that made it, under its own id.
func TestCheckValue(t *testing.T) {
	k := testRing(t)
	check, err := k.CheckValue("k1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(check, testKey(1)) {
		t.Fatal("the check value contains the key")
	}
	if err := k.Check("k1", check); err != nil {
		t.Errorf("Check with the key that made it: %v", err)
	}
	if err := k.Check("k2", check); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Check under another id = %v, want ErrKeyMismatch", err)
	}
	other, err := New(map[string][]byte{"k1": testKey(7)}, "k1", testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Check("k1", check); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Check with another key k1 = %v, want ErrKeyMismatch", err)
	}
	if err := other.Check("k2", check); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Check of a key the ring lacks = %v, want ErrUnknownKey", err)
	}
	if _, err := k.CheckValue("k9"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("CheckValue of a key the ring lacks = %v, want ErrUnknownKey", err)
	}
}
