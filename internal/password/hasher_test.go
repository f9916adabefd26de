package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testParams keep the tests fast; production strength is not under test.
var testParams = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)

func TestHashVerify(t *testing.T) {
	ctx := t.Context()
	h := NewHasher(testParams, 2, time.Second)

	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !phcPattern.MatchString(encoded) {
		t.Fatalf("hash %q does not look like a PHC string", encoded)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q does not record the parameters", encoded)
	}
	again, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if again == encoded {
		t.Error("two hashes of one password are equal; the salt is not random")
	}

	tests := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{"right password", "correct horse battery staple", true},
		{"wrong password", "correct horse battery stapler", false},
		{"case matters", "Correct horse battery staple", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, encoded, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || rehash {
				t.Errorf("Verify = %v, %v; want %v, false", ok, rehash, tt.wantOK)
			}
		})
	}
}

func TestDefaultParamsFormat(t *testing.T) {
	encoded, err := NewHasher(DefaultParams, 1, time.Second).Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") || !phcPattern.MatchString(encoded) {
		t.Errorf("hash %q", encoded)
	}
}

func TestVerifyOtherParams(t *testing.T) {
	ctx := t.Context()
	old := NewHasher(testParams, 1, time.Second)
	encoded, err := old.Hash(ctx, "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		params     Params
		wantRehash bool
	}{
		{"same params", testParams, false},
		{"more memory", Params{Memory: 128, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"more iterations", Params{Memory: 64, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"less memory", Params{Memory: 32, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"longer key", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 64}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHasher(tt.params, 1, time.Second)
			ok, rehash, err := h.Verify(ctx, encoded, "hunter2hunter2")
			if err != nil || !ok || rehash != tt.wantRehash {
				t.Errorf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.wantRehash)
			}
			ok, rehash, err = h.Verify(ctx, encoded, "wrong")
			if err != nil || ok || rehash {
				t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	h := NewHasher(testParams, 1, time.Second)
	if err := h.VerifyDummy(t.Context(), "anything"); err != nil {
		t.Fatal(err)
	}
	if n := h.InFlight(); n != 0 {
		t.Errorf("InFlight = %d after VerifyDummy returned; the slot leaked", n)
	}
}

func TestBusy(t *testing.T) {
	ctx := t.Context()
	h := NewHasher(testParams, 1, 10*time.Millisecond)
	encoded, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}

	release, err := h.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.InFlight(); n != 1 {
		t.Errorf("InFlight = %d with the slot held, want 1", n)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"Hash", func() error { _, err := h.Hash(ctx, "pw"); return err }},
		{"Verify", func() error { _, _, err := h.Verify(ctx, encoded, "pw"); return err }},
		{"VerifyDummy", func() error { return h.VerifyDummy(ctx, "pw") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrBusy) {
				t.Errorf("err = %v, want ErrBusy", err)
			}
		})
	}

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := NewHasher(testParams, 1, time.Hour).Hash(cctx, "pw"); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		slow := NewHasher(testParams, 1, time.Hour)
		hold, err := slow.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer hold()
		cctx, cancel = context.WithCancel(ctx)
		go cancel()
		if _, err := slow.Hash(cctx, "pw"); !errors.Is(err, context.Canceled) {
			t.Errorf("waiting err = %v, want context.Canceled", err)
		}
	})

	release()
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Errorf("Hash after release: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, _, _, err := decode(valid); err != nil {
		t.Fatalf("decode(valid) = %v", err)
	}
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuu"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", valid + "$x"},
		{"memory over 4 GiB", "$argon2id$v=19$m=4194305,t=1,p=1$" + salt + "$" + key},
		{"memory below 8 per lane", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key},
		{"memory overflows", "$argon2id$v=19$m=99999999999999999999,t=1,p=1$" + salt + "$" + key},
		{"iterations zero", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"iterations over 100", "$argon2id$v=19$m=64,t=101,p=1$" + salt + "$" + key},
		{"parallelism zero", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"parallelism over 255", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"padded base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"bad base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!!!!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := decode(tt.in); !errors.Is(err, ErrMalformedHash) {
				t.Errorf("decode = %v, want ErrMalformedHash", err)
			}
			h := NewHasher(testParams, 1, time.Second)
			if _, _, err := h.Verify(t.Context(), tt.in, "pw"); !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify = %v, want ErrMalformedHash", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=,t=,p=$a$b")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("decode error %v is not ErrMalformedHash", err)
			}
			return
		}
		if p.Memory > maxMemoryKiB || p.Memory < 8*uint32(p.Parallelism) || p.Iterations < 1 ||
			p.Iterations > maxIterations || p.Parallelism < 1 || len(salt) < minSaltLen || len(key) < minKeyLen {
			t.Fatalf("decode accepted absurd params %+v", p)
		}
		if got := encode(p, salt, key); got != s {
			// Accepted input must be canonical apart from leading zeros in numbers.
			if _, _, _, err := decode(got); err != nil {
				t.Fatalf("re-encoding %q gives undecodable %q", s, got)
			}
		}
	})
}
