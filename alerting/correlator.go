package alerting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxKeys    = 10000
	DefaultQueueSize  = 1024
	DefaultIPv6Prefix = 64
	DefaultSweepEvery = time.Minute
)

// Config configures a Correlator. The zero value uses DefaultRules and the
// defaults above.
type Config struct {
	// Rules to apply; nil means DefaultRules().
	Rules []Rule
	// MaxKeys caps the keys tracked per rule; beyond it the least recently
	// seen are forgotten (one-off keys first).
	MaxKeys int
	// QueueSize caps alerts waiting for delivery; when full the oldest
	// pending notification is dropped and counted (its alert is queued
	// again on its next update).
	QueueSize int
	// IPv6Prefix is the prefix length IPv6 addresses are counted and
	// blocked by, since one client usually controls a whole /64. Use 128 to
	// count single addresses.
	IPv6Prefix int
	// SweepEvery is how often Run closes quiet alerts and frees idle keys.
	SweepEvery time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// OnRaise, when set, is called from Observe (after the correlator's
	// lock is released) with each newly raised alert, e.g. to count it in
	// metrics. It must be fast and must not block.
	OnRaise func(custodian.Alert)
	// Shared, when set, counts signals together with the other instances
	// using the same store, so that an attack spread over several
	// instances is seen as one, raised once and delivered once (by the
	// instance that raised it). Observe still never blocks: signals are
	// queued for a goroutine started by Run, and counted locally while
	// the store fails or the queue is full.
	Shared custodian.AttackWindows
	// SharedTimeout bounds each call to Shared; zero means 500 ms.
	SharedTimeout time.Duration
	// OnShared, when set, is called with true when counting falls back to
	// this instance because Shared fails, and with false when it is shared
	// again.
	OnShared func(degraded bool)
}

// maxAccountLen bounds the bytes of an account id kept per tracked key, so
// hostile sign-in names cannot inflate memory.
const maxAccountLen = 256

// alertState is an alert plus its delivery bookkeeping, guarded by the
// Correlator's mutex.
type alertState struct {
	custodian.Alert
	pending bool // queued for delivery
}

// Stats are the correlator's counters.
type Stats struct {
	// Raised counts alerts raised.
	Raised uint64
	// Dropped counts notifications dropped because the queue was full.
	Dropped uint64
	// Failed counts notifications the sink rejected.
	Failed uint64
	// Pending is the number of notifications waiting for delivery.
	Pending int
}

// numKinds bounds the signal kinds the correlator counts.
const numKinds = custodian.SignalAccountLocked + 1

// Correlator turns Signals into Alerts. Its methods are safe for
// concurrent use.
type Correlator struct {
	sink       AlertSink
	now        func() time.Time
	v6bits     int
	sweepEvery time.Duration
	queue      *ring[*alertState]
	maxBlocks  int
	onRaise    func(custodian.Alert)

	mu       sync.Mutex
	trackers []*tracker
	byKind   [numKinds][]*tracker
	raised   uint64
	failed   uint64

	blockMu sync.RWMutex
	blocks  map[netip.Addr]time.Time

	shared        custodian.AttackWindows
	sharedTimeout time.Duration
	onShared      func(bool)
	signals       sharedSignals
	owned         map[string]*sharedAlert // guarded by mu
}

