package password

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// cheap are parameters far below the floor, used only where a test needs
// many hashes and the cost is irrelevant to what it checks.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func cheapHasher(t *testing.T, maxConcurrent int) *Hasher {
	t.Helper()
	h, err := newHasher(cheap, maxConcurrent)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// defaultHasher returns a hasher with the default configuration: the
// parameters and concurrency servers use.
func defaultHasher(tb testing.TB) *Hasher {
	tb.Helper()
	h, err := NewHasher(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

var phcShape = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

func TestHashVerifyDefaults(t *testing.T) {
	ctx := context.Background()
	h := defaultHasher(t)
	if got := h.Params(); got != (Params{Memory: DefaultMemoryKiB, Time: DefaultTime, Threads: DefaultThreads}) {
		t.Fatalf("default params = %+v", got)
	}
	const pw = "violet staple orbit kettle"
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	m := phcShape.FindStringSubmatch(enc)
	if m == nil {
		t.Fatalf("hash %q is not a PHC argon2id string with 16-byte salt and 32-byte key", enc)
	}
	if m[1] != "47104" || m[2] != "2" || m[3] != "1" {
		t.Fatalf("encoded params m=%s t=%s p=%s", m[1], m[2], m[3])
	}
	if strings.Contains(enc, pw) {
		t.Fatal("hash contains the password")
	}
	ok, rehash, err := h.Verify(ctx, pw, enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, _, err = h.Verify(ctx, pw+"x", enc)
	if err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v; want false, nil", ok, err)
	}

	// Salts are random: hashing the same password twice differs.
	c := cheapHasher(t, 0)
	a, err := c.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of the same password are equal: salt is not random")
	}
}

// TestVerifyKnownAnswers checks vectors produced by the reference argon2
// implementation (the phc-winner-argon2 command-line tool), so the encoding
// and parameter handling interoperate with other argon2id implementations.
func TestVerifyKnownAnswers(t *testing.T) {
	tests := []struct {
		name     string
		password string
		encoded  string
		current  Params
		rehash   bool
	}{
		{
			name:     "ascii m=1024 t=2 p=1",
			password: "correct horse battery staple",
			encoded:  "$argon2id$v=19$m=1024,t=2,p=1$Y3VzdG9kaWFuLWthdC1zYWx0$Ukm45UzbgzlEdkCV6mO9bjp0w2VytlZrq8gh3yjBovc",
			current:  Params{Memory: 1024, Time: 2, Threads: 1},
			// Same cost, but an 18-byte salt: re-hashing gives the
			// standard 16-byte salt.
			rehash: true,
		},
		{
			name:     "four lanes, other current params",
			password: "correct horse battery staple",
			encoded:  "$argon2id$v=19$m=2048,t=3,p=4$Y3VzdG9kaWFuLWthdC1zYWx0$bQFpsHqXODH4fAatzL8eSzrp38uxGUZLr5OuO3L5XiY",
			current:  Params{Memory: 1024, Time: 2, Threads: 1},
			rehash:   true,
		},
		{
			// The reference tool hashed the NFKC form; the ligature ﬁ
			// typed here must normalise to "fi".
			name:     "NFKC ligature",
			password: "pässwörd \ufb01ne",
			encoded:  "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$nCH3HlsxqVTXfoeeAxXkdphhFMZ8jKG8zjyhqzPH6J0",
			current:  Params{Memory: 1024, Time: 1, Threads: 1},
		},
		{
			name:     "NFKC decomposed umlauts",
			password: "pa\u0308sswo\u0308rd fine",
			encoded:  "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$nCH3HlsxqVTXfoeeAxXkdphhFMZ8jKG8zjyhqzPH6J0",
			current:  Params{Memory: 1024, Time: 1, Threads: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := newHasher(tt.current, 1)
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := h.Verify(context.Background(), tt.password, tt.encoded)
			if err != nil || !ok || rehash != tt.rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.rehash)
			}
		})
	}
}

