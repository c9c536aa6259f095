package crypto

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func newSealer(t testing.TB) (*Sealer, *Keyring) {
	t.Helper()
	k, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(k, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestSealOpenRoundTrip(t *testing.T) {
	s, _ := newSealer(t)
	dk, keyID, wrapped, err := s.NewDataKey("cus_a")
	if err != nil {
		t.Fatal(err)
	}
	if keyID != s.ActiveKeyID() {
		t.Fatalf("wrapped by %s, want active %s", keyID, s.ActiveKeyID())
	}
	for _, pt := range []string{"", "a", "Ada Lovelace", strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("z", 1000), "tail\x00\x00"} {
		ct := dk.Seal("name", []byte(pt))
		// (Only plaintexts of 6 bytes or more: a short one turns up in
		// random bytes by chance.)
		if len(pt) >= 6 && bytes.Contains(ct, []byte(pt)) {
			t.Fatalf("ciphertext contains plaintext %q", pt)
		}
		if want := (len(pt)/padBlock + 1) * padBlock; len(ct)-overhead != want {
			t.Fatalf("ciphertext of %d bytes is not padded to %d: %d", len(pt), padBlock, len(ct))
		}
		// Open with a freshly unwrapped key (not the cached one).
		s2, _ := NewSealer(s.keyring, 0)
		dk2, err := s2.OpenDataKey("cus_a", keyID, wrapped)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dk2.Open("name", ct)
		if err != nil || string(got) != pt {
			t.Fatalf("Open = %q, %v; want %q", got, err, pt)
		}
	}
}

func TestCiphertextIsBoundToCustomerAndField(t *testing.T) {
	s, _ := newSealer(t)
	a, keyA, wrappedA, _ := s.NewDataKey("cus_a")
	ct := a.Seal("email", []byte("ada@example.com"))

	if _, err := a.Open("name", ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("value moved to another column opened: %v", err)
	}
	// The same data key presented as another customer's does not unwrap.
	if _, err := s.OpenDataKey("cus_b", keyA, wrappedA); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("data key moved to another row unwrapped: %v", err)
	}
	b, _, _, _ := s.NewDataKey("cus_b")
	if _, err := b.Open("email", ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("value moved to another row opened: %v", err)
	}
	// The binding is unambiguous: moving characters between the customer
	// id and the field name does not open the value.
	shifted := &DataKey{customerID: "cus_ab", aead: a.aead}
	if _, err := shifted.Open("notes", a.Seal("bnotes", []byte("likes tea"))); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("value of cus_a's field bnotes opened as cus_ab's notes: %v", err)
	}
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1
	if _, err := a.Open("email", tampered); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered value opened: %v", err)
	}
}

func TestWrongKeyringFailsLoudly(t *testing.T) {
	s, _ := newSealer(t)
	_, keyID, wrapped, _ := s.NewDataKey("cus_a")
	other, _ := newSealer(t)
	if _, err := other.OpenDataKey("cus_a", keyID, wrapped); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "not in the keyring") {
		t.Fatalf("unknown master key: %v", err)
	}
	// Same key id, different key material.
	k2, _ := NewKeyring()
	k2.master[keyID] = k2.master[k2.active]
	k2.active = keyID
	s2, _ := NewSealer(k2, 0)
	if _, err := s2.OpenDataKey("cus_a", keyID, wrapped); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong master key material: %v", err)
	}
}

func TestRewrapKeepsDataReadable(t *testing.T) {
	s, k := newSealer(t)
	dk, oldID, wrapped, _ := s.NewDataKey("cus_a")
	ct := dk.Seal("notes", []byte("likes tea"))
	newID := k.AddMasterKey()
	if err := s.SetKeyring(k); err != nil {
		t.Fatal(err)
	}
	gotID, rewrapped, err := s.Rewrap("cus_a", oldID, wrapped)
	if err != nil || gotID != newID {
		t.Fatalf("Rewrap = %s, %v; want %s", gotID, err, newID)
	}
	if err := k.RemoveMasterKey(oldID); err != nil {
		t.Fatal(err)
	}
	fresh, _ := NewSealer(k, 0)
	dk2, err := fresh.OpenDataKey("cus_a", gotID, rewrapped)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := dk2.Open("notes", ct); err != nil || string(pt) != "likes tea" {
		t.Fatalf("after rotation: %q, %v", pt, err)
	}
	if _, err := fresh.OpenDataKey("cus_a", oldID, wrapped); err == nil {
		t.Fatal("retired master key still unwraps")
	}
	if err := k.RemoveMasterKey(k.ActiveKeyID()); err == nil {
		t.Fatal("removed the active key")
	}
	if ids := k.KeyIDs(); !slices.Equal(ids, []string{newID}) {
		t.Fatalf("after retiring %s the keyring lists %v, want [%s]", oldID, ids, newID)
	}
}

