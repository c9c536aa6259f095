// Package password hashes and checks account passwords.
//
// Hashing uses argon2id in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash) so that parameters travel
// with each stored hash and can be raised later: Verify reports when a
// stored hash was made with parameters other than the current ones, and the
// caller re-hashes the password it has just verified. Every password is
// normalised to Unicode NFKC before hashing, as NIST SP 800-63B-4
// recommends, so the same password typed on different keyboards or systems
// verifies; nothing else is changed (no trimming, case folding or
// truncation).
//
// Argon2id is deliberately expensive in memory and time, so the number of
// hashes computed at once is bounded by a semaphore, and so is the queue in
// front of it: a caller that finds every slot taken waits in a queue of
// bounded length for a bounded time (and gives up when its context is
// cancelled). A flood of sign-in attempts therefore neither exhausts memory
// nor makes every caller wait behind it: past the queue or the wait, the
// caller gets ErrBusy at once and can tell its client to retry.
//
// Policy checks a new password against NIST SP 800-63B-4: length limits
// counted in code points, no composition rules, and refusal of common,
// guessable or personal passwords.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2id parameter floors and the defaults used by NewHasher. The floors
// are OWASP's minimum recommendation for argon2id (19 MiB, 2 passes, 1 lane);
// the defaults raise the memory cost to 46 MiB (OWASP's first argon2id
// configuration) with 2 passes, which measured about 60–70 ms per hash on
// a 2-core server (90–110 ms while its cores were busy with other work)
// against about 35–45 ms at the floor (see BenchmarkHash): about the
// ~100 ms a sign-in can afford, and 2.4 times the memory an attacker must
// spend per guess.
const (
	// MinMemoryKiB is the lowest memory cost, in KiB, a Hasher accepts.
	MinMemoryKiB = 19 * 1024
	// MinTime is the lowest number of passes a Hasher accepts.
	MinTime = 2
	// MinThreads is the lowest degree of parallelism a Hasher accepts.
	MinThreads = 1

	// DefaultMemoryKiB is the memory cost used when Params.Memory is zero.
	DefaultMemoryKiB = 46 * 1024
	// DefaultTime is the number of passes used when Params.Time is zero.
	DefaultTime = 2
	// DefaultThreads is the parallelism used when Params.Threads is zero.
	DefaultThreads = 1

	// SaltLen is the length in bytes of the random salt of every new hash.
	SaltLen = 16
	// KeyLen is the length in bytes of the derived key of every new hash.
	KeyLen = 32

	// MaxInputBytes bounds the password bytes accepted by Hash and Verify,
	// so a huge request body cannot be fed to the hash. It is far above the
	// longest password Policy accepts.
	MaxInputBytes = 4096

	// Ceilings applied to parameters read from stored hashes, so a
	// corrupted or planted hash cannot make one Verify allocate gigabytes
	// or run for minutes.
	maxStoredMemoryKiB = 1 << 20 // 1 GiB
	maxStoredTime      = 64
	maxStoredThreads   = 64
	maxStoredSaltLen   = 64
	minStoredSaltLen   = 8
	maxStoredKeyLen    = 128
	minStoredKeyLen    = 16
)

// Errors returned by Hasher. Callers test them with errors.Is.
var (
	// ErrMalformedHash means a stored hash is not a PHC argon2id string
	// this package can read.
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrUnsupportedHash means a stored hash uses an algorithm, version or
	// parameter outside what this package verifies.
	ErrUnsupportedHash = errors.New("password: unsupported hash")
	// ErrInputTooLong means the password is longer than MaxInputBytes.
	ErrInputTooLong = errors.New("password: input too long")
	// ErrWeakParams means the configured parameters are below the floor.
	ErrWeakParams = errors.New("password: parameters below minimum")
	// ErrBusy means every hashing slot was taken and the queue in front
	// of them was full, or the caller waited Config.MaxWait for a slot in
	// vain: nothing was hashed, and trying again shortly may succeed.
	ErrBusy = errors.New("password: too many hashes waiting")
)

// Defaults of the queue in front of the hashing slots.
const (
	// DefaultQueuePerSlot is how many callers may wait per hashing slot
	// when Config.MaxQueue is zero.
	DefaultQueuePerSlot = 8
	// DefaultMaxWait is how long a caller waits for a slot when
	// Config.MaxWait is zero: short enough that a person signing in
	// during a flood gets an answer (a result or a prompt to retry) well
	// within two seconds.
	DefaultMaxWait = time.Second
)

// Params are the argon2id cost parameters. Zero fields take the defaults.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
}

