package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fileFormat is the on-disk key file:
// {"active":"k1","mac_key":"base64","keys":{"k1":"base64"}}.
// []byte fields are encoded by encoding/json as standard base64.
type fileFormat struct {
	Active string            `json:"active"`
	MACKey []byte            `json:"mac_key"`
	Keys   map[string][]byte `json:"keys"`
}

func (f *fileFormat) keyring() (*Keyring, error) {
	return New(f.Keys, f.Active, f.MACKey)
}

func readFile(path string) (*fileFormat, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var f fileFormat
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// The decoder's message can quote file content, which is key
		// material; report only where the problem is.
		return nil, fmt.Errorf(`keyring: %s: malformed key file, want {"active":…,"mac_key":…,"keys":{…}}`, path)
	}
	return &f, nil
}

// LoadFile reads a key file written by LoadOrCreate or Rotate.
func LoadFile(path string) (*Keyring, error) {
	f, err := readFile(path)
	if err != nil {
		return nil, err
	}
	k, err := f.keyring()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreate loads path, creating it with one fresh key "k1" and a fresh
// MAC key when it does not exist, so that a first start needs no setup.
func LoadOrCreate(path string) (*Keyring, error) {
	k, err := LoadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	key, err := randomKey()
	if err != nil {
		return nil, err
	}
	macKey, err := randomKey()
	if err != nil {
		return nil, err
	}
	f := &fileFormat{Active: "k1", MACKey: macKey, Keys: map[string][]byte{"k1": key}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	tmp, err := writeTemp(path, f)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	// Link, unlike rename, refuses to replace an existing file: if another
	// server sharing this path created the file first, its keys may already
	// be sealing data, so they must win over ours.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadFile(path)
		}
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return f.keyring()
}

// Rotate adds a fresh key with the next id (k2, k3, …) to the key file and
// makes it active. Servers pick it up when they reload the file; values
// sealed earlier keep opening with their old keys. It is an operator command:
// two rotations of one file at the same moment would each drop the other's key.
func Rotate(path string) (newID string, err error) {
	f, err := readFile(path)
	if err != nil {
		return "", err
	}
	if _, err := f.keyring(); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	newID = nextID(f.Keys)
	key, err := randomKey()
	if err != nil {
		return "", err
	}
	f.Keys[newID] = key
	f.Active = newID
	tmp, err := writeTemp(path, f)
	if err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("keyring: %w", err)
	}
	return newID, syncDir(filepath.Dir(path))
}

// nextID numbers past the highest "k<n>" present, so ids are never reused
// even when the file also holds keys named otherwise (such as "env").
func nextID(keys map[string][]byte) string {
	highest := 0
	for id := range keys {
		num, found := strings.CutPrefix(id, "k")
		if n, err := strconv.Atoi(num); found && err == nil && n > highest {
			highest = n
		}
	}
	return "k" + strconv.Itoa(highest+1)
}

// writeTemp writes f next to path (same file system, so rename and link are
// atomic) and returns the temporary name. os.CreateTemp creates it 0600.
func writeTemp(path string, f *fileFormat) (string, error) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", fmt.Errorf("keyring: encode key file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		// Without the sync a crash right after the rename could leave an
		// empty key file, losing every key.
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("keyring: write key file: %w", err)
	}
	return tmp.Name(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keyring: sync %s: %w", dir, err)
	}
	return nil
}

func randomKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("keyring: generate key: %w", err)
	}
	return key, nil
}

// envKeyID names the key given in configuration, so that values it sealed
// say where their key came from.
const envKeyID = "env"

// FromBase64 builds a one-key ring from a 32-byte key in standard or URL-safe
// base64, padded or not, as given in configuration (COUNTERSIGN_MASTER_KEY).
// The key seals directly, so it can later be moved into a key file under the
// id "env"; the MAC key is derived from it.
func FromBase64(s string) (*Keyring, error) {
	s = strings.TrimSpace(s)
	var key []byte
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.DecodeString(s); err == nil {
			key = b
			break
		}
	}
	if key == nil {
		// Never echo s: it is the key, or a typo of it.
		return nil, errors.New("keyring: master key is not valid base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("keyring: master key must decode to %d bytes, got %d (generate one with: openssl rand -base64 32)", KeySize, len(key))
	}
	return New(map[string][]byte{envKeyID: key}, envKeyID, derive(key, "countersign keyring env mac key v1"))
}
