package alerting

import "net/netip"

// trackKey is what a rule counts per.
type trackKey struct {
	addr    netip.Addr
	account string
}

// String renders the key as it appears in custodian.Alert.Key.
func (k trackKey) String() string {
	if k.addr.IsValid() {
		return "addr:" + k.addr.String()
	}
	return "account:" + k.account
}

// key returns the key the tracker's rule counts a signal by, and false
// when the signal lacks it.
func (t *tracker) key(addr netip.Addr, account string) (trackKey, bool) {
	switch t.rule.By {
	case ByAddr:
		return trackKey{addr: addr}, addr.IsValid()
	case ByAccount:
		return trackKey{account: account}, account != ""
	}
	return trackKey{}, false
}

// entry is the state kept for one key of one rule: the times of its most
// recent signals (at most Threshold of them) and its current alert.
type entry struct {
	key       trackKey
	times     []int64 // ring of Unix nanoseconds, len == rule.Threshold
	head, n   int
	last      int64
	alert     *alertState
	protected bool
	prev      *entry
	next      *entry
}

// record adds a signal time and returns the oldest time among the most
// recent Threshold signals and whether Threshold signals are recorded.
func (e *entry) record(t int64) (oldest int64, full bool) {
	size := len(e.times)
	if e.n < size {
		e.times[(e.head+e.n)%size] = t
		e.n++
	} else {
		e.times[e.head] = t
		e.head = (e.head + 1) % size
	}
	e.last = max(e.last, t)
	return e.times[e.head], e.n == size
}

// list is an intrusive doubly linked list with a sentinel.
type list struct {
	root entry
	len  int
}

func (l *list) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *list) pushFront(e *entry) {
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
	l.len++
}

func (l *list) remove(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	l.len--
}

func (l *list) back() *entry {
	if l.len == 0 {
		return nil
	}
	return l.root.prev
}

// tracker holds the entries of one rule with bounded memory. It is a
// segmented LRU: a key seen once sits in the probation segment; a key seen
// again moves to the protected segment. When the cap is reached the least
// recently seen probation key is evicted first, so a flood of one-off
// addresses (spoofed or rotated) cannot push out the keys that are
// actually repeating, such as an attacker's. Not safe for concurrent use;
// the Correlator serialises access.
type tracker struct {
	rule      Rule
	entries   map[trackKey]*entry
	probation list
	protected list
	maxKeys   int
	maxProt   int
}

func newTracker(r Rule, maxKeys int) *tracker {
	t := &tracker{
		rule:    r,
		entries: make(map[trackKey]*entry),
		maxKeys: maxKeys,
		maxProt: max(1, maxKeys*4/5),
	}
	t.probation.init()
	t.protected.init()
	return t
}

// touch returns the entry for k, creating it if needed and marking it most
// recently seen. Before an entry is evicted to make room, onEvict is called
// with it.
func (t *tracker) touch(k trackKey, onEvict func(*entry)) *entry {
	if e, ok := t.entries[k]; ok {
		if e.protected {
			t.protected.remove(e)
		} else {
			t.probation.remove(e)
			e.protected = true
		}
		t.protected.pushFront(e)
		if t.protected.len > t.maxProt {
			d := t.protected.back()
			t.protected.remove(d)
			d.protected = false
			t.probation.pushFront(d)
		}
		return e
	}
	var e *entry
	if len(t.entries) >= t.maxKeys {
		victim := t.probation.back()
		if victim != nil {
			t.probation.remove(victim)
		} else {
			victim = t.protected.back()
			t.protected.remove(victim)
		}
		onEvict(victim)
		delete(t.entries, victim.key)
		e = victim // reuse the memory
		clear(e.times)
		*e = entry{times: e.times}
	} else {
		e = &entry{times: make([]int64, t.rule.Threshold)}
	}
	e.key = k
	t.entries[k] = e
	t.probation.pushFront(e)
	return e
}

// drop removes an entry.
func (t *tracker) drop(e *entry) {
	if e.protected {
		t.protected.remove(e)
	} else {
		t.probation.remove(e)
	}
	delete(t.entries, e.key)
}