// Config configures a Hasher.
type Config struct {
	// Params are the cost parameters of new hashes. Zero fields take the
	// defaults; values below the OWASP floor are refused.
	Params Params
	// MaxConcurrent bounds how many hashes are computed at the same time.
	// Zero means runtime.GOMAXPROCS(0).
	MaxConcurrent int
	// MaxQueue bounds how many callers may wait for a slot at once; one
	// more gets ErrBusy at once. Zero means DefaultQueuePerSlot per slot.
	MaxQueue int
	// MaxWait bounds how long a caller waits for a slot before getting
	// ErrBusy. Zero means DefaultMaxWait.
	MaxWait time.Duration
	// OnDerive, when set, is called after every argon2id derivation with
	// the parameters it used. It is the seam through which a caller sees
	// the work really done (tests check, for example, that signing in to
	// an unknown account derives exactly one key with the current
	// parameters, as for a known one).
	OnDerive func(Params)
}

// Hasher hashes and verifies passwords with argon2id. It is safe for
// concurrent use; create one per process and share it.
type Hasher struct {
	params Params
	sem    chan struct{}
	// queue holds a token per caller waiting for a slot; its capacity
	// bounds the queue.
	queue   chan struct{}
	maxWait time.Duration

	// dummySalt and dummyKey feed VerifyDummy: a hash of nothing that has
	// the current parameters, so answering for an unknown account costs
	// the same as for a known one.
	dummySalt []byte
	dummyKey  []byte

	// onWait, when set (by tests), is called when a caller has to queue
	// for a hashing slot.
	onWait func()
	// onDerive is Config.OnDerive.
	onDerive func(Params)
}

// NewHasher returns a Hasher with the given configuration, refusing
// parameters below the OWASP minimum.
func NewHasher(cfg Config) (*Hasher, error) {
	p := cfg.Params
	if p.Memory == 0 {
		p.Memory = DefaultMemoryKiB
	}
	if p.Time == 0 {
		p.Time = DefaultTime
	}
	if p.Threads == 0 {
		p.Threads = DefaultThreads
	}
	if p.Memory < MinMemoryKiB || p.Time < MinTime || p.Threads < MinThreads {
		return nil, fmt.Errorf("%w: need m>=%d KiB, t>=%d, p>=%d", ErrWeakParams, MinMemoryKiB, MinTime, MinThreads)
	}
	if p.Memory > maxStoredMemoryKiB || p.Time > maxStoredTime || p.Threads > maxStoredThreads {
		return nil, fmt.Errorf("%w: m<=%d KiB, t<=%d, p<=%d", ErrUnsupportedHash, maxStoredMemoryKiB, maxStoredTime, maxStoredThreads)
	}
	if cfg.MaxQueue < 0 || cfg.MaxWait < 0 {
		return nil, fmt.Errorf("password: negative queue bound (%d callers, %v)", cfg.MaxQueue, cfg.MaxWait)
	}
	h, err := newHasher(p, cfg.MaxConcurrent)
	if err != nil {
		return nil, err
	}
	if cfg.MaxQueue > 0 {
		h.queue = make(chan struct{}, cfg.MaxQueue)
	}
	if cfg.MaxWait > 0 {
		h.maxWait = cfg.MaxWait
	}
	h.onDerive = cfg.OnDerive
	return h, nil
}

// newHasher builds a Hasher without the floor check, with the default
// queue bounds; tests use it with cheap parameters.
func newHasher(p Params, maxConcurrent int) (*Hasher, error) {
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{
		params:    p,
		sem:       make(chan struct{}, maxConcurrent),
		queue:     make(chan struct{}, maxConcurrent*DefaultQueuePerSlot),
		maxWait:   DefaultMaxWait,
		dummySalt: make([]byte, SaltLen),
		dummyKey:  make([]byte, KeyLen),
	}
	if _, err := rand.Read(h.dummySalt); err != nil {
		return nil, fmt.Errorf("password: dummy salt: %w", err)
	}
	if _, err := rand.Read(h.dummyKey); err != nil {
		return nil, fmt.Errorf("password: dummy key: %w", err)
	}
	return h, nil
}

// Params returns the cost parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of a new argon2id hash of password (after
// NFKC normalisation) with a fresh random salt. It waits for a hashing slot
// and returns ctx.Err() if ctx ends first.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxInputBytes {
		return "", ErrInputTooLong
	}
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params, KeyLen)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches the stored PHC string encoded.
// needsRehash is true when the password matched but the stored hash was made
// with parameters (or lengths) other than the current ones: the caller
// should then store a fresh Hash of the same password. The key comparison is
// constant time. A malformed or unsupported stored hash is an error, never a
// match.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	if len(password) > MaxInputBytes {
		return false, false, ErrInputTooLong
	}
	stored, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	// #nosec G115 -- decode bounds the stored key to maxStoredKeyLen bytes.
	key, err := h.derive(ctx, password, stored.salt, stored.params, uint32(len(stored.key)))
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(key, stored.key) != 1 {
		return false, false, nil
	}
	needsRehash = stored.params != h.params || len(stored.salt) != SaltLen || len(stored.key) != KeyLen
	return true, needsRehash, nil
}

