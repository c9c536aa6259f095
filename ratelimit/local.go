package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"
)

// Defaults for LocalConfig.
const (
	// DefaultMaxKeys bounds the keys a Local limiter tracks when
	// LocalConfig.MaxKeys is zero: about 10 MB of state at worst.
	DefaultMaxKeys = 100_000
	// DefaultShards is the number of independently locked partitions when
	// LocalConfig.Shards is zero.
	DefaultShards = 64
)

// LocalConfig tunes a Local limiter. The zero value is usable.
type LocalConfig struct {
	// MaxKeys is the most keys tracked at once (DefaultMaxKeys if zero).
	// It is split evenly between the shards. When a key arrives at a full
	// shard, the shard forgets one key: first one whose bucket has refilled
	// (it carries no state), otherwise the key seen least recently. Memory
	// therefore stays bounded however many distinct clients arrive, and
	// keys are spread over shards with a per-limiter random hash seed, so a
	// client cannot aim its keys at one shard.
	MaxKeys int
	// Shards is the number of separately locked partitions, rounded down
	// to a power of two (DefaultShards if zero). More shards cut lock
	// contention between cores.
	Shards int
	// Now returns the current time (time.Now if nil); tests inject a
	// controllable clock.
	Now func() time.Time
}

// Local is an in-memory GCRA limiter for one server instance. Its memory is
// bounded by LocalConfig.MaxKeys. It is safe for concurrent use.
type Local struct {
	limit       Limit
	emission    int64 // nanoseconds one request costs
	burstOffset int64 // emission * burst
	now         func() time.Time
	epoch       time.Time // times are kept as nanoseconds since epoch
	seed        maphash.Seed
	mask        uint64
	shards      []shard
}

var _ Limiter = (*Local)(nil)

// none marks the absence of a slot in the intrusive lists.
const none = -1

// slot is one tracked key. Slots live in a per-shard slice and refer to each
// other by index, so the table holds no pointers besides the key strings and
// costs the garbage collector little even at a million entries.
type slot struct {
	key        string
	tat        int64 // theoretical arrival time, nanoseconds since Local.epoch
	prev, next int32 // recency list; prev is more recent
	heapIdx    int32 // position in the shard's TAT min-heap
}

// shard is an independently locked part of the table. Each shard keeps
//   - index: key -> slot,
//   - a doubly linked recency list (head = most recently seen),
//   - a min-heap of slots ordered by TAT, whose top is the slot whose
//     bucket refilled first; if its TAT is not after now, it is "full" and
//     can be forgotten without changing any future decision.
type shard struct {
	mu         sync.Mutex
	capacity   int
	index      map[string]int32
	slots      []slot
	heap       []int32
	head, tail int32
	_          [64]byte // keep neighbouring shards' locks on separate cache lines
}

// NewLocal returns a Local limiter enforcing limit for every key.
func NewLocal(limit Limit, cfg LocalConfig) (*Local, error) {
	if err := limit.Validate(); err != nil {
		return nil, err
	}
	maxKeys := cfg.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	if maxKeys < 1 || maxKeys > math.MaxInt32 {
		return nil, fmt.Errorf("%w: MaxKeys must be between 1 and %d", ErrInvalidLimit, math.MaxInt32)
	}
	n := cfg.Shards
	if n == 0 {
		n = DefaultShards
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: Shards must be positive", ErrInvalidLimit)
	}
	n = min(n, maxKeys)
	for n&(n-1) != 0 { // round down to a power of two
		n &= n - 1
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	emission := int64(limit.Interval())
	if emission < 1 {
		emission = 1
	}
	l := &Local{
		limit:       limit,
		emission:    emission,
		burstOffset: emission * int64(limit.Burst),
		now:         now,
		epoch:       now(),
		seed:        maphash.MakeSeed(),
		mask:        uint64(n - 1),
		shards:      make([]shard, n),
	}
	base, extra := maxKeys/n, maxKeys%n
	for i := range l.shards {
		c := base
		if i < extra {
			c++
		}
		l.shards[i] = shard{capacity: c, index: make(map[string]int32), head: none, tail: none}
	}
	return l, nil
}

// Limit returns the limit l enforces.
func (l *Local) Limit() Limit { return l.limit }

// Len returns the number of keys currently tracked; it never exceeds the
// configured MaxKeys.
func (l *Local) Len() int {
	total := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		total += len(s.index)
		s.mu.Unlock()
	}
	return total
}

