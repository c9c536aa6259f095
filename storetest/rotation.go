package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/rotation"
)

// keyFile stands for a keyring file shared by a server and the rotation
// command: the server's sealer reloads from it.
type keyFile struct {
	k atomic.Pointer[crypto.Keyring]
}

func (f *keyFile) load() (*crypto.Keyring, error) { return f.k.Load(), nil }

// rotated returns a copy of the file's keyring with a new active master
// key, as "custodian keys rotate" writes it, and that key's id.
func (f *keyFile) rotated(t *testing.T) (*crypto.Keyring, string) {
	t.Helper()
	b, err := f.k.Load().MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.ParseKeyring(b)
	if err != nil {
		t.Fatal(err)
	}
	return k, k.AddMasterKey()
}

// rotationEnv is a server whose sealer reloads its keyring from a shared
// file, over the backend under test.
type rotationEnv struct {
	*env
	file   *keyFile
	server *crypto.Sealer
	svc    *customers.Service
}

func newRotationEnv(t *testing.T, e *env) *rotationEnv {
	t.Helper()
	f := &keyFile{}
	f.k.Store(newKeyring(t))
	server, err := crypto.NewSealerFromSource(f.load, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &rotationEnv{env: e, file: f, server: server, svc: newService(e.Repo, server, customers.Options{})}
}

// seedN imports n customers and returns their ids.
func (r *rotationEnv) seedN(t *testing.T, n int) []string {
	t.Helper()
	fs := make([]custodian.CustomerFields, n)
	for i := range fs {
		fs[i] = custodian.CustomerFields{Name: fmt.Sprintf("Rotation Customer%d", i), Email: fmt.Sprintf("rot%d@example.com", i), Notes: "v0"}
	}
	cs, err := r.svc.ImportCustomers(r.ctx, fs)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// rotate writes a rotated keyring to the shared file and returns a sealer
// holding it, as the rotation command does before re-wrapping.
func (r *rotationEnv) rotate(t *testing.T) (*crypto.Sealer, string) {
	t.Helper()
	k, id := r.file.rotated(t)
	r.file.k.Store(k)
	return sealerOf(t, k), id
}

func usage(t *testing.T, e *env) map[string]int64 {
	t.Helper()
	u, err := e.Repo.KeyUsage(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func testKeyUsageAndRewrap(t *testing.T, e *env) {
	r := newRotationEnv(t, e)
	if u := usage(t, e); len(u) != 0 {
		t.Fatalf("usage of an empty database = %v", u)
	}
	ids := r.seedN(t, 7)
	oldID := r.server.ActiveKeyID()
	if u := usage(t, e); !maps.Equal(u, map[string]int64{oldID: 7}) {
		t.Fatalf("usage = %v, want 7 under %s", u, oldID)
	}
	before := map[string]*custodian.CustomerRecord{}
	for _, id := range ids {
		before[id], _ = e.Repo.CustomerRecord(e.ctx, id)
	}

	rot, newID := r.rotate(t)
	// Batches of 3: 3, 3, 1, then none left.
	var got []int
	for {
		n, err := e.Repo.RewrapDataKeys(e.ctx, newID, 3, rot.Rewrap)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n == 0 {
			break
		}
		if u := usage(t, e); u[oldID]+u[newID] != 7 {
			t.Fatalf("usage mid-rotation = %v", u)
		}
	}
	if fmt.Sprint(got) != "[3 3 1 0]" {
		t.Fatalf("batches re-wrapped %v, want [3 3 1 0]", got)
	}
	// Each batch that changed something is on the audit trail.
	evs, err := e.Repo.AuditEvents(e.ctx, custodian.AuditQuery{Action: custodian.ActionKeyRotate})
	if err != nil {
		t.Fatal(err)
	}
	var batches []string
	for _, ev := range evs {
		if ev.Subject != newID {
			t.Fatalf("rotation event subject %q, want %q", ev.Subject, newID)
		}
		batches = append(batches, string(ev.Data))
	}
	if want := []string{`{"rewrapped":1}`, `{"rewrapped":3}`, `{"rewrapped":3}`}; !slices.Equal(batches, want) {
		t.Fatalf("rotation events %q, want %q (newest first)", batches, want)
	}
	if u := usage(t, e); !maps.Equal(u, map[string]int64{newID: 7}) {
		t.Fatalf("usage after = %v, want 7 under %s", u, newID)
	}
	// Only the wrapped key changed: sealed fields, version, times and
	// tokens are the same, and the record opens.
	for _, id := range ids {
		after, err := e.Repo.CustomerRecord(e.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b := before[id]
		if after.KeyID != newID || string(after.DataKey) == string(b.DataKey) || string(after.Sealed["name"]) != string(b.Sealed["name"]) ||
			string(after.Sealed["notes"]) != string(b.Sealed["notes"]) || after.Version != b.Version || !after.UpdatedAt.Equal(b.UpdatedAt) {
			t.Fatalf("record changed beyond its data key:\n before %+v\n after  %+v", b, after)
		}
	}
	if got := walk(t, e.withService(r.svc), custodian.CustomerQuery{Search: "rot3@example.com"}); len(got) != 1 || got[0] != ids[3] {
		t.Fatalf("search after rotation = %v", got)
	}

	// A failing rewrap aborts its whole batch.
	rot2, newer := r.rotate(t)
	calls := 0
	_, err = e.Repo.RewrapDataKeys(e.ctx, newer, 5, func(id, keyID string, wrapped []byte) (string, []byte, error) {
		if calls++; calls == 3 {
			return "", nil, crypto.ErrDecrypt
		}
		return rot2.Rewrap(id, keyID, wrapped)
	})
	if !errors.Is(err, crypto.ErrDecrypt) {
		t.Fatalf("rewrap error = %v, want ErrDecrypt in the chain", err)
	}
	if u := usage(t, e); !maps.Equal(u, map[string]int64{newID: 7}) {
		t.Fatalf("a failed batch changed rows: %v", u)
	}
}

// withService returns a copy of e whose service is svc.
func (e *env) withService(svc *customers.Service) *env {
	c := *e
	c.svc = svc
	return &c
}

func testRotationUnderConcurrentWrites(t *testing.T, e *env) {
	r := newRotationEnv(t, e)
	ids := r.seedN(t, 200)
	oldID := r.server.ActiveKeyID()
	rot, newID := r.rotate(t)

	// Writers update existing customers and create new ones through the
	// server while the rotation runs; they record every acknowledged write.
	const writers, ops = 4, 40
	var mu sync.Mutex
	notes := map[string]string{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range ops {
				if i%4 == 3 {
					c, err := r.svc.CreateCustomer(r.ctx, custodian.CustomerFields{Name: fmt.Sprintf("Created W%d I%d", w, i), Notes: "created"})
					if err != nil {
						t.Errorf("create during rotation: %v", err)
						return
					}
					mu.Lock()
					notes[c.ID] = "created"
					mu.Unlock()
					continue
				}
				id := ids[w*len(ids)/writers+i%(len(ids)/writers)] // each writer has its own customers
				n := fmt.Sprintf("w%d-op%d", w, i)
				if _, err := r.svc.UpdateCustomer(r.ctx, id, 0, custodian.CustomerPatch{Notes: &n}); err != nil {
					t.Errorf("update during rotation: %v", err)
					return
				}
				mu.Lock()
				notes[id] = n
				mu.Unlock()
			}
		}()
	}
	var batches atomic.Int64
	done := make(chan error, 1)
	go func() {
		_, err := rotation.Rewrap(e.ctx, e.Repo, rot, rotation.Options{Batch: 10, OnBatch: func(p rotation.Progress) {
			if batches.Add(1) == 1 {
				close(start) // writers start once the rotation is under way
			}
			time.Sleep(2 * time.Millisecond) // and overlap it
		}})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Customers created by the server before it loaded the new key are
	// under the old one; the rotation, run again, takes them too.
	res, err := rotation.Rewrap(e.ctx, e.Repo, rot, rotation.Options{Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(res.Usage, map[string]int64{newID: int64(len(ids) + writers*ops/4)}) {
		t.Fatalf("usage after rotation = %v, want every customer under %s (old key %s)", res.Usage, newID, oldID)
	}
	// Every customer opens, with a fresh sealer holding only the new key,
	// and every acknowledged write is there.
	k, _ := r.file.load()
	if err := k.RemoveMasterKey(oldID); err != nil {
		t.Fatal(err)
	}
	fresh := sealerOf(t, k)
	check := customers.New(e.Repo, fresh, customers.Options{})
	for _, id := range ids {
		if _, ok := notes[id]; !ok {
			notes[id] = "v0"
		}
	}
	for id, want := range notes {
		for name, svc := range map[string]*customers.Service{"server": r.svc, "new key only": check} {
			c, err := svc.Customer(e.ctx, id)
			if err != nil {
				t.Fatalf("customer %s after rotation (%s): %v", id, name, err)
			}
			if c.Notes != want {
				t.Fatalf("customer %s notes = %q, want %q: a write was lost", id, c.Notes, want)
			}
		}
	}
	if got := r.server.ActiveKeyID(); got != newID {
		t.Fatalf("the server still wraps new data keys under %s, want %s", got, newID)
	}
}

func testRotationResumes(t *testing.T, e *env) {
	r := newRotationEnv(t, e)
	ids := r.seedN(t, 50)
	oldID := r.server.ActiveKeyID()
	rot, newID := r.rotate(t)

	ctx, cancel := context.WithCancel(e.ctx)
	res, err := rotation.Rewrap(ctx, e.Repo, rot, rotation.Options{Batch: 10, OnBatch: func(p rotation.Progress) {
		if p.Rewrapped >= 20 {
			cancel() // Ctrl-C after two batches
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rotation returned %v", err)
	}
	if res.Rewrapped != 20 || !maps.Equal(res.Usage, map[string]int64{oldID: 30, newID: 20}) {
		t.Fatalf("interrupted: rewrapped %d, usage %v; want 20 and 30/20", res.Rewrapped, res.Usage)
	}
	// Half-rotated, every customer still opens through the server.
	for _, id := range ids {
		if _, err := r.svc.Customer(e.ctx, id); err != nil {
			t.Fatalf("customer %s mid-rotation: %v", id, err)
		}
	}
	res, err = rotation.Rewrap(e.ctx, e.Repo, rot, rotation.Options{Batch: 10})
	if err != nil || res.Rewrapped != 30 || !maps.Equal(res.Usage, map[string]int64{newID: 50}) {
		t.Fatalf("resumed: %d rewrapped, usage %v, %v; want 30 and all 50 under %s", res.Rewrapped, res.Usage, err, newID)
	}
	// Two rotations at once share the work and never re-wrap a key twice.
	rot2, newer := r.rotate(t)
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := rotation.Rewrap(e.ctx, e.Repo, rot2, rotation.Options{Batch: 7})
			if err != nil {
				t.Error(err)
			}
			total.Add(res.Rewrapped)
		}()
	}
	wg.Wait()
	if total.Load() != 50 || !maps.Equal(usage(t, e), map[string]int64{newer: 50}) {
		t.Fatalf("two concurrent rotations re-wrapped %d, usage %v; want 50 under %s", total.Load(), usage(t, e), newer)
	}
}

func testRotationRefusesUnknownKey(t *testing.T, e *env) {
	r := newRotationEnv(t, e)
	r.seedN(t, 3)
	// A keyring that lacks the key the records are under: the rotation
	// refuses before changing anything, and says how many records are lost.
	_, other := newSealer(t)
	res, err := rotation.Rewrap(e.ctx, e.Repo, other, rotation.Options{})
	if !errors.Is(err, rotation.ErrUnknownKey) || res.Rewrapped != 0 {
		t.Fatalf("rotation with a keyring missing the key: %d, %v", res.Rewrapped, err)
	}
	want := fmt.Sprintf("3 under %s", r.server.ActiveKeyID())
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}
