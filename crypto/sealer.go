package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Ciphertext layout: one version byte, a 12-byte random nonce, then the
// AES-256-GCM ciphertext and its 16-byte tag.
const (
	formatV1  byte = 1
	nonceSize      = 12
	overhead       = 1 + nonceSize + 16
	// padBlock is the size that sealed field plaintexts are padded to a
	// multiple of, so ciphertext lengths reveal lengths only in steps.
	padBlock = 32
)

// ErrDecrypt reports a ciphertext that does not open: a wrong or missing
// key, a value moved to another row or column, or tampering. It is never
// silently turned into garbage or an empty value.
var ErrDecrypt = errors.New("ciphertext does not authenticate")

// Sealer seals and opens personal data. It is safe for concurrent use.
type Sealer struct {
	mu      sync.RWMutex
	keyring *Keyring
	masters map[string]cipher.AEAD        // one AEAD per master key
	dataKey *lru.Cache[string, cachedKey] // by customer id
	index   []byte                        // HMAC key for blind-index tokens
	cursor  cipher.AEAD                   // seals list cursors
	macs    sync.Pool

	// source reloads the keyring (nil when the sealer has no source).
	// reloadMu serializes reloads and guards loaded, the time of the
	// last one, and tried, the unknown master key ids looked for since.
	source   func() (*Keyring, error)
	reloadMu sync.Mutex
	loaded   time.Time
	tried    map[string]bool
}

// Reload intervals for a sealer built with NewSealerFromSource.
const (
	// ReloadInterval is the least time between two reloads looking for
	// the same master key, so that records under a lost key cannot make
	// the sealer reread its source on every request. A key id not looked
	// for since the last reload triggers one at once.
	ReloadInterval = time.Second
	// RefreshInterval is how old the loaded keyring may get before the
	// next new data key rereads the source, so that a server that has
	// read no re-wrapped record still starts wrapping new data keys
	// under a rotated key within this time.
	RefreshInterval = time.Minute
)

// DefaultDataKeyCache bounds how many unwrapped data keys are kept in
// memory; each costs about 250 bytes (the key, its wrapped form and the
// cache's bookkeeping).
const DefaultDataKeyCache = 100_000

// NewSealer returns a sealer using k. cacheSize bounds the in-memory cache
// of unwrapped data keys (DefaultDataKeyCache when 0).
func NewSealer(k *Keyring, cacheSize int) (*Sealer, error) {
	if cacheSize <= 0 {
		cacheSize = DefaultDataKeyCache
	}
	cache, err := lru.New[string, cachedKey](cacheSize)
	if err != nil {
		return nil, err
	}
	idx, err := hkdf.Key(sha256.New, k.index, nil, "custodian blind index v1", KeySize)
	if err != nil {
		return nil, err
	}
	ck, err := hkdf.Key(sha256.New, k.index, nil, "custodian cursor v1", KeySize)
	if err != nil {
		return nil, err
	}
	s := &Sealer{dataKey: cache, index: idx}
	if s.cursor, err = newAEAD(ck); err != nil {
		return nil, err
	}
	s.macs.New = func() any { return hmac.New(sha256.New, s.index) }
	if err := s.SetKeyring(k); err != nil {
		return nil, err
	}
	return s, nil
}

// NewSealerFromSource returns a sealer using the keyring that source
// returns, and calls source again to reload the keyring when it meets a data
// key wrapped by a master key it does not have (for the same key id, at
// most once per ReloadInterval), when its keyring is older than RefreshInterval as it
// wraps a new data key, and on Reload. So a running server keeps reading
// records that a key rotation re-wrapped under a key added after it started,
// and soon wraps new data keys under that key itself.
func NewSealerFromSource(source func() (*Keyring, error), cacheSize int) (*Sealer, error) {
	k, err := source()
	if err != nil {
		return nil, err
	}
	s, err := NewSealer(k, cacheSize)
	if err != nil {
		return nil, err
	}
	s.source, s.loaded = source, time.Now()
	return s, nil
}

