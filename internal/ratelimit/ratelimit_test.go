package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// step is one Allow call and what it must answer.
type step struct {
	advance  time.Duration // moved on the clock before the call
	key      string
	wantOK   bool
	wantWait time.Duration
}

func runSteps(t *testing.T, l *Limiter, clock *fakeClock, steps []step) {
	t.Helper()
	for i, s := range steps {
		clock.Advance(s.advance)
		ok, wait := l.Allow(s.key)
		if ok != s.wantOK || wait != s.wantWait {
			t.Errorf("step %d (key %q, +%s): got (%v, %s), want (%v, %s)", i+1, s.key, s.advance, ok, wait, s.wantOK, s.wantWait)
		}
	}
}

func TestBurstThenRefill(t *testing.T) {
	clock := newFakeClock()
	l := New(Config{PerMinute: 60, Burst: 3, Now: clock.Now}) // one a second
	runSteps(t, l, clock, []step{
		{0, "k", true, 0},
		{0, "k", true, 0},
		{0, "k", true, 0},
		{0, "k", false, time.Second}, // the burst is spent
		{0, "k", false, time.Second}, // a refused attempt takes nothing
		{500 * time.Millisecond, "k", false, 500 * time.Millisecond},
		{500 * time.Millisecond, "k", true, 0}, // one token came back
		{0, "k", false, time.Second},
		{10 * time.Second, "k", true, 0}, // refilled, but only up to the burst
		{0, "k", true, 0},
		{0, "k", true, 0},
		{0, "k", false, time.Second},
	})
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name      string
		perMinute float64
		burst     int
		want      time.Duration
	}{
		{"ten a minute", 10, 1, 6 * time.Second},
		{"one a minute", 1, 1, time.Minute},
		{"one every two minutes", 0.5, 1, 2 * time.Minute},
		{"1200 a minute", 1200, 5, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := New(Config{PerMinute: tt.perMinute, Burst: tt.burst, Now: clock.Now})
			for i := 0; i < tt.burst; i++ {
				if ok, _ := l.Allow("k"); !ok {
					t.Fatalf("attempt %d within the burst of %d refused", i+1, tt.burst)
				}
			}
			ok, wait := l.Allow("k")
			if ok || wait != tt.want {
				t.Errorf("past the burst: got (%v, %s), want (false, %s)", ok, wait, tt.want)
			}
		})
	}
}

func TestBurstDefaultsToOne(t *testing.T) {
	clock := newFakeClock()
	l := New(Config{PerMinute: 60, Now: clock.Now})
	runSteps(t, l, clock, []step{
		{0, "k", true, 0},
		{0, "k", false, time.Second},
	})
}

func TestKeysAreIsolated(t *testing.T) {
	clock := newFakeClock()
	l := New(Config{PerMinute: 1, Burst: 2, Now: clock.Now})
	runSteps(t, l, clock, []step{
		{0, "alice@example.test", true, 0},
		{0, "alice@example.test", true, 0},
		{0, "alice@example.test", false, time.Minute},
		{0, "bob@example.test", true, 0}, // another key has its own bucket
		{0, "bob@example.test", true, 0},
		{0, "bob@example.test", false, time.Minute},
		{0, "", true, 0},                   // the empty key too
		{0, "ALICE@example.test", true, 0}, // keys are compared exactly (callers normalise)
		{0, "alice@example.test", false, time.Minute},
	})
}

func TestDisabled(t *testing.T) {
	for _, perMinute := range []float64{0, -5} {
		t.Run(fmt.Sprint("PerMinute ", perMinute), func(t *testing.T) {
			l := New(Config{PerMinute: perMinute, Burst: 1})
			for i := 0; i < 1000; i++ {
				if ok, wait := l.Allow("k"); !ok || wait != 0 {
					t.Fatalf("call %d: got (%v, %s), want (true, 0): a disabled limiter allows everything", i+1, ok, wait)
				}
			}
		})
	}
	t.Run("nil limiter", func(t *testing.T) {
		var l *Limiter
		if ok, wait := l.Allow("k"); !ok || wait != 0 {
			t.Errorf("got (%v, %s), want (true, 0)", ok, wait)
		}
	})
}

// TestForgetsLeastRecentlyUsedKeys: past Keys distinct keys the least
// recently used bucket is dropped (memory stays bounded); its key starts
// afresh.
func TestForgetsLeastRecentlyUsedKeys(t *testing.T) {
	clock := newFakeClock()
	l := New(Config{PerMinute: 1, Burst: 1, Keys: 2, Now: clock.Now})
	runSteps(t, l, clock, []step{
		{0, "a", true, 0},
		{0, "a", false, time.Minute},
		{0, "b", true, 0},
		{0, "c", true, 0}, // a is the least recently used of three: forgotten
		{0, "a", true, 0},
		{0, "c", false, time.Minute}, // c was kept
	})
	if n := l.buckets.Len(); n != 2 {
		t.Errorf("buckets kept: got %d, want 2", n)
	}
}

// TestConcurrentUse: many goroutines on one key never get more than the
// burst between them (run with -race).
func TestConcurrentUse(t *testing.T) {
	clock := newFakeClock()
	l := New(Config{PerMinute: 60, Burst: 100, Now: clock.Now})
	const workers, calls = 16, 50
	var allowed, other atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				if ok, _ := l.Allow("shared"); ok {
					allowed.Add(1)
				}
				if ok, _ := l.Allow(fmt.Sprintf("own-%d-%d", w, i)); ok {
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != 100 {
		t.Errorf("allowed on the shared key: got %d, want exactly the burst of 100", got)
	}
	if got := other.Load(); got != workers*calls {
		t.Errorf("allowed on fresh keys: got %d, want all %d", got, workers*calls)
	}
}

func TestAddressKey(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"}, // the same /64
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},                  // the next one
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"", ""},
		{"@", "@"}, // not an address (a unix socket's peer): as it is
	}
	for _, tt := range tests {
		if got := AddressKey(tt.addr); got != tt.want {
			t.Errorf("AddressKey(%q): got %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// TestAddressKeyIPv6Rotation: a client that moves through the addresses of
// its /64 keeps one bucket.
func TestAddressKeyIPv6Rotation(t *testing.T) {
	clock := newFakeClock()
	l := New(Config{PerMinute: 1, Burst: 2, Now: clock.Now})
	runSteps(t, l, clock, []step{
		{0, AddressKey("2001:db8:1:2::1"), true, 0},
		{0, AddressKey("2001:db8:1:2::2"), true, 0},
		{0, AddressKey("2001:db8:1:2:a:b:c:d"), false, time.Minute},
		{0, AddressKey("2001:db8:1:3::1"), true, 0}, // another /64: another client
		{0, AddressKey("203.0.113.7"), true, 0},
		{0, AddressKey("203.0.113.8"), true, 0}, // IPv4 addresses are each their own
	})
}
