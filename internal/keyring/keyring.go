package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"

	"golang.org/x/crypto/hkdf"
)

// KeySize is the length of every master key and of the MAC key: AES-256.
const KeySize = 32

const (
	// version leads every sealed value so that the format can change later
	// without guessing what an old row contains.
	version   = 1
	nonceSize = 12
	maxKIDLen = 64
)

var (
	// ErrUnknownKey means the value was sealed with a key this ring does
	// not hold, typically a key file that lost keys or a wrong environment.
	ErrUnknownKey = errors.New("keyring: unknown key id")
	// ErrCorrupt means the value is malformed, was altered, or was sealed
	// for other associated data (a different owner).
	ErrCorrupt = errors.New("keyring: sealed value corrupt or bound to another owner")
	// ErrKeyMismatch means the ring holds a key under the id, but not the
	// key that sealed the data: a wrong master key or another keyring.
	ErrKeyMismatch = errors.New("keyring: not the key that sealed the data")
)

// Keyring is safe for concurrent use; it is never modified after New.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
	macKey []byte
}

// New builds a ring from every known encryption key by id, the id of the one
// that seals new values, and the MAC key.
func New(keys map[string][]byte, active string, macKey []byte) (*Keyring, error) {
	if len(macKey) != KeySize {
		return nil, fmt.Errorf("keyring: MAC key must be %d bytes, got %d", KeySize, len(macKey))
	}
	if _, ok := keys[active]; !ok {
		return nil, fmt.Errorf("%w: active key %q is not in the ring", ErrUnknownKey, active)
	}
	k := &Keyring{
		active: active,
		aeads:  make(map[string]cipher.AEAD, len(keys)),
		macKey: append([]byte(nil), macKey...),
	}
	for _, id := range sortedIDs(keys) {
		if err := validID(id); err != nil {
			return nil, err
		}
		key := keys[id]
		if len(key) != KeySize {
			return nil, fmt.Errorf("keyring: key %q must be %d bytes, got %d", id, KeySize, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %q: %w", id, err)
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// validID keeps ids short and printable because they are written in clear
// into every sealed value and show up in operator tooling.
func validID(id string) error {
	if id == "" || len(id) > maxKIDLen {
		return fmt.Errorf("keyring: key id %q must be 1 to %d characters", id, maxKIDLen)
	}
	for _, c := range []byte(id) {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("keyring: key id %q must be printable ASCII without spaces", id)
		}
	}
	return nil
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// ActiveID returns the id of the key that seals new values.
func (k *Keyring) ActiveID() string { return k.active }

// IDs lists the id of every key the ring holds, in order.
func (k *Keyring) IDs() []string { return sortedIDs(k.aeads) }

// Seal encrypts plaintext with the active key. The output is
// version | len(kid) | kid | nonce | ciphertext+tag.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	return k.sealWith(k.active, plaintext, aad)
}

func (k *Keyring) sealWith(kid string, plaintext, aad []byte) ([]byte, error) {
	aead := k.aeads[kid]
	header := make([]byte, 0, 2+len(kid))
	header = append(header, version, byte(len(kid)))
	header = append(header, kid...)

	out := make([]byte, len(header)+nonceSize, len(header)+nonceSize+len(plaintext)+aead.Overhead())
	copy(out, header)
	nonce := out[len(header):]
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("keyring: nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, authData(header, aad)), nil
}

// authData covers the header as well as the caller's data, so that rewriting
// the version or key id is detected like any other tampering. The header is
// length-prefixed, so the concatenation is unambiguous.
func authData(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}

// parse splits a sealed value into its header, key id, nonce and ciphertext.
func parse(sealed []byte) (header []byte, kid string, nonce, ciphertext []byte, err error) {
	if len(sealed) < 2 || sealed[0] != version {
		return nil, "", nil, nil, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n+nonceSize {
		return nil, "", nil, nil, fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	header = sealed[:2+n]
	rest := sealed[2+n:]
	return header, string(sealed[2 : 2+n]), rest[:nonceSize], rest[nonceSize:], nil
}

// Open decrypts a value from Seal, given the same associated data.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	header, kid, nonce, ciphertext, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[kid]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	plaintext, err := aead.Open(nil, nonce, ciphertext, authData(header, aad))
	if err != nil {
		// GCM's own error says nothing useful and must not be mistaken for
		// a storage failure.
		return nil, fmt.Errorf("%w: authentication failed with key %q", ErrCorrupt, kid)
	}
	return plaintext, nil
}

// checkText is what a key check value seals. It is fixed and public: opening
// it proves only that a key is the one that sealed it.
var checkText = []byte("countersign key check v1")

func checkAAD(kid string) []byte { return []byte("key-check\x00" + kid) }

// CheckValue seals a fixed text with key kid, so that a database can record
// which keys sealed its data without holding any of them.
func (k *Keyring) CheckValue(kid string) ([]byte, error) {
	if _, ok := k.aeads[kid]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	return k.sealWith(kid, checkText, checkAAD(kid))
}

// Check reports whether check, from CheckValue, was sealed by this ring's key
// kid: ErrUnknownKey when the ring has no such key, ErrKeyMismatch when its
// key under that id is another one.
func (k *Keyring) Check(kid string, check []byte) error {
	if _, ok := k.aeads[kid]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	if sealedBy, err := k.KeyID(check); err != nil || sealedBy != kid {
		return fmt.Errorf("%w: %q", ErrKeyMismatch, kid)
	}
	text, err := k.Open(check, checkAAD(kid))
	if err != nil || !hmac.Equal(text, checkText) {
		return fmt.Errorf("%w: %q", ErrKeyMismatch, kid)
	}
	return nil
}

// KeyID reports which key sealed a value, so that a rotation job can find
// the values still sealed with a retired key.
func (k *Keyring) KeyID(sealed []byte) (string, error) {
	_, kid, _, _, err := parse(sealed)
	return kid, err
}

// MAC returns HMAC-SHA256 of data under a key derived for purpose, so that a
// hash computed for one kind of code (say, e-mail codes) is never valid for
// another (say, access tokens).
func (k *Keyring) MAC(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, derive(k.macKey, "countersign keyring mac v1\x00"+purpose))
	m.Write(data)
	return m.Sum(nil)
}

func derive(secret []byte, info string) []byte {
	key := make([]byte, KeySize)
	// hkdf only fails when asked for more than 255 hash blocks.
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(info)), key); err != nil {
		panic("keyring: hkdf: " + err.Error())
	}
	return key
}