// TestVerifyExactlyAsTyped checks that nothing but NFKC is applied: no
// trimming, case folding or truncation.
func TestVerifyExactlyAsTyped(t *testing.T) {
	ctx := context.Background()
	h := cheapHasher(t, 0)
	const stored = "Lantern quietly Ocean 42 "
	enc, err := h.Hash(ctx, stored)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typed string
		want  bool
	}{
		{stored, true},
		{strings.TrimSpace(stored), false},
		{strings.ToLower(stored), false},
		{strings.ToUpper(stored), false},
		{stored[:len(stored)-2], false},
		{stored + " ", false},
		{" " + stored, false},
		{"", false},
	}
	for _, tt := range tests {
		ok, _, err := h.Verify(ctx, tt.typed, enc)
		if err != nil {
			t.Fatal(err)
		}
		if ok != tt.want {
			t.Errorf("Verify(%q) = %v, want %v", tt.typed, ok, tt.want)
		}
	}

	// Long passwords are hashed whole: two that differ only after
	// byte 200 must not verify against each other.
	long := strings.Repeat("abcdefghij", 20)
	enc, err = h.Hash(ctx, long+"tail-one")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := h.Verify(ctx, long+"tail-two", enc); ok {
		t.Fatal("password truncated before hashing")
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old, err := newHasher(Params{Memory: 64, Time: 1, Threads: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		current Params
		rehash  bool
	}{
		{"same", Params{Memory: 64, Time: 1, Threads: 1}, false},
		{"more memory", Params{Memory: 128, Time: 1, Threads: 1}, true},
		{"more passes", Params{Memory: 64, Time: 2, Threads: 1}, true},
		{"more lanes", Params{Memory: 64, Time: 1, Threads: 2}, true},
	}
	enc, err := old.Hash(ctx, "some password")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := newHasher(tt.current, 0)
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := h.Verify(ctx, "some password", enc)
			if err != nil || !ok || rehash != tt.rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.rehash)
			}
			ok, rehash, err = h.Verify(ctx, "other password", enc)
			if err != nil || ok || rehash {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := cheapHasher(t, 0)
	const salt = "c29tZXNhbHRzb21lc2FsdA"
	const key = "nCH3HlsxqVTXfoeeAxXkdphhFMZ8jKG8zjyhqzPH6J0"
	tests := []struct {
		name    string
		encoded string
		want    error
	}{
		{"empty", "", ErrMalformedHash},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", ErrMalformedHash},
		{"argon2i", "$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"version 16", "$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"no version", "$argon2id$m=1024,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"params order", "$argon2id$v=19$t=1,m=1024,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"param leading zero", "$argon2id$v=19$m=01024,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"param negative", "$argon2id$v=19$m=1024,t=-1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"extra param", "$argon2id$v=19$m=1024,t=1,p=1,k=1$" + salt + "$" + key, ErrMalformedHash},
		{"zero time", "$argon2id$v=19$m=1024,t=0,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"huge memory", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"huge time", "$argon2id$v=19$m=1024,t=1000,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"memory below lanes", "$argon2id$v=19$m=8,t=1,p=4$" + salt + "$" + key, ErrUnsupportedHash},
		{"bad salt base64", "$argon2id$v=19$m=1024,t=1,p=1$!!!!$" + key, ErrMalformedHash},
		{"padded key", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key + "=", ErrMalformedHash},
		{"short salt", "$argon2id$v=19$m=1024,t=1,p=1$YWJj$" + key, ErrUnsupportedHash},
		{"short key", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$YWJjZGVm", ErrUnsupportedHash},
		{"trailing field", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key + "$x", ErrMalformedHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), "pässwörd fine", tt.encoded)
			if ok || rehash {
				t.Fatalf("malformed hash verified: ok=%v rehash=%v", ok, rehash)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewHasherParams(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		want error
	}{
		{"defaults", Params{}, nil},
		{"owasp minimum", Params{Memory: 19 * 1024, Time: 2, Threads: 1}, nil},
		{"stronger", Params{Memory: 46 * 1024, Time: 3, Threads: 2}, nil},
		{"memory too low", Params{Memory: 19*1024 - 1, Time: 2, Threads: 1}, ErrWeakParams},
		{"one pass", Params{Memory: 19 * 1024, Time: 1, Threads: 1}, ErrWeakParams},
		{"absurd memory", Params{Memory: 1<<20 + 1, Time: 2, Threads: 1}, ErrUnsupportedHash},
		{"largest stored", Params{Memory: maxStoredMemoryKiB, Time: maxStoredTime, Threads: maxStoredThreads}, nil},
		{"too many passes", Params{Memory: 19 * 1024, Time: maxStoredTime + 1, Threads: 1}, ErrUnsupportedHash},
		{"too many threads", Params{Memory: 19 * 1024, Time: 2, Threads: maxStoredThreads + 1}, ErrUnsupportedHash},
		{"fewest threads", Params{Memory: 19 * 1024, Time: 2, Threads: MinThreads}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHasher(Config{Params: tt.p})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestInputTooLong(t *testing.T) {
	ctx := context.Background()
	h := cheapHasher(t, 0)
	huge := strings.Repeat("a", MaxInputBytes+1)
	if _, err := h.Hash(ctx, huge); !errors.Is(err, ErrInputTooLong) {
		t.Fatalf("Hash err = %v", err)
	}
	enc, err := h.Hash(ctx, strings.Repeat("a", MaxInputBytes))
	if err != nil {
		t.Fatalf("Hash at the limit: %v", err)
	}
	if _, _, err := h.Verify(ctx, huge, enc); !errors.Is(err, ErrInputTooLong) {
		t.Fatalf("Verify err = %v", err)
	}
	if err := h.VerifyDummy(ctx, huge); !errors.Is(err, ErrInputTooLong) {
		t.Fatalf("VerifyDummy err = %v", err)
	}
	if ok, _, err := h.Verify(ctx, strings.Repeat("a", MaxInputBytes), enc); !ok || err != nil {
		t.Fatalf("Verify at the limit = %v, %v", ok, err)
	}
	if err := h.VerifyDummy(ctx, strings.Repeat("a", MaxInputBytes)); err != nil {
		t.Fatalf("VerifyDummy at the limit: %v", err)
	}
}

// TestConcurrencyLimitWaits holds the only slot and checks that each
// hashing entry point queues for it and proceeds once it is freed.
func TestConcurrencyLimitWaits(t *testing.T) {
	ctx := context.Background()
	h := cheapHasher(t, 1)
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Hash": func() error { _, err := h.Hash(ctx, "pw"); return err },
		"Verify": func() error {
			ok, _, err := h.Verify(ctx, "pw", enc)
			if err == nil && !ok {
				return errors.New("did not verify")
			}
			return err
		},
		"VerifyDummy": func() error { return h.VerifyDummy(ctx, "pw") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			waiting := make(chan struct{})
			h.onWait = func() { close(waiting) }
			defer func() { h.onWait = nil }()

			if err := h.acquire(ctx); err != nil { // occupy the only slot
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- call() }()
			<-waiting // the call found no free slot and is queued
			select {
			case err := <-done:
				t.Fatalf("%s finished while the only slot was held: %v", name, err)
			default:
			}
			h.release()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	h := cheapHasher(t, 1)
	waiting := make(chan struct{})
	h.onWait = func() { close(waiting) }
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.release()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "pw")
		done <- err
	}()
	<-waiting
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash err = %v, want context.Canceled", err)
	}

	// An already-cancelled context is refused even when a slot is free.
	h2 := cheapHasher(t, 1)
	if _, _, err := h2.Verify(ctx, "pw", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$nCH3HlsxqVTXfoeeAxXkdphhFMZ8jKG8zjyhqzPH6J0"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify err = %v, want context.Canceled", err)
	}
	if err := h2.VerifyDummy(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyDummy err = %v, want context.Canceled", err)
	}
}

// TestConcurrencyBound checks that exactly the configured number of
// hashes proceed at once, and that the default is GOMAXPROCS.
func TestConcurrencyBound(t *testing.T) {
	ctx := context.Background()
	const limit = 2
	h := cheapHasher(t, limit)
	queued := make(chan struct{}, 1)
	h.onWait = func() { queued <- struct{}{} }
	for i := range limit {
		if err := h.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-queued:
			t.Fatalf("slot %d of %d was not granted at once", i+1, limit)
		default:
		}
	}
	done := make(chan error, 1)
	go func() { _, err := h.Hash(ctx, "pw"); done <- err }()
	<-queued // one past the limit has to queue
	h.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.release()
	if len(h.sem) != 0 {
		t.Fatalf("%d slots still held", len(h.sem))
	}

	if d := cheapHasher(t, 0); cap(d.sem) != runtime.GOMAXPROCS(0) {
		t.Fatalf("default limit %d, want GOMAXPROCS %d", cap(d.sem), runtime.GOMAXPROCS(0))
	}
}

// TestVerifyDummyCost checks that VerifyDummy does the work of a real
// Verify with the current parameters: argon2id allocates its memory cost,
// so both must allocate about the same.
func TestVerifyDummyCost(t *testing.T) {
	ctx := context.Background()
	p := Params{Memory: 4096, Time: 1, Threads: 1}
	h, err := newHasher(p, 1)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	verify := allocated(func() {
		if _, _, err := h.Verify(ctx, "wrong", enc); err != nil {
			t.Error(err)
		}
	})
	dummy := allocated(func() {
		if err := h.VerifyDummy(ctx, "wrong"); err != nil {
			t.Error(err)
		}
	})
	floor := uint64(p.Memory) * 1024
	if verify < floor || dummy < floor {
		t.Fatalf("allocated verify=%d dummy=%d, want both >= %d", verify, dummy, floor)
	}
	if dummy*10 < verify*9 || dummy*9 > verify*10 {
		t.Fatalf("VerifyDummy allocated %d bytes, Verify %d: costs differ", dummy, verify)
	}
}

func BenchmarkHash(b *testing.B) {
	h, ctx := defaultHasher(b), context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "violet staple orbit kettle"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h, ctx := defaultHasher(b), context.Background()
	enc, err := h.Hash(ctx, "violet staple orbit kettle")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "violet staple orbit kettle", enc); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkVerifyDummy(b *testing.B) {
	h, ctx := defaultHasher(b), context.Background()
	for b.Loop() {
		if err := h.VerifyDummy(ctx, "violet staple orbit kettle"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashParallel measures throughput when sign-ins arrive on every
// core at once, bounded by the semaphore.
func BenchmarkHashParallel(b *testing.B) {
	h, ctx := defaultHasher(b), context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(ctx, "violet staple orbit kettle"); err != nil {
				b.Error(err)
			}
		}
	})
}

// TestStoredHashBounds pins each bound on what a stored hash may ask of
// Verify: lengths of salt and key, and the cost parameters, accepted at
// the bound and refused one past it.
func TestStoredHashBounds(t *testing.T) {
	b64 := func(n int) string { return strings.Repeat("A", (n*8+5)/6) }
	const params = "m=64,t=1,p=1"
	for _, tt := range []struct {
		name    string
		encoded string
		want    error
	}{
		{"shortest salt", "$argon2id$v=19$" + params + "$" + b64(minStoredSaltLen) + "$" + b64(32), nil},
		{"longest salt", "$argon2id$v=19$" + params + "$" + b64(maxStoredSaltLen) + "$" + b64(32), nil},
		{"salt too short", "$argon2id$v=19$" + params + "$" + b64(minStoredSaltLen-1) + "$" + b64(32), ErrUnsupportedHash},
		{"salt too long", "$argon2id$v=19$" + params + "$" + b64(maxStoredSaltLen+1) + "$" + b64(32), ErrUnsupportedHash},
		{"shortest key", "$argon2id$v=19$" + params + "$" + b64(16) + "$" + b64(minStoredKeyLen), nil},
		{"longest key", "$argon2id$v=19$" + params + "$" + b64(16) + "$" + b64(maxStoredKeyLen), nil},
		{"key too short", "$argon2id$v=19$" + params + "$" + b64(16) + "$" + b64(minStoredKeyLen-1), ErrUnsupportedHash},
		{"key too long", "$argon2id$v=19$" + params + "$" + b64(16) + "$" + b64(maxStoredKeyLen+1), ErrUnsupportedHash},
	} {
		_, err := decode(tt.encoded)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: decode err = %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, tt := range []struct {
		params string
		want   error
	}{
		{fmt.Sprintf("m=%d,t=%d,p=%d", maxStoredMemoryKiB, maxStoredTime, maxStoredThreads), nil},
		{fmt.Sprintf("m=%d,t=1,p=1", maxStoredMemoryKiB+1), ErrUnsupportedHash},
		{fmt.Sprintf("m=64,t=%d,p=1", maxStoredTime+1), ErrUnsupportedHash},
		{fmt.Sprintf("m=1024,t=1,p=%d", maxStoredThreads+1), ErrUnsupportedHash},
		{"m=1,t=1,p=1", ErrUnsupportedHash},
		{"m=8,t=1,p=1", nil},
		{"m=32,t=1,p=4", nil},
		{"m=31,t=1,p=4", ErrUnsupportedHash},
		{"m=64,t=1,p=0", ErrUnsupportedHash},
		{"m=0,t=1,p=1", ErrUnsupportedHash},
	} {
		_, err := parseParams(tt.params)
		if !errors.Is(err, tt.want) {
			t.Errorf("parseParams(%q) err = %v, want %v", tt.params, err, tt.want)
		}
	}
}

// TestQueueBounded reproduces a sign-in flood against the hashing slots:
// with the only slot held and the queue full, one more caller must be
// refused at once with ErrBusy, not wait behind the others; and a caller
// that finds room in the queue waits no longer than the wait bound.
func TestQueueBounded(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		maxQueue int
		maxWait  time.Duration
		waiters  int           // callers already queued
		within   time.Duration // the refusal must come this soon
	}{
		{name: "queue full refuses at once", maxQueue: 3, maxWait: time.Hour, waiters: 3, within: 500 * time.Millisecond},
		{name: "wait bound refuses", maxQueue: 3, maxWait: 100 * time.Millisecond, waiters: 0, within: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cheapHasher(t, 1)
			h.queue = make(chan struct{}, tt.maxQueue)
			h.maxWait = tt.maxWait
			queued := make(chan struct{}, tt.waiters+1)
			h.onWait = func() { queued <- struct{}{} }
			if err := h.acquire(ctx); err != nil { // occupy the only slot
				t.Fatal(err)
			}
			wctx, cancel := context.WithCancel(ctx)
			done := make(chan error, tt.waiters)
			for range tt.waiters {
				go func() { done <- h.VerifyDummy(wctx, "pw") }()
				<-queued
			}
			start := time.Now()
			err := h.VerifyDummy(ctx, "pw")
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("err = %v, want ErrBusy", err)
			}
			if d := time.Since(start); d > tt.within {
				t.Fatalf("refused after %v, want within %v", d, tt.within)
			}
			cancel()
			for range tt.waiters {
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Fatalf("queued caller err = %v, want context.Canceled", err)
				}
			}
			h.release()
			if len(h.queue) != 0 {
				t.Fatalf("%d queue places still held", len(h.queue))
			}
			if err := h.VerifyDummy(ctx, "pw"); err != nil { // the slot is free again
				t.Fatal(err)
			}
		})
	}
	if _, err := NewHasher(Config{MaxQueue: -1}); err == nil {
		t.Fatal("a negative queue bound was accepted")
	}
}

// TestNewHasherQueueBounds checks that the configured queue bounds are
// the ones used, and that zero keeps the defaults.
func TestNewHasherQueueBounds(t *testing.T) {
	h, err := NewHasher(Config{MaxConcurrent: 2, MaxQueue: 5, MaxWait: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if cap(h.queue) != 5 || h.maxWait != 3*time.Second {
		t.Errorf("configured bounds: queue %d, wait %v; want 5, 3s", cap(h.queue), h.maxWait)
	}
	d, err := NewHasher(Config{MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	if cap(d.queue) != 2*DefaultQueuePerSlot || d.maxWait != DefaultMaxWait {
		t.Errorf("default bounds: queue %d, wait %v; want %d, %v", cap(d.queue), d.maxWait, 2*DefaultQueuePerSlot, DefaultMaxWait)
	}
}