// New returns a Correlator delivering alerts to sink. Call Run to start
// delivery.
func New(sink AlertSink, cfg Config) (*Correlator, error) {
	if sink == nil {
		return nil, errors.New("alerting: nil alert sink")
	}
	rules := cfg.Rules
	if rules == nil {
		rules = DefaultRules()
	}
	c := &Correlator{
		sink:       sink,
		now:        cfg.Now,
		v6bits:     cfg.IPv6Prefix,
		sweepEvery: cfg.SweepEvery,
		onRaise:    cfg.OnRaise,
		blocks:     make(map[netip.Addr]time.Time),

		shared:        cfg.Shared,
		sharedTimeout: cfg.SharedTimeout,
		onShared:      cfg.OnShared,
		owned:         make(map[string]*sharedAlert),
	}
	if c.sharedTimeout <= 0 {
		c.sharedTimeout = 500 * time.Millisecond
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.v6bits == 0 {
		c.v6bits = DefaultIPv6Prefix
	}
	if c.v6bits < 0 || c.v6bits > 128 {
		return nil, fmt.Errorf("alerting: IPv6 prefix %d out of range", c.v6bits)
	}
	if c.sweepEvery <= 0 {
		c.sweepEvery = DefaultSweepEvery
	}
	maxKeys := cfg.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	c.maxBlocks = maxKeys
	qs := cfg.QueueSize
	if qs <= 0 {
		qs = DefaultQueueSize
	}
	c.queue = newRing[*alertState](qs)
	if c.shared != nil {
		c.signals.ch = make(chan custodian.Signal, qs)
	}
	for i, r := range rules {
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("alerting: rule %d has no name", i)
		case r.Kind == 0 || r.Kind >= numKinds:
			return nil, fmt.Errorf("alerting: rule %s: unknown signal kind %d", r.Name, r.Kind)
		case r.By != ByAddr && r.By != ByAccount:
			return nil, fmt.Errorf("alerting: rule %s: unknown key %d", r.Name, r.By)
		case r.Threshold < 1 || r.Window <= 0:
			return nil, fmt.Errorf("alerting: rule %s: threshold and window must be positive", r.Name)
		}
		t := newTracker(r, maxKeys)
		c.trackers = append(c.trackers, t)
		c.byKind[r.Kind] = append(c.byKind[r.Kind], t)
	}
	return c, nil
}

