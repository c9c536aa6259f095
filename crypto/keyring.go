// Package crypto seals customers' personal data: envelope encryption with a
// data key per customer wrapped by a master key, keyed blind-index tokens for
// search without plaintext, and sealed opaque cursors.
//
// Master keys come from outside the database (a keyring file or the
// environment) and never leave process memory: a Keyring has no exported
// field, prints as a summary and logs as "[REDACTED]".
package crypto

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// KeySize is the size of every key: master keys, data keys and the index key.
const KeySize = 32

// KeyringFormat identifies the keyring encoding, so a future format can be
// told apart.
const KeyringFormat = "custodian-keyring/v1"

// ErrNoKeyring reports that no keyring was configured or found.
var ErrNoKeyring = errors.New("no keyring configured")

// Keyring holds the master keys that wrap customers' data keys, which one
// wraps new data keys, and the separate index key for blind indexes.
type Keyring struct {
	active string
	master map[string][]byte
	order  []string // key ids in the order they were added
	index  []byte
}

type keyringFile struct {
	Format   string       `json:"format"`
	Active   string       `json:"active"`
	Keys     []keyringKey `json:"keys"`
	IndexKey string       `json:"index_key"`
}

type keyringKey struct {
	ID      string    `json:"id"`
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
}

// NewKeyring returns a keyring with one fresh master key and a fresh index
// key, from the operating system's random source.
func NewKeyring() (*Keyring, error) {
	k := &Keyring{master: map[string][]byte{}, index: randomKey()}
	k.AddMasterKey()
	return k, nil
}

func randomKey() []byte {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return b
}

// newKeyID returns a fresh master key id such as "mk_20261122_4f3a9c".
func newKeyID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("mk_%s_%x", time.Now().UTC().Format("20060102"), b)
}

// AddMasterKey adds a fresh master key, makes it the active one (new and
// re-wrapped data keys use it) and returns its id.
func (k *Keyring) AddMasterKey() string {
	id := newKeyID()
	for k.master[id] != nil {
		id = newKeyID()
	}
	k.master[id] = randomKey()
	k.order = append(k.order, id)
	k.active = id
	return id
}

// RemoveMasterKey retires a master key that no data key uses any more. The
// active key cannot be removed.
func (k *Keyring) RemoveMasterKey(id string) error {
	if id == k.active {
		return fmt.Errorf("master key %s is active and cannot be retired", id)
	}
	if _, ok := k.master[id]; !ok {
		return fmt.Errorf("master key %s is not in the keyring", id)
	}
	delete(k.master, id)
	k.order = slices.DeleteFunc(k.order, func(s string) bool { return s == id })
	return nil
}

// ActiveKeyID names the master key that wraps new data keys.
func (k *Keyring) ActiveKeyID() string { return k.active }

// KeyIDs lists the master keys in the order they were added.
func (k *Keyring) KeyIDs() []string { return slices.Clone(k.order) }

// AuditChainKey returns the key that seals the audit trail's hash chain
// (see package audit): HKDF-SHA256 of the index key with its own label, so
// it is independent of every other key yet needs no secret of its own. It
// stays the same across master key rotations, because the index key never
// changes. Whoever holds the keyring can seal events; whoever holds only
// the database cannot.
func (k *Keyring) AuditChainKey() []byte { return k.derive("custodian audit chain v1") }

// AuditArchiveKey returns the key that signs audit archive files (HMAC),
// derived from the index key as AuditChainKey is, with its own label: an
// archive can be checked offline by whoever holds the keyring.
func (k *Keyring) AuditArchiveKey() []byte { return k.derive("custodian audit archive v1") }

// derive returns the key HKDF-SHA256 derives from the index key for label.
func (k *Keyring) derive(label string) []byte {
	key, err := hkdf.Key(sha256.New, k.index, nil, label, KeySize)
	if err != nil {
		panic("crypto: HKDF of a 32-byte key failed: " + err.Error()) // only for lengths HKDF cannot give
	}
	return key
}

// String describes the keyring without revealing any key.
func (k *Keyring) String() string {
	return fmt.Sprintf("keyring(%d master keys, active %s)", len(k.master), k.active)
}

// LogValue keeps keys out of logs whatever the code path.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// MarshalText encodes the keyring in its file format. The result is secret.
func (k *Keyring) MarshalText() ([]byte, error) {
	f := keyringFile{Format: KeyringFormat, Active: k.active, IndexKey: base64.StdEncoding.EncodeToString(k.index)}
	for _, id := range k.order {
		f.Keys = append(f.Keys, keyringKey{ID: id, Key: base64.StdEncoding.EncodeToString(k.master[id])})
	}
	return json.MarshalIndent(f, "", "  ")
}