// VerifyDummy spends the same time and memory as a Verify against a hash
// with the current parameters, and always fails. Call it when the account
// named at sign-in does not exist, so the answer takes as long as for an
// account that does and does not reveal which accounts exist. It returns
// only input or context errors.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if len(password) > MaxInputBytes {
		return ErrInputTooLong
	}
	key, err := h.derive(ctx, password, h.dummySalt, h.params, KeyLen)
	if err != nil {
		return err
	}
	// The comparison keeps the work identical to Verify; its result is
	// meaningless because dummyKey is random.
	_ = subtle.ConstantTimeCompare(key, h.dummyKey)
	return nil
}

// derive computes an argon2id key of password in a hashing slot: the one
// place where the expensive work happens.
func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	key := argon2.IDKey(normalize(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	h.release()
	if h.onDerive != nil {
		h.onDerive(p)
	}
	return key, nil
}

// acquire takes a hashing slot, or returns ctx.Err() if ctx ends first.
// When every slot is taken it waits in the queue, at most maxWait; when the
// queue is full too, or the wait runs out, it returns ErrBusy.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case h.queue <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-h.queue }()
	if h.onWait != nil {
		h.onWait()
	}
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return ErrBusy
	}
}

// release frees a slot taken by acquire.
func (h *Hasher) release() { <-h.sem }

// normalize applies NFKC, the only transformation a password undergoes.
func normalize(password string) []byte {
	return []byte(norm.NFKC.String(password))
}

// phc is a decoded PHC argon2id string.
type phc struct {
	params Params
	salt   []byte
	key    []byte
}

// b64 is the PHC encoding of salt and hash: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// encode formats a hash as a PHC string.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC argon2id string and bounds its parameters.
func decode(s string) (phc, error) {
	var out phc
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" {
		return out, ErrMalformedHash
	}
	if parts[1] != "argon2id" {
		return out, fmt.Errorf("%w: algorithm is not argon2id", ErrUnsupportedHash)
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return out, fmt.Errorf("%w: missing version", ErrMalformedHash)
	}
	if v != strconv.Itoa(argon2.Version) {
		return out, fmt.Errorf("%w: version", ErrUnsupportedHash)
	}
	params, err := parseParams(parts[3])
	if err != nil {
		return out, err
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil {
		return out, fmt.Errorf("%w: salt: %w", ErrMalformedHash, err)
	}
	key, err := b64.Strict().DecodeString(parts[5])
	if err != nil {
		return out, fmt.Errorf("%w: key: %w", ErrMalformedHash, err)
	}
	if len(salt) < minStoredSaltLen || len(salt) > maxStoredSaltLen {
		return out, fmt.Errorf("%w: salt length", ErrUnsupportedHash)
	}
	if len(key) < minStoredKeyLen || len(key) > maxStoredKeyLen {
		return out, fmt.Errorf("%w: key length", ErrUnsupportedHash)
	}
	return phc{params: params, salt: salt, key: key}, nil
}

// parseParams reads "m=..,t=..,p=.." in that order, as PHC requires.
func parseParams(s string) (Params, error) {
	var p Params
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return p, fmt.Errorf("%w: parameters", ErrMalformedHash)
	}
	names := [3]string{"m=", "t=", "p="}
	var vals [3]uint64
	for i, f := range fields {
		num, ok := strings.CutPrefix(f, names[i])
		if !ok || num == "" || (len(num) > 1 && num[0] == '0') {
			return p, fmt.Errorf("%w: parameters", ErrMalformedHash)
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return p, fmt.Errorf("%w: parameters: %w", ErrMalformedHash, err)
		}
		vals[i] = n
	}
	if vals[0] == 0 || vals[0] > maxStoredMemoryKiB ||
		vals[1] == 0 || vals[1] > maxStoredTime ||
		vals[2] == 0 || vals[2] > maxStoredThreads {
		return p, fmt.Errorf("%w: parameters out of range", ErrUnsupportedHash)
	}
	// argon2 needs at least 8 KiB per lane.
	if vals[0] < 8*vals[2] {
		return p, fmt.Errorf("%w: memory below 8 KiB per lane", ErrUnsupportedHash)
	}
	// #nosec G115 -- each value was range-checked against the maxStored* bounds above.
	return Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}, nil
}
