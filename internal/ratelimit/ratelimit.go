// Package ratelimit keeps token buckets per key (an account, a client
// address, a user) in a bounded in-memory cache. Limits hold per instance;
// with several instances behind a load balancer each enforces its own share
// (see the README's Security section).
package ratelimit

import (
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
)

// Limiter allows Rate events per second per key, in bursts of up to Burst.
type Limiter struct {
	mu      sync.Mutex // makes get-or-create of a bucket atomic
	limit   rate.Limit
	burst   int
	buckets *lru.LRU[string, *rate.Limiter]
	now     func() time.Time
}

// Config sets a limiter: PerMinute events a minute on average, Burst at
// once, for up to Keys distinct keys (the least recently used beyond that are
// forgotten, as are keys idle for an hour).
type Config struct {
	PerMinute float64
	Burst     int
	Keys      int
	Now       func() time.Time
}

// New returns a limiter. A PerMinute of 0 or less disables it.
func New(c Config) *Limiter {
	if c.Keys <= 0 {
		c.Keys = 100_000
	}
	if c.Burst <= 0 {
		c.Burst = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Limiter{
		limit:   rate.Limit(c.PerMinute / 60),
		burst:   c.Burst,
		buckets: lru.NewLRU[string, *rate.Limiter](c.Keys, nil, time.Hour),
		now:     c.Now,
	}
}

// Allow takes one token from key's bucket. When none is left it returns
// false and how long until one is.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil || l.limit <= 0 {
		return true, 0
	}
	l.mu.Lock()
	b, ok := l.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets.Add(key, b)
	}
	l.mu.Unlock()
	now := l.now()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// AddressKey is the key a client address is limited by: an IPv4 address
// (also written IPv4-mapped, ::ffff:192.0.2.1) as it is, an IPv6 address
// as its /64, written as a prefix (2001:db8:1:2::/64). A /64 is the least
// a site or a home is given, so one client holds a whole /64 and could
// otherwise take a fresh bucket with each of its addresses. Anything that
// is not an IP address (an unknown peer) is its own key.
func AddressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if ip = ip.Unmap(); ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64) // an IPv6 address always has 64 bits to mask to
	return p.String()
}