// Allow applies GCRA to key. It never returns an error; the signature
// satisfies Limiter.
func (l *Local) Allow(_ context.Context, key string) (Decision, error) {
	// Measuring from epoch uses the monotonic clock reading that time.Now
	// carries, so wall-clock steps neither refill nor drain buckets.
	now := int64(l.now().Sub(l.epoch))
	s := &l.shards[maphash.String(l.seed, key)&l.mask]
	s.mu.Lock()
	defer s.mu.Unlock()

	idx, known := s.index[key]
	tat := now
	if known {
		tat = max(s.slots[idx].tat, now)
	}
	newTAT := tat + l.emission
	diff := now - (newTAT - l.burstOffset) // how far "now" is past the allow-at time
	if diff < 0 {
		// Refused: the TAT does not move, but the key was seen.
		if known {
			s.touch(idx)
		}
		return Decision{RetryAfter: time.Duration(-diff)}, nil
	}
	if known {
		s.slots[idx].tat = newTAT
		s.fix(int(s.slots[idx].heapIdx))
		s.touch(idx)
	} else {
		s.insert(key, newTAT, now)
	}
	return Decision{Allowed: true, Remaining: int(diff / l.emission)}, nil
}

// insert adds key, evicting one slot first when the shard is full.
func (s *shard) insert(key string, tat, now int64) {
	// Copy the key so the table does not pin a caller's larger buffer.
	key = strings.Clone(key)
	var idx int32
	if len(s.index) < s.capacity {
		idx = slotIndex(len(s.slots))
		s.slots = append(s.slots, slot{key: key, tat: tat, prev: none, next: none, heapIdx: slotIndex(len(s.heap))})
		s.heap = append(s.heap, idx)
		s.up(len(s.heap) - 1)
	} else {
		idx = s.victim(now)
		delete(s.index, s.slots[idx].key)
		s.unlink(idx)
		s.slots[idx].key = key
		s.slots[idx].tat = tat
		s.fix(int(s.slots[idx].heapIdx))
	}
	s.index[key] = idx
	s.pushFront(idx)
}

// victim picks the slot to forget: the one whose bucket refilled earliest if
// that has already happened (forgetting it loses nothing), otherwise the
// least recently seen.
func (s *shard) victim(now int64) int32 {
	if top := s.heap[0]; s.slots[top].tat <= now {
		return top
	}
	return s.tail
}

// touch marks idx as the most recently seen.
func (s *shard) touch(idx int32) {
	if s.head == idx {
		return
	}
	s.unlink(idx)
	s.pushFront(idx)
}

func (s *shard) unlink(idx int32) {
	e := &s.slots[idx]
	if e.prev != none {
		s.slots[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next != none {
		s.slots[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = none, none
}

func (s *shard) pushFront(idx int32) {
	e := &s.slots[idx]
	e.prev, e.next = none, s.head
	if s.head != none {
		s.slots[s.head].prev = idx
	}
	s.head = idx
	if s.tail == none {
		s.tail = idx
	}
}

// Min-heap on TAT over s.heap, keeping slot.heapIdx in step.

func (s *shard) less(i, j int) bool { return s.slots[s.heap[i]].tat < s.slots[s.heap[j]].tat }

func (s *shard) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.slots[s.heap[i]].heapIdx = slotIndex(i)
	s.slots[s.heap[j]].heapIdx = slotIndex(j)
}

// slotIndex narrows a position in a shard's slices to the int32 the table
// stores. NewLocal caps MaxKeys at math.MaxInt32, so the check never fires;
// it guards the invariant rather than silently wrapping around.
func slotIndex(i int) int32 {
	if i < 0 || i > math.MaxInt32 {
		panic("ratelimit: slot index out of range")
	}
	return int32(i)
}

func (s *shard) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *shard) down(i int) {
	n := len(s.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && s.less(r, c) {
			c = r
		}
		if !s.less(c, i) {
			return
		}
		s.swap(i, c)
		i = c
	}
}

// fix restores heap order after the TAT at heap position i changed.
func (s *shard) fix(i int) {
	s.up(i)
	s.down(i)
}
