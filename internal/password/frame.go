package password

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The hashing worker and the server speak in frames over the worker's
// standard input and output: a 4-byte big-endian body length, then the
// body. Each request carries an id its answer repeats, so many hashes share
// the one pipe and finish in any order.
//
// A request body is
//
//	id u64 | memory u32 | iterations u32 | parallelism u8 | key length u32 |
//	salt length u16 | salt | password (the rest)
//
// and an answer body is
//
//	id u64 | status u8 | key (status ok) or an error message (status failed).
const (
	// maxFrame bounds a body, so that a corrupt length never makes either
	// side allocate much; a password longer than the request body of any
	// front door still fits.
	maxFrame       = 1 << 20
	requestHeader  = 8 + 4 + 4 + 1 + 4 + 2
	answerHeader   = 8 + 1
	statusOK       = 0
	statusFailed   = 1
	maxPasswordLen = maxFrame - requestHeader - maxSaltLen
)

// errFrame means the other side sent something that is not a frame of the
// protocol; the pipe cannot be trusted after it.
var errFrame = errors.New("password: malformed worker frame")

// request is one hash the worker is asked to compute.
type request struct {
	id       uint64
	params   Params // SaltLen is len(salt)
	salt     []byte
	password []byte
}

// answer is the worker's reply to the request with the same id.
type answer struct {
	id  uint64
	key []byte // nil when failed
	err string
}

func (r request) marshal() ([]byte, error) {
	if len(r.salt) > maxSaltLen || len(r.password) > maxPasswordLen {
		return nil, fmt.Errorf("password: salt or password too long to hash (%d, %d bytes)", len(r.salt), len(r.password))
	}
	n := requestHeader + len(r.salt) + len(r.password)
	b := make([]byte, 4, 4+n)
	binary.BigEndian.PutUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint64(b, r.id)
	b = binary.BigEndian.AppendUint32(b, r.params.Memory)
	b = binary.BigEndian.AppendUint32(b, r.params.Iterations)
	b = append(b, r.params.Parallelism)
	b = binary.BigEndian.AppendUint32(b, r.params.KeyLen)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.salt)))
	b = append(b, r.salt...)
	return append(b, r.password...), nil
}

// parseRequest checks a request body as strictly as decode checks a stored
// hash: the worker must never be talked into an unbounded computation.
func parseRequest(body []byte) (request, error) {
	var r request
	if len(body) < requestHeader {
		return r, fmt.Errorf("%w: request of %d bytes", errFrame, len(body))
	}
	r.id = binary.BigEndian.Uint64(body)
	r.params.Memory = binary.BigEndian.Uint32(body[8:])
	r.params.Iterations = binary.BigEndian.Uint32(body[12:])
	r.params.Parallelism = body[16]
	r.params.KeyLen = binary.BigEndian.Uint32(body[17:])
	saltLen := int(binary.BigEndian.Uint16(body[21:]))
	rest := body[requestHeader:]
	p := r.params
	switch {
	case saltLen > len(rest):
		return r, fmt.Errorf("%w: salt longer than the request", errFrame)
	case p.Parallelism < 1, p.Iterations < 1, p.Iterations > maxIterations,
		p.Memory < 8*uint32(p.Parallelism), p.Memory > maxMemoryKiB,
		p.KeyLen < minKeyLen, p.KeyLen > maxKeyLen, saltLen < minSaltLen, saltLen > maxSaltLen:
		return r, fmt.Errorf("%w: parameters out of range", errFrame)
	}
	r.params.SaltLen = uint32(saltLen)
	r.salt = rest[:saltLen]
	r.password = rest[saltLen:]
	return r, nil
}

func (a answer) marshal() []byte {
	payload := a.key
	status := byte(statusOK)
	if a.key == nil {
		payload, status = []byte(a.err), statusFailed
	}
	if len(payload) > maxFrame-answerHeader {
		payload = payload[:maxFrame-answerHeader]
	}
	b := make([]byte, 4, 4+answerHeader+len(payload))
	binary.BigEndian.PutUint32(b, uint32(answerHeader+len(payload)))
	b = binary.BigEndian.AppendUint64(b, a.id)
	b = append(b, status)
	return append(b, payload...)
}

func parseAnswer(body []byte) (answer, error) {
	if len(body) < answerHeader {
		return answer{}, fmt.Errorf("%w: answer of %d bytes", errFrame, len(body))
	}
	a := answer{id: binary.BigEndian.Uint64(body)}
	payload := body[answerHeader:]
	switch body[8] {
	case statusOK:
		if len(payload) < minKeyLen {
			return answer{}, fmt.Errorf("%w: key of %d bytes", errFrame, len(payload))
		}
		a.key = payload
	case statusFailed:
		a.err = string(payload)
	default:
		return answer{}, fmt.Errorf("%w: status %d", errFrame, body[8])
	}
	return a, nil
}

// readFrame reads one body, refusing a length above maxFrame before
// allocating anything for it. io.EOF means the other side closed the pipe
// between frames.
func readFrame(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > maxFrame {
		return nil, fmt.Errorf("%w: %d bytes is over the %d-byte limit", errFrame, n, maxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}
