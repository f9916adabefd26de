package password

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	req := request{id: 7, params: Params{Memory: 64, Iterations: 2, Parallelism: 1, KeyLen: 32},
		salt: []byte("0123456789abcdef"), password: []byte("correct horse")}
	frame, err := req.marshal()
	if err != nil {
		t.Fatal(err)
	}
	body, err := readFrame(bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	want := req
	want.params.SaltLen = uint32(len(req.salt))
	if got.id != want.id || got.params != want.params || !bytes.Equal(got.salt, want.salt) || !bytes.Equal(got.password, want.password) {
		t.Errorf("request round trip = %+v, want %+v", got, want)
	}

	for _, a := range []answer{{id: 9, key: bytes.Repeat([]byte{0xab}, 32)}, {id: 10, err: "no"}} {
		body, err := readFrame(bytes.NewReader(a.marshal()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseAnswer(body)
		if err != nil {
			t.Fatal(err)
		}
		if got.id != a.id || !bytes.Equal(got.key, a.key) || got.err != a.err {
			t.Errorf("answer round trip = %+v, want %+v", got, a)
		}
	}

	// Several frames on one stream come back one by one, then io.EOF.
	var stream bytes.Buffer
	stream.Write(answer{id: 1, key: make([]byte, 16)}.marshal())
	stream.Write(answer{id: 2, err: "x"}.marshal())
	for i := 0; i < 2; i++ {
		if _, err := readFrame(&stream); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if _, err := readFrame(&stream); err != io.EOF {
		t.Errorf("after the last frame err = %v, want io.EOF", err)
	}
}

func TestFrameRejects(t *testing.T) {
	length := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	t.Run("oversized", func(t *testing.T) {
		// Only the length arrives: the refusal comes before any body is read.
		if _, err := readFrame(bytes.NewReader(length(maxFrame + 1))); !errors.Is(err, errFrame) {
			t.Errorf("err = %v, want errFrame", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		if _, err := readFrame(bytes.NewReader(append(length(10), 1, 2, 3))); err != io.ErrUnexpectedEOF {
			t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
		}
		if _, err := readFrame(bytes.NewReader([]byte{0, 0})); err != io.ErrUnexpectedEOF {
			t.Errorf("half a length: err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("too long to send", func(t *testing.T) {
		long := request{id: 1, params: testParams, salt: make([]byte, 16), password: make([]byte, maxPasswordLen+1)}
		if _, err := long.marshal(); err == nil {
			t.Error("a password over the frame limit was framed")
		}
	})

	good := request{id: 3, params: Params{Memory: 64, Iterations: 1, Parallelism: 1, KeyLen: 32}, salt: make([]byte, 16), password: []byte("pw")}
	body := func(change func(b []byte) []byte) []byte {
		frame, err := good.marshal()
		if err != nil {
			t.Fatal(err)
		}
		return change(frame[4:])
	}
	put32 := func(at int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[at:], v); return b }
	}
	requests := []struct {
		name string
		body []byte
	}{
		{"short", body(func(b []byte) []byte { return b[:requestHeader-1] })},
		{"memory too large", body(put32(8, maxMemoryKiB+1))},
		{"memory below 8 KiB a lane", body(put32(8, 7))},
		{"no iterations", body(put32(12, 0))},
		{"too many iterations", body(put32(12, maxIterations+1))},
		{"no parallelism", body(func(b []byte) []byte { b[16] = 0; return b })},
		{"key too short", body(put32(17, minKeyLen-1))},
		{"key too long", body(put32(17, maxKeyLen+1))},
		{"salt too short", body(func(b []byte) []byte { binary.BigEndian.PutUint16(b[21:], minSaltLen-1); return b })},
		{"salt beyond the body", body(func(b []byte) []byte { binary.BigEndian.PutUint16(b[21:], 200); return b })},
	}
	for _, tt := range requests {
		t.Run("request "+tt.name, func(t *testing.T) {
			if _, err := parseRequest(tt.body); !errors.Is(err, errFrame) {
				t.Errorf("err = %v, want errFrame", err)
			}
		})
	}

	answers := []struct {
		name string
		body []byte
	}{
		{"short", make([]byte, answerHeader-1)},
		{"unknown status", append(make([]byte, 8), 2, 1, 2, 3, 4)},
		{"key too short", append(make([]byte, 8), statusOK, 1, 2)},
	}
	for _, tt := range answers {
		t.Run("answer "+tt.name, func(t *testing.T) {
			if _, err := parseAnswer(tt.body); !errors.Is(err, errFrame) {
				t.Errorf("err = %v, want errFrame", err)
			}
		})
	}
}

// TestServeWorker drives the worker's loop in this process: a request it
// cannot accept gets a failed answer, good ones get the key derive
// computes, and a stream that stops being frames ends the loop with an
// error.
func TestServeWorker(t *testing.T) {
	var in bytes.Buffer
	good := request{id: 1, params: testParams, salt: []byte("0123456789abcdef"), password: []byte("pw")}
	bad := good
	bad.id, bad.params.Iterations = 2, 0
	for _, r := range []request{good, bad} {
		frame, err := r.marshal()
		if err != nil {
			t.Fatal(err)
		}
		in.Write(frame)
	}
	var out bytes.Buffer
	if err := serveWorker(&in, &out, 2); err != nil {
		t.Fatalf("serveWorker: %v", err)
	}
	got := map[uint64]answer{}
	for {
		body, err := readFrame(&out)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		a, err := parseAnswer(body)
		if err != nil {
			t.Fatal(err)
		}
		got[a.id] = a
	}
	if want := derive(good.password, good.salt, good.params); !bytes.Equal(got[1].key, want) {
		t.Errorf("key for request 1 = %x, want %x", got[1].key, want)
	}
	if got[2].key != nil || !strings.Contains(got[2].err, "out of range") {
		t.Errorf("answer to a request with no iterations = %+v, want a failure", got[2])
	}

	garbage := bytes.NewReader(append(binary.BigEndian.AppendUint32(nil, maxFrame+1), 0))
	if err := serveWorker(garbage, io.Discard, 1); !errors.Is(err, errFrame) {
		t.Errorf("serveWorker on garbage = %v, want errFrame", err)
	}
}
