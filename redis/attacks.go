package redis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	goredis "github.com/redis/go-redis/v9"
)

// AttackClient is the part of a go-redis client Attacks uses.
// *goredis.Client satisfies it.
type AttackClient interface {
	goredis.Scripter
	HMGet(ctx context.Context, key string, fields ...string) *goredis.SliceCmd
	Publish(ctx context.Context, channel string, message any) *goredis.IntCmd
	Subscribe(ctx context.Context, channels ...string) *goredis.PubSub
}

// Attacks is the custodian.AttackWindows store in Redis: every instance counts
// security signals into the same sliding windows, one alert per attack is
// opened by whichever instance sees the signal that reaches the threshold,
// and blocks are published to every instance. Keys expire a window after
// their last signal, so Redis holds only attacks in progress.
type Attacks struct {
	client AttackClient
	prefix string
}

var _ custodian.AttackWindows = (*Attacks)(nil)

// NewAttacks returns the store, writing keys that start with "attack:"
// followed by prefix.
func NewAttacks(client AttackClient, prefix string) (*Attacks, error) {
	if prefix == "" || strings.ContainsAny(prefix, " \t\r\n") {
		return nil, fmt.Errorf("%w: must be non-empty without whitespace", ErrInvalidPrefix)
	}
	if client == nil {
		return nil, errors.New("redis: nil client")
	}
	return &Attacks{client: client, prefix: "attack:" + prefix}, nil
}

// hitScript counts one signal: KEYS[1] is the sorted set of the most
// recent signal times, KEYS[2] the hash of the open alert. ARGV: the
// signal's time (ms), the window (ms), the threshold, a unique member and
// the id to open an alert with. It answers {id, first, count, last,
// raised}; id is empty while no alert is open.
var hitScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local thr = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - win))
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(thr + 1))
redis.call('PEXPIRE', KEYS[1], win)
local a = redis.call('HMGET', KEYS[2], 'id', 'first', 'last')
if a[1] then
  local c = redis.call('HINCRBY', KEYS[2], 'count', 1)
  local last = math.max(now, tonumber(a[3]))
  redis.call('HSET', KEYS[2], 'last', last)
  redis.call('PEXPIRE', KEYS[2], win)
  return {a[1], a[2], c, last, 0}
end
local n = redis.call('ZCARD', KEYS[1])
if n >= thr then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
  redis.call('HSET', KEYS[2], 'id', ARGV[5], 'first', oldest, 'count', thr, 'last', now)
  redis.call('PEXPIRE', KEYS[2], win)
  return {ARGV[5], oldest, thr, now, 1}
end
return {'', 0, n, now, 0}
`)

func (s *Attacks) keys(rule, key string) (times, alert string) {
	base := s.prefix + rule + ":" + key
	return base + ":times", base + ":alert"
}

// Hit counts one signal atomically in Redis.
func (s *Attacks) Hit(ctx context.Context, h custodian.AttackHit) (custodian.AttackState, error) {
	times, alert := s.keys(h.Rule, h.Key)
	now := h.Time.UnixMilli()
	member := strconv.FormatInt(now, 36) + "." + h.ID
	v, err := hitScript.Run(ctx, s.client, []string{times, alert},
		now, h.Window.Milliseconds(), h.Threshold, member, h.ID).Slice()
	if err != nil {
		return custodian.AttackState{}, fmt.Errorf("redis: count signal: %w", err)
	}
	if len(v) != 5 {
		return custodian.AttackState{}, fmt.Errorf("redis: count signal: %d values", len(v))
	}
	id, _ := v[0].(string)
	res := custodian.AttackState{AlertID: id, Raised: toInt(v[4]) == 1, Count: int(toInt(v[2]))}
	res.FirstSeen = time.UnixMilli(toInt(v[1])).UTC()
	res.LastSeen = time.UnixMilli(toInt(v[3])).UTC()
	return res, nil
}

// State returns the open alert of rule for key.
func (s *Attacks) State(ctx context.Context, rule, key string) (custodian.AttackState, bool, error) {
	_, alert := s.keys(rule, key)
	v, err := s.client.HMGet(ctx, alert, "id", "first", "count", "last").Result()
	if err != nil {
		return custodian.AttackState{}, false, fmt.Errorf("redis: alert state: %w", err)
	}
	id, ok := v[0].(string)
	if !ok || id == "" {
		return custodian.AttackState{}, false, nil
	}
	return custodian.AttackState{AlertID: id, Count: int(toInt(v[2])),
		FirstSeen: time.UnixMilli(toInt(v[1])).UTC(), LastSeen: time.UnixMilli(toInt(v[3])).UTC()}, true, nil
}

// Block publishes a block to every instance.
func (s *Attacks) Block(ctx context.Context, addr netip.Addr, until time.Time) error {
	msg := addr.String() + " " + strconv.FormatInt(until.UnixMilli(), 10)
	if err := s.client.Publish(ctx, s.prefix+"blocks", msg).Err(); err != nil {
		return fmt.Errorf("redis: publish block: %w", err)
	}
	return nil
}

// Blocks calls fn with every block published until ctx ends or the
// subscription fails.
func (s *Attacks) Blocks(ctx context.Context, fn func(netip.Addr, time.Time)) error {
	sub := s.client.Subscribe(ctx, s.prefix+"blocks")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("redis: subscribe to blocks: %w", err)
	}
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-ch:
			if !ok {
				return errors.New("redis: block subscription closed")
			}
			a, ms, found := strings.Cut(m.Payload, " ")
			addr, err := netip.ParseAddr(a)
			n, err2 := strconv.ParseInt(ms, 10, 64)
			if found && err == nil && err2 == nil {
				fn(addr, time.UnixMilli(n))
			}
		}
	}
}

// toInt reads a number Redis answered as an integer or a string.
func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseFloat(x, 64)
		return int64(n)
	}
	return 0
}
