package auditchain

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
)

// The encodings below are a format: once a database holds chains made
// with them, changing a byte breaks every chain. A new version gets a new
// label.
const (
	contentLabel    = "countersign audit event v1\x00"
	chainLabel      = "countersign audit chain v1\x00"
	checkpointLabel = "countersign audit checkpoint v1\x00"

	// MAC purposes (keyring.MAC): an event stamped when appended, an event
	// that existed before the chain and was MACed when it was sealed, the
	// MAC key's public fingerprint, and each tenant's checkpoint key.
	purposeEvent      = "audit-event"
	purposeGenesis    = "audit-event-genesis"
	purposeKeyID      = "audit-key-id"
	purposeCheckpoint = "audit-checkpoint"

	nonceSize = 16
)

// zeroHash is the previous hash of a chain's first event.
var zeroHash = make([]byte, sha256.Size)

// Canonical is the content an event's hash and MAC cover: a label, then
// tenant, user, application, actor, event, outcome, IP and detail, each as
// a 4-byte big-endian length and its bytes, the creation time in Unix
// microseconds as 8 bytes big-endian, and the length-prefixed nonce. The
// row id is not covered: it is the database's, and the chain orders events.
func Canonical(e *store.AuditEvent) []byte {
	fields := []string{e.TenantID, e.UserID, e.ApplicationID, e.Actor, e.Event, e.Outcome, e.IP, e.Detail}
	n := len(contentLabel) + 8 + 4 + len(e.Nonce)
	for _, f := range fields {
		n += 4 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, contentLabel...)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(e.CreatedAt.UnixMicro()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Nonce)))
	return append(b, e.Nonce...)
}

// MACKeyID names the MAC key without revealing it, so that a report can
// tell an event stamped under another key ring from a forged one.
func MACKeyID(keys *keyring.Keyring) string {
	if id, ok := keyIDs.Load(keys); ok {
		return id.(string)
	}
	id := "m" + hex.EncodeToString(keys.MAC(purposeKeyID, nil)[:6])
	keyIDs.Store(keys, id)
	return id
}

// keyIDs remembers each key ring's MAC key id (a ring never changes), so
// that stamping an event on the hot path costs one MAC, not two.
var keyIDs sync.Map // *keyring.Keyring → string

// Stamp sets e's nonce, content hash, MAC and key id; call it before the
// event is appended. The random nonce makes every event's MAC unique, so a
// copied row shows. Without a key ring the event stays unstamped, and the
// sealer will not chain it.
func Stamp(keys *keyring.Keyring, e *store.AuditEvent) error {
	if keys == nil {
		return nil
	}
	if e.Detail == "" {
		e.Detail = "{}"
	}
	e.Nonce = make([]byte, nonceSize)
	if _, err := rand.Read(e.Nonce); err != nil {
		return fmt.Errorf("audit nonce: %w", err)
	}
	c := Canonical(e)
	h := sha256.Sum256(c)
	e.ContentHash = h[:]
	e.MAC = keys.MAC(purposeEvent, c)
	e.KeyID = MACKeyID(keys)
	return nil
}

// stampGenesis MACs an event that existed before the chain, as it is now.
func stampGenesis(keys *keyring.Keyring, e *store.AuditEvent) {
	c := Canonical(e)
	h := sha256.Sum256(c)
	e.ContentHash = h[:]
	e.MAC = keys.MAC(purposeGenesis, c)
	e.KeyID = MACKeyID(keys)
	e.Genesis = true
}

// Reasons an event fails its check, in the order they are checked.
var (
	errContent = errors.New("its content does not match its content hash")
	errKeyID   = errors.New("its MAC was made under another MAC key")
	errMAC     = errors.New("its MAC is not one the master key makes for its content")
)

// checkEvent reports whether e's content hash and MAC are the ones the
// key ring makes for its content.
func checkEvent(keys *keyring.Keyring, e *store.AuditEvent) error {
	c := Canonical(e)
	h := sha256.Sum256(c)
	if !hmac.Equal(h[:], e.ContentHash) {
		return errContent
	}
	if e.KeyID != MACKeyID(keys) {
		return errKeyID
	}
	purpose := purposeEvent
	if e.Genesis {
		purpose = purposeGenesis
	}
	if !hmac.Equal(keys.MAC(purpose, c), e.MAC) {
		return errMAC
	}
	return nil
}

// chainHash links an event to the one before it.
func chainHash(prev, contentHash []byte, seq int64) []byte {
	m := sha256.New()
	m.Write([]byte(chainLabel))
	m.Write(prev)
	m.Write(contentHash)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(seq)))
	return m.Sum(nil)
}

// signingKey is the tenant's checkpoint key: derived from the master key,
// so it needs no storage and cannot be had without the master key.
func signingKey(keys *keyring.Keyring, tenantID string) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(keys.MAC(purposeCheckpoint, []byte(tenantID)))
}

// PublicKey is the key that verifies a tenant's checkpoints, for third
// parties who keep it apart from the server.
func PublicKey(keys *keyring.Keyring, tenantID string) ed25519.PublicKey {
	return signingKey(keys, tenantID).Public().(ed25519.PublicKey)
}

// CheckpointKeyID names a checkpoint public key: the first 8 bytes of its
// SHA-256, in hex.
func CheckpointKeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// checkpointMessage is what a checkpoint's signature covers.
func checkpointMessage(tenantID string, seq int64, hash []byte, at time.Time) []byte {
	b := append([]byte(nil), checkpointLabel...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(tenantID)))
	b = append(b, tenantID...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = binary.BigEndian.AppendUint32(b, uint32(len(hash)))
	b = append(b, hash...)
	return binary.BigEndian.AppendUint64(b, uint64(at.UnixMicro()))
}

func signCheckpoint(keys *keyring.Keyring, tenantID string, seq int64, hash []byte, at time.Time) *store.AuditCheckpoint {
	key := signingKey(keys, tenantID)
	return &store.AuditCheckpoint{
		TenantID:  tenantID,
		Seq:       seq,
		Hash:      hash,
		CreatedAt: at,
		KeyID:     CheckpointKeyID(key.Public().(ed25519.PublicKey)),
		Signature: ed25519.Sign(key, checkpointMessage(tenantID, seq, hash, at)),
	}
}

// checkCheckpoint reports whether pub signed c.
func checkCheckpoint(pub ed25519.PublicKey, c *store.AuditCheckpoint) bool {
	return c.KeyID == CheckpointKeyID(pub) && ed25519.Verify(pub, checkpointMessage(c.TenantID, c.Seq, c.Hash, c.CreatedAt), c.Signature)
}