// normAddr maps an address to the unit it is counted and blocked by.
func (c *Correlator) normAddr(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() && c.v6bits < 128 {
		p, err := a.Prefix(c.v6bits)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

// Observe records a signal. It does constant work per matching rule, never
// blocks on delivery and is meant to be called from request handlers.
func (c *Correlator) Observe(s custodian.Signal) {
	if s.Kind == 0 || s.Kind >= numKinds {
		return
	}
	if c.shared != nil {
		c.observeShared(s)
		return
	}
	c.observeLocal(s)
}

// normSignal returns the signal's time (now when unset), its address as
// counted and its account as kept.
func (c *Correlator) normSignal(s custodian.Signal) (time.Time, netip.Addr, string) {
	t := s.Time
	if t.IsZero() {
		t = c.now()
	}
	var addr netip.Addr
	if s.Addr.IsValid() {
		addr = c.normAddr(s.Addr)
	}
	account := s.Account
	if len(account) > maxAccountLen {
		account = account[:maxAccountLen]
	}
	return t, addr, account
}

// observeLocal counts a signal in this instance's memory.
func (c *Correlator) observeLocal(s custodian.Signal) {
	t, addr, account := c.normSignal(s)
	ts := t.UnixNano()
	var raised []custodian.Alert
	c.mu.Lock()
	for _, tr := range c.byKind[s.Kind] {
		k, ok := tr.key(addr, account)
		if !ok {
			continue
		}
		e := tr.touch(k, c.evicted)
		oldest, full := e.record(ts)
		window := int64(tr.rule.Window)
		if a := e.alert; a != nil {
			if ts-a.LastSeen.UnixNano() <= window {
				a.Count++
				if t.After(a.LastSeen) {
					a.LastSeen = t
				}
				c.extendBlock(tr.rule, k, a.LastSeen)
				c.enqueue(a)
				continue
			}
			c.close(e)
		}
		if full && ts-oldest <= window {
			c.raise(tr, e, time.Unix(0, oldest).UTC(), t)
			if c.onRaise != nil {
				raised = append(raised, e.alert.Alert)
			}
		}
	}
	c.mu.Unlock()
	for _, a := range raised {
		c.onRaise(a)
	}
}

func (c *Correlator) raise(tr *tracker, e *entry, first, last time.Time) {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	e.alert = &alertState{Alert: custodian.Alert{
		ID:        hex.EncodeToString(id[:]),
		Rule:      tr.rule.Name,
		Key:       e.key.String(),
		FirstSeen: first,
		LastSeen:  last.UTC(),
		Count:     tr.rule.Threshold,
		Status:    custodian.AlertOpen,
	}}
	c.raised++
	c.extendBlock(tr.rule, e.key, last)
	c.enqueue(e.alert)
}

// close marks an entry's alert closed, queues the final notification and
// detaches it. Called with c.mu held.
func (c *Correlator) close(e *entry) {
	if e.alert == nil {
		return
	}
	e.alert.Status = custodian.AlertClosed
	c.enqueue(e.alert)
	e.alert = nil
}

// evicted is called by trackers before an entry is forgotten.
func (c *Correlator) evicted(e *entry) { c.close(e) }

// enqueue schedules delivery of a's current state unless it is already
// scheduled. Called with c.mu held.
func (c *Correlator) enqueue(a *alertState) {
	if a.pending {
		return
	}
	a.pending = true
	if old, dropped := c.queue.push(a); dropped {
		old.pending = false
	}
}

func (c *Correlator) extendBlock(r Rule, k trackKey, last time.Time) {
	if r.Block <= 0 || r.By != ByAddr {
		return
	}
	until := last.Add(r.Block)
	c.blockMu.Lock()
	defer c.blockMu.Unlock()
	if cur, ok := c.blocks[k.addr]; ok {
		if until.After(cur) {
			c.blocks[k.addr] = until
		}
		return
	}
	if len(c.blocks) >= c.maxBlocks {
		now := c.now()
		var soonest netip.Addr
		var soonestT time.Time
		for a, u := range c.blocks {
			if !u.After(now) {
				delete(c.blocks, a)
			} else if soonestT.IsZero() || u.Before(soonestT) {
				soonest, soonestT = a, u
			}
		}
		if len(c.blocks) >= c.maxBlocks {
			delete(c.blocks, soonest)
		}
	}
	c.blocks[k.addr] = until
}

// Blocked reports whether addr (or its IPv6 prefix) is blocked because of
// a recent alert of a rule with Block set.
func (c *Correlator) Blocked(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	a := c.normAddr(addr)
	c.blockMu.RLock()
	until, ok := c.blocks[a]
	c.blockMu.RUnlock()
	return ok && c.now().Before(until)
}

// Sweep closes alerts that have been quiet for their rule's window, frees
// keys idle for a window and forgets expired blocks. Run calls it
// periodically.
func (c *Correlator) Sweep() {
	now := c.now()
	ts := now.UnixNano()
	c.mu.Lock()
	for _, tr := range c.trackers {
		window := int64(tr.rule.Window)
		for _, e := range tr.entries {
			if e.alert != nil && ts-e.alert.LastSeen.UnixNano() > window {
				c.close(e)
			}
			if e.alert == nil && ts-e.last > window {
				tr.drop(e)
			}
		}
	}
	c.mu.Unlock()
	c.blockMu.Lock()
	for a, u := range c.blocks {
		if !u.After(now) {
			delete(c.blocks, a)
		}
	}
	c.blockMu.Unlock()
}

// Tracked returns how many keys the rules with the given name currently
// track.
func (c *Correlator) Tracked(rule string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tr := range c.trackers {
		if tr.rule.Name == rule {
			n += len(tr.entries)
		}
	}
	return n
}

// Stats returns the correlator's counters.
func (c *Correlator) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Raised: c.raised, Failed: c.failed, Dropped: c.queue.droppedCount(), Pending: c.queue.len()}
}

// Run delivers queued alerts to the sink and sweeps periodically until ctx
// is done; it then returns ctx.Err(). Run it in one goroutine.
func (c *Correlator) Run(ctx context.Context) error {
	tick := time.NewTicker(c.sweepEvery)
	defer tick.Stop()
	if c.shared != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			c.runShared(ctx)
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.queue.wake:
			c.Flush(ctx)
		case <-tick.C:
			c.Sweep()
			if c.shared != nil {
				c.sweepShared(ctx)
			}
		}
	}
}

// Flush delivers every queued notification now, in the calling goroutine,
// and returns how many were delivered. Useful at shutdown.
func (c *Correlator) Flush(ctx context.Context) int {
	n := 0
	for ctx.Err() == nil {
		a, ok := c.queue.pop()
		if !ok {
			break
		}
		c.mu.Lock()
		snap := a.Alert
		a.pending = false
		c.mu.Unlock()
		if err := c.sink.Notify(ctx, snap); err != nil {
			c.mu.Lock()
			c.failed++
			c.mu.Unlock()
			continue
		}
		n++
	}
	return n
}
