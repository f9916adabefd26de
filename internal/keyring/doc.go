// Package keyring encrypts secrets at rest (TOTP seeds and the like) and
// computes keyed hashes of one-time codes and tokens, so that a copy of the
// database alone reveals neither.
//
// A Keyring holds every master key ever used, by key id ("k1", "k2", …), and
// seals new data with the active one. Sealed values name the key that sealed
// them, so after a rotation old rows still open and can be re-sealed at
// leisure. Each seal takes associated data that binds the ciphertext to its
// owner (for example the factor id): a ciphertext copied into another row
// fails to open.
//
// Keyed hashes use a separate MAC key, not one of the encryption keys,
// because a stored hash can never be re-computed without the original code:
// rotating encryption keys must not invalidate them. For that reason New
// takes the MAC key as a third argument: New(keys, active, macKey).
//
// Keys come from a JSON file (LoadOrCreate, Rotate) or from a single base64
// key in configuration (FromBase64). A check value (CheckValue, Check) lets a
// database record which keys sealed its data without holding any of them, so
// that a start with a lost or wrong key can be refused.
package keyring
