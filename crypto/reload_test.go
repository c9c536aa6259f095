package crypto

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fileSource is a keyring source reading a real keyring file, counting
// its calls.
type fileSource struct {
	path  string
	calls atomic.Int64
}

func (f *fileSource) load() (*Keyring, error) {
	f.calls.Add(1)
	return readKeyringFile(f.path, true)
}

func TestSealerReloadsForUnknownMasterKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	k, _ := NewKeyring()
	if err := WriteKeyringFile(path, k); err != nil {
		t.Fatal(err)
	}
	src := &fileSource{path: path}
	server, err := NewSealerFromSource(src.load, 0)
	if err != nil {
		t.Fatal(err)
	}
	dk, oldID, wrapped, _ := server.NewDataKey("cus_a")
	ct := dk.Seal("notes", []byte("likes tea"))

	// A rotation elsewhere: a new key in the file, the data key re-wrapped
	// under it by another sealer.
	rotated, _ := readKeyringFile(path, true)
	newID := rotated.AddMasterKey()
	if err := WriteKeyringFile(path, rotated); err != nil {
		t.Fatal(err)
	}
	rotator, _ := NewSealer(rotated, 0)
	gotID, rewrapped, err := rotator.Rewrap("cus_a", oldID, wrapped)
	if err != nil || gotID != newID {
		t.Fatalf("Rewrap = %s, %v", gotID, err)
	}

	// Right after the server's own load: a key id not looked for yet
	// reloads at once.
	server.Forget("cus_a")
	dk2, err := server.OpenDataKey("cus_a", newID, rewrapped)
	if err != nil {
		t.Fatalf("server did not reload the keyring: %v", err)
	}
	if pt, err := dk2.Open("notes", ct); err != nil || string(pt) != "likes tea" {
		t.Fatalf("after reload: %q, %v", pt, err)
	}
	if got := server.ActiveKeyID(); got != newID {
		t.Fatalf("active key after reload = %s, want %s", got, newID)
	}
	// New data keys now go under the new key.
	if _, id, _, _ := server.NewDataKey("cus_b"); id != newID {
		t.Fatalf("new data key under %s, want %s", id, newID)
	}
}

func TestSealerReloadIsRateLimited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	k, _ := NewKeyring()
	_ = WriteKeyringFile(path, k)
	src := &fileSource{path: path}
	server, _ := NewSealerFromSource(src.load, 0)

	// Data keys under a master key that no keyring has: many concurrent
	// readers fail loudly, and the source is read at most once per interval.
	lost, _ := newSealer(t)
	_, lostID, wrapped, _ := lost.NewDataKey("cus_a")
	start := src.calls.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := server.OpenDataKey("cus_a", lostID, wrapped)
			if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "not in the keyring") {
				t.Errorf("lost key: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := src.calls.Load() - start; n != 1 {
		t.Fatalf("%d reloads for one unknown key within %v, want 1", n, ReloadInterval)
	}
	// After the interval, the same key is looked for again.
	time.Sleep(ReloadInterval)
	if _, err := server.OpenDataKey("cus_a", lostID, wrapped); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("lost key: %v", err)
	}
	if n := src.calls.Load() - start; n != 2 {
		t.Fatalf("%d reloads after the interval, want 2", n)
	}
}

func TestSealerReloadKeepsKeysOnBadSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	k, _ := NewKeyring()
	_ = WriteKeyringFile(path, k)
	src := &fileSource{path: path}
	server, _ := NewSealerFromSource(src.load, 0)
	_, id, wrapped, _ := server.NewDataKey("cus_a")

	// A keyring with another index key would orphan every stored token.
	other, _ := NewKeyring()
	_ = WriteKeyringFile(path, other)
	if err := server.Reload(); err == nil || !strings.Contains(err.Error(), "index key") {
		t.Fatalf("reload with another index key: %v", err)
	}
	// An unreadable source.
	src.path = filepath.Join(t.TempDir(), "missing.json")
	if err := server.Reload(); err == nil {
		t.Fatal("reload from a missing file succeeded")
	}
	server.Forget("cus_a")
	if _, err := server.OpenDataKey("cus_a", id, wrapped); err != nil {
		t.Fatalf("keys lost after failed reloads: %v", err)
	}
	plain, _ := newSealer(t)
	if err := plain.Reload(); err == nil {
		t.Fatal("a sealer without a source reloaded")
	}
}

// TestSealerRefreshesAStaleKeyring checks that a sealer whose keyring is
// older than RefreshInterval reloads it before wrapping a new data key, so
// that a key added elsewhere becomes the active one everywhere, and that a
// fresh keyring is not reloaded.
func TestSealerRefreshesAStaleKeyring(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	k, _ := NewKeyring()
	if err := WriteKeyringFile(path, k); err != nil {
		t.Fatal(err)
	}
	src := &fileSource{path: path}
	server, err := NewSealerFromSource(src.load, 0)
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := readKeyringFile(path, true)
	newID := rotated.AddMasterKey()
	if err := WriteKeyringFile(path, rotated); err != nil {
		t.Fatal(err)
	}
	calls := src.calls.Load()
	if _, id, _, _ := server.NewDataKey("cus_a"); id == newID || src.calls.Load() != calls {
		t.Fatalf("a fresh keyring was reloaded (%d loads, key %s)", src.calls.Load()-calls, id)
	}
	server.reloadMu.Lock()
	server.loaded = time.Now().Add(-RefreshInterval - time.Second)
	server.reloadMu.Unlock()
	if _, id, _, _ := server.NewDataKey("cus_b"); id != newID {
		t.Fatalf("a stale keyring was not reloaded: new data key under %s, want %s", id, newID)
	}
}