// Reload rereads the keyring from the sealer's source now, as on SIGHUP.
// The sealer keeps its keys when the source fails or offers a keyring with
// another index key.
func (s *Sealer) Reload() error {
	if s.source == nil {
		return errors.New("reload keyring: the sealer has no keyring source")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked()
}

// reloadLocked reloads from the source; reloadMu is held.
func (s *Sealer) reloadLocked() error {
	s.loaded, s.tried = time.Now(), map[string]bool{}
	k, err := s.source()
	if err != nil {
		return fmt.Errorf("reload keyring: %w", err)
	}
	if err := s.SetKeyring(k); err != nil {
		return fmt.Errorf("reload keyring: %w", err)
	}
	return nil
}

// reloadFor reloads the keyring to find master key keyID, unless it was
// looked for less than ReloadInterval ago. It reports whether keyID is known afterwards, and the
// reload's error if it failed.
func (s *Sealer) reloadFor(keyID string) (bool, error) {
	if s.source == nil {
		return false, nil
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if _, ok := s.master(keyID); ok {
		return true, nil // another caller reloaded meanwhile
	}
	if s.tried[keyID] && time.Since(s.loaded) < ReloadInterval {
		return false, nil
	}
	err := s.reloadLocked()
	s.tried[keyID] = true
	if err != nil {
		return false, err
	}
	_, ok := s.master(keyID)
	return ok, nil
}

// refresh reloads a keyring older than RefreshInterval, unless a reload is
// already running. A failure keeps the current keys: the next unknown key
// or Reload reports it.
func (s *Sealer) refresh() {
	if s.source == nil || !s.reloadMu.TryLock() {
		return
	}
	defer s.reloadMu.Unlock()
	if time.Since(s.loaded) >= RefreshInterval {
		_ = s.reloadLocked()
	}
}

func (s *Sealer) master(keyID string) (cipher.AEAD, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.masters[keyID]
	return m, ok
}

// SetKeyring replaces the master keys, as after a key was added or retired.
// The index key must not change: tokens already stored depend on it.
func (s *Sealer) SetKeyring(k *Keyring) error {
	masters := make(map[string]cipher.AEAD, len(k.master))
	for id, key := range k.master {
		a, err := newAEAD(key)
		if err != nil {
			return err
		}
		masters[id] = a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keyring != nil && !hmac.Equal(s.keyring.index, k.index) {
		return errors.New("the keyring's index key differs from the one in use")
	}
	s.keyring, s.masters = k, masters
	return nil
}

// ActiveKeyID names the master key that wraps new data keys.
func (s *Sealer) ActiveKeyID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keyring.active
}

// KeyIDs lists the master keys of the keyring in use, which a reload
// may have changed since the sealer was made.
func (s *Sealer) KeyIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keyring.KeyIDs()
}

// HasMasterKey reports whether the sealer's keyring holds master key id.
func (s *Sealer) HasMasterKey(id string) bool {
	_, ok := s.master(id)
	return ok
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// aad binds a ciphertext to its purpose and place: parts are joined with a
// NUL, which no part may contain.
func aad(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func seal(a cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, 1+nonceSize, overhead+len(plaintext))
	out[0] = formatV1
	_, _ = rand.Read(out[1 : 1+nonceSize])
	return a.Seal(out, out[1:1+nonceSize], plaintext, ad)
}

func open(a cipher.AEAD, ct, ad []byte) ([]byte, error) {
	if len(ct) < overhead || ct[0] != formatV1 {
		return nil, ErrDecrypt
	}
	pt, err := a.Open(nil, ct[1:1+nonceSize], ct[1+nonceSize:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// cachedKey is an unwrapped data key with the wrapped form it came from,
// so a re-wrapped or replaced key is never served from a stale entry. The
// key is kept as its 32 bytes, and its cipher made again on each use: an
// AES-GCM cipher holds several hundred bytes of tables, which for a cache
// of DefaultDataKeyCache keys made most of the server's heap, while
// making one costs well under a microsecond.
type cachedKey struct {
	wrapped string
	key     [KeySize]byte
}

// cache remembers customerID's data key, unwrapped from wrapped.
func (s *Sealer) cache(customerID string, wrapped []byte, key []byte) {
	c := cachedKey{wrapped: string(wrapped)}
	copy(c.key[:], key)
	s.dataKey.Add(customerID, c)
}

// DataKey is a customer's data key, ready to seal and open that customer's
// fields. It never leaves memory in plaintext.
type DataKey struct {
	customerID string
	aead       cipher.AEAD
}

// NewDataKey creates a data key for a customer and returns it with the id
// of the master key that wrapped it and the wrapped form to store.
func (s *Sealer) NewDataKey(customerID string) (*DataKey, string, []byte, error) {
	key := randomKey()
	a, err := newAEAD(key)
	if err != nil {
		return nil, "", nil, err
	}
	keyID, wrapped, err := s.wrap(customerID, key)
	if err == nil {
		s.cache(customerID, wrapped, key)
	}
	clear(key)
	if err != nil {
		return nil, "", nil, err
	}
	return &DataKey{customerID: customerID, aead: a}, keyID, wrapped, nil
}

func (s *Sealer) wrap(customerID string, key []byte) (string, []byte, error) {
	s.refresh()
	s.mu.RLock()
	id, m := s.keyring.active, s.masters[s.keyring.active]
	s.mu.RUnlock()
	return id, seal(m, key, aad("custodian data key v1", customerID, id)), nil
}

// OpenDataKey unwraps a customer's data key, from the bounded cache when it
// was unwrapped before. It fails with ErrDecrypt for a wrong key or a data
// key that belongs to another customer, and names an unknown master key.
func (s *Sealer) OpenDataKey(customerID, keyID string, wrapped []byte) (*DataKey, error) {
	return s.OpenCustomerKey(customerID, keyID, wrapped, noShredSecret)
}

// noShredSecret is the shred secret of a data key made by NewDataKey:
// there is none.
func noShredSecret() ([]byte, error) { return nil, nil }

func (s *Sealer) unwrap(customerID, keyID string, wrapped []byte) ([]byte, error) {
	m, ok := s.master(keyID)
	if !ok {
		var err error
		if ok, err = s.reloadFor(keyID); err != nil {
			return nil, fmt.Errorf("data key of %s is wrapped by master key %q, which is not in the keyring (%v): %w", customerID, keyID, err, ErrDecrypt)
		}
		if ok {
			m, _ = s.master(keyID)
		}
	}
	if !ok {
		return nil, fmt.Errorf("data key of %s is wrapped by master key %q, which is not in the keyring: %w", customerID, keyID, ErrDecrypt)
	}
	key, err := open(m, wrapped, aad("custodian data key v1", customerID, keyID))
	if err != nil {
		return nil, fmt.Errorf("data key of %s under master key %q: %w", customerID, keyID, err)
	}
	return key, nil
}

// CheckDataKey reports whether the keyring opens a customer's wrapped data
// key under its master key (the shred secret, when there is one, is not
// needed nor checked): the check a server makes at start that its keyring
// is the one the data was written with.
func (s *Sealer) CheckDataKey(customerID, keyID string, wrapped []byte) error {
	key, err := s.unwrap(customerID, keyID, wrapped)
	clear(key)
	return err
}

// Shreddable reports whether a customer's wrapped data key was made by
// NewShreddableDataKey, and so cannot be opened without the customer's
// shred secret; a key made by NewDataKey (before shred secrets existed)
// needs none. It unwraps the key under its master key to tell.
func (s *Sealer) Shreddable(customerID, keyID string, wrapped []byte) (bool, error) {
	inner, err := s.unwrap(customerID, keyID, wrapped)
	defer clear(inner)
	return len(inner) == wrappedKeyLen, err
}

// Rewrap unwraps a data key and wraps it again under the active master key,
// for key rotation. The data key itself, and so every sealed field, stays
// the same.
func (s *Sealer) Rewrap(customerID, keyID string, wrapped []byte) (string, []byte, error) {
	key, err := s.unwrap(customerID, keyID, wrapped)
	if err != nil {
		return "", nil, err
	}
	defer clear(key)
	return s.wrap(customerID, key)
}

// ShredSecretSize is the size of a customer's shred secret.
const ShredSecretSize = KeySize

// ErrShredded reports a data key whose customer's shred secret is gone:
// the customer was erased, and their data can no longer be decrypted.
var ErrShredded = fmt.Errorf("the customer's shred key was destroyed: %w", ErrDecrypt)

// NewShredSecret returns a fresh random shred secret for a customer.
func NewShredSecret() []byte { return randomKey() }

// wrappedKeyLen is the length of a data key wrapped by a shred secret:
// the ciphertext of a KeySize key. A data key wrapped by the master key
// alone (before shred secrets existed) is KeySize bytes inside the master
// key's wrapping, so the two are told apart by length.
const wrappedKeyLen = overhead + KeySize

// NewShreddableDataKey creates a data key for a customer, wraps it under
// the customer's shred secret and then under the active master key, and
// returns it with the master key id and the wrapped form to store. Opening
// it needs both the master key and the secret: once the secret is
// destroyed, no copy of the wrapped form can be opened.
func (s *Sealer) NewShreddableDataKey(customerID string, secret []byte) (*DataKey, string, []byte, error) {
	if len(secret) != ShredSecretSize {
		return nil, "", nil, fmt.Errorf("shred secret of %s: want %d bytes", customerID, ShredSecretSize)
	}
	key := randomKey()
	defer clear(key)
	a, err := newAEAD(key)
	if err != nil {
		return nil, "", nil, err
	}
	sa, err := newAEAD(secret)
	if err != nil {
		return nil, "", nil, err
	}
	inner := seal(sa, key, aad("custodian shred v1", customerID))
	keyID, wrapped, err := s.wrap(customerID, inner)
	if err != nil {
		return nil, "", nil, err
	}
	s.cache(customerID, wrapped, key)
	return &DataKey{customerID: customerID, aead: a}, keyID, wrapped, nil
}

// HasDataKey reports whether the customer's data key in this wrapped form
// is in the cache, so that opening it needs no shred secret.
func (s *Sealer) HasDataKey(customerID string, wrapped []byte) bool {
	c, ok := s.dataKey.Peek(customerID)
	return ok && c.wrapped == string(wrapped)
}

// OpenCustomerKey unwraps a customer's data key made by NewDataKey or
// NewShreddableDataKey, from the cache when it was unwrapped before.
// secret returns the customer's shred secret, or nil when there is none; it
// is called only for a shreddable key that is not cached. A destroyed
// secret fails with ErrShredded.
func (s *Sealer) OpenCustomerKey(customerID, keyID string, wrapped []byte, secret func() ([]byte, error)) (*DataKey, error) {
	if c, ok := s.dataKey.Get(customerID); ok && c.wrapped == string(wrapped) {
		a, err := newAEAD(c.key[:])
		if err != nil {
			return nil, fmt.Errorf("data key of %s: %w", customerID, ErrDecrypt)
		}
		return &DataKey{customerID: customerID, aead: a}, nil
	}
	inner, err := s.unwrap(customerID, keyID, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(inner)
	key := inner
	if len(inner) == wrappedKeyLen {
		sec, err := secret()
		if err != nil {
			return nil, fmt.Errorf("shred secret of %s: %w", customerID, err)
		}
		if len(sec) == 0 {
			return nil, fmt.Errorf("data key of %s: %w", customerID, ErrShredded)
		}
		sa, err := newAEAD(sec)
		if err != nil {
			return nil, fmt.Errorf("shred secret of %s: %w", customerID, ErrDecrypt)
		}
		if key, err = open(sa, inner, aad("custodian shred v1", customerID)); err != nil {
			return nil, fmt.Errorf("data key of %s under its shred secret: %w", customerID, err)
		}
		defer clear(key)
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("data key of %s: %w", customerID, ErrDecrypt)
	}
	s.cache(customerID, wrapped, key)
	return &DataKey{customerID: customerID, aead: a}, nil
}

// Forget drops the cached data key of a customer, as after deletion or
// erasure, so it no longer lives in memory.
func (s *Sealer) Forget(customerID string) {
	s.dataKey.Remove(customerID)
}

// Seal encrypts one field of the key's customer. The plaintext is padded to
// a multiple of 32 bytes, and the ciphertext is bound to the customer and the
// field name.
func (d *DataKey) Seal(field string, plaintext []byte) []byte {
	padded := make([]byte, len(plaintext), (len(plaintext)/padBlock+1)*padBlock)
	copy(padded, plaintext)
	padded = append(padded, 0x80) // ISO/IEC 7816-4 padding
	padded = padded[:cap(padded)]
	return seal(d.aead, padded, aad("custodian field v1", d.customerID, field))
}

// Open decrypts one field sealed by Seal for the same customer and field.
func (d *DataKey) Open(field string, ct []byte) ([]byte, error) {
	pt, err := open(d.aead, ct, aad("custodian field v1", d.customerID, field))
	if err != nil {
		return nil, fmt.Errorf("field %s of %s: %w", field, d.customerID, err)
	}
	for i := len(pt) - 1; i >= 0; i-- {
		switch pt[i] {
		case 0:
			continue
		case 0x80:
			return pt[:i], nil
		}
		break
	}
	return nil, fmt.Errorf("field %s of %s: bad padding: %w", field, d.customerID, ErrDecrypt)
}

// TokenBits is how many bits of the HMAC a blind-index token keeps. Fewer
// bits mean more unrelated values share a token (less for an attacker to
// learn); candidates are always decrypted and checked, so sharing never
// reaches a client.
const TokenBits = 32

// Token returns the blind-index token of a normalized value in a domain
// (such as "email" or "word"): the first 32 bits of HMAC-SHA-256 under the
// index key, which is separate from every encryption key.
func (s *Sealer) Token(domain, value string) int64 {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(value))
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	s.macs.Put(m)
	return int64(binary.BigEndian.Uint32(sum[:4]))
}

// SealCursor makes an opaque, tamper-proof cursor from b, so that cursors
// can carry sort keys (even a name) without revealing them in URLs or logs.
func (s *Sealer) SealCursor(b []byte) string {
	return base64.RawURLEncoding.EncodeToString(seal(s.cursor, b, []byte("custodian cursor v1")))
}

// OpenCursor returns what SealCursor sealed, or ErrDecrypt.
func (s *Sealer) OpenCursor(c string) ([]byte, error) {
	ct, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, ErrDecrypt
	}
	return open(s.cursor, ct, []byte("custodian cursor v1"))
}

// DerivedKey returns a 32-byte key for purpose (such as "web forms"),
// derived from the keyring's index secret with HKDF-SHA-256. Every server
// holding the same keyring derives the same key, and no two purposes share
// one; it is independent of every encryption and blind-index key.
func (s *Sealer) DerivedKey(purpose string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, s.index, nil, "custodian derived key v1: "+purpose, KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	return k, nil
}