func TestTokens(t *testing.T) {
	s, k := newSealer(t)
	a := s.Token("email", "ada@example.com")
	if a != s.Token("email", "ada@example.com") {
		t.Fatal("token not deterministic")
	}
	if a == s.Token("word", "ada@example.com") {
		t.Fatal("token domains not separated")
	}
	if a < 0 || a >= 1<<TokenBits {
		t.Fatalf("token %d out of range", a)
	}
	other, _ := newSealer(t)
	if a == other.Token("email", "ada@example.com") {
		t.Fatal("token does not depend on the index key")
	}
	// Rotating master keys keeps tokens.
	k.AddMasterKey()
	if err := s.SetKeyring(k); err != nil {
		t.Fatal(err)
	}
	if a != s.Token("email", "ada@example.com") {
		t.Fatal("token changed with master key rotation")
	}
	if err := s.SetKeyring(other.keyring); err == nil {
		t.Fatal("accepted a keyring with another index key")
	}
}

func TestCursor(t *testing.T) {
	s, _ := newSealer(t)
	c := s.SealCursor([]byte(`{"n":"ada lovelace"}`))
	if strings.Contains(c, "ada") {
		t.Fatal("cursor reveals its content")
	}
	b, err := s.OpenCursor(c)
	if err != nil || string(b) != `{"n":"ada lovelace"}` {
		t.Fatalf("OpenCursor = %q, %v", b, err)
	}
	flipped := []byte(c)
	if flipped[10] == 'B' {
		flipped[10] = 'C'
	} else {
		flipped[10] = 'B'
	}
	for _, bad := range []string{"", "!!", c[:len(c)-2], string(flipped)} {
		if _, err := s.OpenCursor(bad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("OpenCursor(%q) = %v", bad, err)
		}
	}
}

func TestKeyringFileAndLoad(t *testing.T) {
	dir := t.TempDir()
	k, src, path, err := LoadKeyring(LoadOptions{DataDir: dir})
	if err != nil || src != SourceGenerated {
		t.Fatalf("LoadKeyring = %v, %v", src, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated keyring mode %v, %v", fi.Mode(), err)
	}
	k2, src, _, err := LoadKeyring(LoadOptions{DataDir: dir})
	if err != nil || src != SourceDataDir || k2.ActiveKeyID() != k.ActiveKeyID() {
		t.Fatalf("reload = %v, %v", src, err)
	}
	if s := k.String(); strings.Contains(s, "=") {
		t.Fatalf("String reveals key material: %s", s)
	}

	if _, _, _, err := LoadKeyring(LoadOptions{DataDir: dir, Production: true}); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("production without a key: %v", err)
	}
	keyFile := filepath.Join(dir, "prod.json")
	if err := WriteKeyringFile(keyFile, k); err != nil {
		t.Fatal(err)
	}
	if _, src, _, err := LoadKeyring(LoadOptions{File: keyFile, Production: true}); err != nil || src != SourceFile {
		t.Fatalf("0600 key file refused: %v", err)
	}
	os.Chmod(keyFile, 0o640)
	if _, _, _, err := LoadKeyring(LoadOptions{File: keyFile, Production: true}); err == nil || !strings.Contains(err.Error(), "readable by group or others") {
		t.Fatalf("group-readable key file: %v", err)
	}
	text, _ := k.MarshalText()
	if _, src, _, err := LoadKeyring(LoadOptions{Env: string(text), Production: true}); err != nil || src != SourceEnv {
		t.Fatalf("env keyring: %v", err)
	}
	for _, bad := range []string{"", "{}", `{"format":"custodian-keyring/v1","active":"x","keys":[],"index_key":""}`, strings.Replace(string(text), `"format"`, `"extra":1,"format"`, 1)} {
		if _, err := ParseKeyring([]byte(bad)); err == nil {
			t.Fatalf("ParseKeyring accepted %q", bad)
		}
	}
}

func TestForgetDropsCachedKey(t *testing.T) {
	s, k := newSealer(t)
	_, oldID, wrapped, _ := s.NewDataKey("cus_a")
	k.AddMasterKey()
	if err := k.RemoveMasterKey(oldID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyring(k); err != nil {
		t.Fatal(err)
	}
	// Still cached: the master key is not needed.
	if _, err := s.OpenDataKey("cus_a", oldID, wrapped); err != nil {
		t.Fatalf("cached key: %v", err)
	}
	// A different wrapped form is never served from the cache.
	other := bytes.Clone(wrapped)
	other[len(other)-1] ^= 1
	if _, err := s.OpenDataKey("cus_a", oldID, other); err == nil {
		t.Fatal("a different wrapped key was served from the cache")
	}
	s.Forget("cus_a")
	if _, err := s.OpenDataKey("cus_a", oldID, wrapped); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("after Forget the key still opened: %v", err)
	}
}

func TestAuditChainKey(t *testing.T) {
	k, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	key := k.AuditChainKey()
	if len(key) != KeySize {
		t.Fatalf("key is %d bytes", len(key))
	}
	// Stable across master key rotation: events sealed before a rotation
	// still verify after it.
	k.AddMasterKey()
	if !bytes.Equal(k.AuditChainKey(), key) {
		t.Fatal("the chain key changed with a master key rotation")
	}
	other, _ := NewKeyring()
	if bytes.Equal(other.AuditChainKey(), key) {
		t.Fatal("two keyrings derive the same chain key")
	}
}
