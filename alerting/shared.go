package alerting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/custodian-crm/custodian"
)

// sharedAlert is an alert this instance raised and therefore reports:
// every instance counts into it, and only its raiser delivers it, so it is
// stored, mailed and sent to the webhook once.
type sharedAlert struct {
	state     *alertState
	rule, key string // as the Shared store names them (see sharedKey)
}

// sharedKey names a counted key in the Shared store: rule names are not
// unique across signal kinds, so the kind is part of it.
func sharedKey(r Rule, k trackKey) (rule, key string) {
	return r.Name + "/" + r.Kind.String(), k.String()
}

// sharedSignals is the queue between Observe, which must never block a
// request, and the goroutine that counts in the Shared store.
type sharedSignals struct {
	ch       chan custodian.Signal
	dropped  atomic.Uint64
	degraded atomic.Bool
}

// observeShared queues s for counting in the Shared store. When the queue
// is full the signal is counted locally instead, so nothing is lost to
// detection: it is only not shared.
func (c *Correlator) observeShared(s custodian.Signal) {
	select {
	case c.signals.ch <- s:
	default:
		c.signals.dropped.Add(1)
		c.observeLocal(s)
	}
}

// countShared counts one signal in the Shared store under every rule of
// its kind. While the store fails, the signal is counted locally, and
// OnShared is told once per change of state.
func (c *Correlator) countShared(ctx context.Context, s custodian.Signal) {
	t, addr, account := c.normSignal(s)
	var raised []custodian.Alert
	for _, tr := range c.byKind[s.Kind] {
		k, ok := tr.key(addr, account)
		if !ok {
			continue
		}
		rule, key := sharedKey(tr.rule, k)
		var id [16]byte
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
		hctx, cancel := context.WithTimeout(ctx, c.sharedTimeout)
		res, err := c.shared.Hit(hctx, custodian.AttackHit{Rule: rule, Key: key, Time: t, Window: tr.rule.Window, Threshold: tr.rule.Threshold, ID: hex.EncodeToString(id[:])})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return // shutting down
			}
			c.sharedFailed(true)
			c.observeLocal(s)
			return
		}
		c.sharedFailed(false)
		if res.AlertID == "" {
			continue
		}
		c.extendBlock(tr.rule, k, res.LastSeen)
		c.publishBlock(ctx, tr.rule, k, res.LastSeen)
		c.mu.Lock()
		if res.Raised {
			a := &alertState{Alert: custodian.Alert{ID: res.AlertID, Rule: tr.rule.Name, Key: key,
				FirstSeen: res.FirstSeen.UTC(), LastSeen: res.LastSeen.UTC(), Count: res.Count, Status: custodian.AlertOpen}}
			c.owned[rule+"\x00"+key] = &sharedAlert{state: a, rule: rule, key: key}
			c.raised++
			c.enqueue(a)
			raised = append(raised, a.Alert)
		} else if o := c.owned[rule+"\x00"+key]; o != nil && o.state.ID == res.AlertID {
			o.state.Count, o.state.LastSeen = res.Count, res.LastSeen.UTC()
			c.enqueue(o.state)
		}
		c.mu.Unlock()
	}
	if c.onRaise != nil {
		for _, a := range raised {
			c.onRaise(a)
		}
	}
}

// sweepShared brings the alerts this instance raised up to date with what
// every instance counted, and closes those that have been quiet for their
// window.
func (c *Correlator) sweepShared(ctx context.Context) {
	c.mu.Lock()
	owned := make(map[string]*sharedAlert, len(c.owned))
	for k, o := range c.owned {
		owned[k] = o
	}
	c.mu.Unlock()
	for k, o := range owned {
		sctx, cancel := context.WithTimeout(ctx, c.sharedTimeout)
		res, open, err := c.shared.State(sctx, o.rule, o.key)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.sharedFailed(true)
			}
			return
		}
		c.sharedFailed(false)
		c.mu.Lock()
		switch {
		case !open || res.AlertID != o.state.ID:
			o.state.Status = custodian.AlertClosed
			c.enqueue(o.state)
			delete(c.owned, k)
		case res.Count != o.state.Count || !res.LastSeen.Equal(o.state.LastSeen):
			o.state.Count, o.state.LastSeen = res.Count, res.LastSeen.UTC()
			c.enqueue(o.state)
		}
		c.mu.Unlock()
	}
}

// publishBlock tells the other instances about a block this one applies.
func (c *Correlator) publishBlock(ctx context.Context, r Rule, k trackKey, last time.Time) {
	if r.Block <= 0 || r.By != ByAddr {
		return
	}
	bctx, cancel := context.WithTimeout(ctx, c.sharedTimeout)
	defer cancel()
	if err := c.shared.Block(bctx, k.addr, last.Add(r.Block)); err != nil {
		c.sharedFailed(true)
	}
}

// applyBlock records a block published by any instance.
func (c *Correlator) applyBlock(addr netip.Addr, until time.Time) {
	c.extendBlock(Rule{Block: time.Nanosecond, By: ByAddr}, trackKey{addr: c.normAddr(addr)}, until.Add(-time.Nanosecond))
}

// sharedFailed reports a change between counting in the Shared store and
// counting locally.
func (c *Correlator) sharedFailed(failed bool) {
	if c.signals.degraded.Swap(failed) != failed && c.onShared != nil {
		c.onShared(failed)
	}
}

// runShared counts queued signals in the Shared store and listens for the
// blocks other instances publish, until ctx ends.
func (c *Correlator) runShared(ctx context.Context) {
	go func() {
		for ctx.Err() == nil {
			_ = c.shared.Blocks(ctx, c.applyBlock)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-c.signals.ch:
			c.countShared(ctx, s)
		}
	}
}