// ParseKeyring decodes a keyring from its file format, checking every key.
// Errors never include key material.
func ParseKeyring(b []byte) (*Keyring, error) {
	var f keyringFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, errors.New("keyring is not valid keyring JSON")
	}
	if f.Format != KeyringFormat {
		return nil, fmt.Errorf("keyring format %q is not %q", f.Format, KeyringFormat)
	}
	k := &Keyring{master: map[string][]byte{}, active: f.Active}
	idx, err := base64.StdEncoding.DecodeString(f.IndexKey)
	if err != nil || len(idx) != KeySize {
		return nil, fmt.Errorf("keyring index_key must be %d bytes in base64", KeySize)
	}
	k.index = idx
	for _, mk := range f.Keys {
		key, err := base64.StdEncoding.DecodeString(mk.Key)
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("keyring master key %q must be %d bytes in base64", mk.ID, KeySize)
		}
		if mk.ID == "" || strings.ContainsAny(mk.ID, " \t\r\n") {
			return nil, errors.New("keyring master key ids must be non-empty words")
		}
		if _, dup := k.master[mk.ID]; dup {
			return nil, fmt.Errorf("keyring lists master key %q twice", mk.ID)
		}
		k.master[mk.ID] = key
		k.order = append(k.order, mk.ID)
	}
	if _, ok := k.master[k.active]; !ok {
		return nil, fmt.Errorf("keyring active key %q is not among its master keys", k.active)
	}
	return k, nil
}

// KeySource says where a keyring came from, for the start-up log.
type KeySource string

// Where a keyring can come from.
const (
	SourceEnv       KeySource = "environment"
	SourceFile      KeySource = "file"
	SourceGenerated KeySource = "generated"
	SourceDataDir   KeySource = "data-dir"
)

// LoadOptions says where to look for the keyring.
type LoadOptions struct {
	// Env is the keyring itself (CUSTODIAN_MASTER_KEY).
	Env string
	// File is a path to a keyring file (CUSTODIAN_MASTER_KEY_FILE).
	File string
	// DataDir is where a development keyring lives; used only when Env
	// and File are empty.
	DataDir string
	// Production refuses development keyrings and key files that group
	// or others may read.
	Production bool
}

// DevKeyringName is the development keyring's file name in the data directory.
const DevKeyringName = "keyring.json"

// LoadKeyring finds the keyring: the environment first, then a key file,
// then (not in production) the development keyring in the data directory,
// which it generates on first use with mode 0600. It returns where the
// keyring came from and the path it was read from, if any.
func LoadKeyring(o LoadOptions) (*Keyring, KeySource, string, error) {
	switch {
	case o.Env != "" && o.File != "":
		return nil, "", "", errors.New("set either CUSTODIAN_MASTER_KEY or CUSTODIAN_MASTER_KEY_FILE, not both")
	case o.Env != "":
		k, err := ParseKeyring([]byte(o.Env))
		if err != nil {
			return nil, "", "", fmt.Errorf("CUSTODIAN_MASTER_KEY: %w", err)
		}
		return k, SourceEnv, "", nil
	case o.File != "":
		k, err := readKeyringFile(o.File, o.Production)
		return k, SourceFile, o.File, err
	case o.Production:
		return nil, "", "", fmt.Errorf("%w: production requires CUSTODIAN_MASTER_KEY or CUSTODIAN_MASTER_KEY_FILE", ErrNoKeyring)
	case o.DataDir == "":
		return nil, "", "", ErrNoKeyring
	}
	path := filepath.Join(o.DataDir, DevKeyringName)
	k, err := readKeyringFile(path, false)
	if err == nil {
		return k, SourceDataDir, path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", "", err
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, "", "", fmt.Errorf("keyring: create data directory: %w", err)
	}
	k, _ = NewKeyring()
	if err := WriteKeyringFile(path, k); err != nil {
		return nil, "", "", err
	}
	return k, SourceGenerated, path, nil
}

// ReadKeyringFile reads and checks the keyring file at path, without ever
// creating one. In production it refuses a file that group or others may
// read. Commands that change a keyring, and reloads, use it so that a
// missing file is an error rather than a fresh keyring.
func ReadKeyringFile(path string, production bool) (*Keyring, error) {
	return readKeyringFile(path, production)
}

func readKeyringFile(path string, production bool) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyring file: %w", err)
	}
	if production && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring file %s is readable by group or others (mode %04o); run chmod 600 on it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring file: %w", err)
	}
	k, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", path, err)
	}
	return k, nil
}

// WriteKeyringFile writes k to path with mode 0600, atomically: a crash
// leaves either the old keyring or the new one, never a torn file.
func WriteKeyringFile(path string, k *Keyring) error {
	b, err := k.MarshalText()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return fmt.Errorf("write keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write keyring: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write keyring: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write keyring: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write keyring: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write keyring: %w", err)
	}
	return nil
}
