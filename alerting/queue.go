package alerting

import "sync"

// ring is a bounded FIFO that drops its oldest element when full, and
// wakes one consumer when something is pushed.
type ring[T any] struct {
	mu      sync.Mutex
	buf     []T
	head    int
	n       int
	dropped uint64
	wake    chan struct{}
}

func newRing[T any](capacity int) *ring[T] {
	return &ring[T]{buf: make([]T, capacity), wake: make(chan struct{}, 1)}
}

// push appends v; when the ring is full the oldest element is removed and
// returned with dropped == true. It never blocks.
func (q *ring[T]) push(v T) (old T, dropped bool) {
	q.mu.Lock()
	if q.n == len(q.buf) {
		old, dropped = q.buf[q.head], true
		var zero T
		q.buf[q.head] = zero
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		q.dropped++
	}
	q.buf[(q.head+q.n)%len(q.buf)] = v
	q.n++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return old, dropped
}

// pop removes and returns the oldest element.
func (q *ring[T]) pop() (v T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return v, false
	}
	v = q.buf[q.head]
	var zero T
	q.buf[q.head] = zero
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return v, true
}

func (q *ring[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

func (q *ring[T]) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
