package pubsub_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"tenantgraph/internal/pubsub"
)

// drain returns what s has buffered, without waiting, and whether its
// channel is closed.
func drain(s *pubsub.Subscription) (events []pubsub.Event, closed bool) {
	for {
		select {
		case e, ok := <-s.C:
			if !ok {
				return events, true
			}
			events = append(events, e)
		default:
			return events, false
		}
	}
}

// mustReceive waits for one event on s.
func mustReceive(t *testing.T, s *pubsub.Subscription) pubsub.Event {
	t.Helper()
	select {
	case e, ok := <-s.C:
		if !ok {
			t.Fatalf("the subscription ended, want an event")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatalf("no event within 5s, want one")
	}
	return pubsub.Event{}
}

// within runs fn and fails t if it has not returned after d: it is how the
// tests show that Publish never blocks.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

func TestLocalDeliversToTheTenantAndUserOnly(t *testing.T) {
	l := pubsub.NewLocal(0)
	defer l.Close()
	alice1 := l.Subscribe(1, 10)
	alice1Again := l.Subscribe(1, 10) // a second tab
	bob1 := l.Subscribe(1, 20)
	alice2 := l.Subscribe(2, 10) // alice in another tenant
	if got := l.Subscribers(); got != 4 {
		t.Fatalf("Subscribers: got %d, want 4", got)
	}

	events := []pubsub.Event{{TenantID: 1, UserID: 10, NotificationID: 100}, {TenantID: 1, UserID: 10, NotificationID: 101}, {TenantID: 3, UserID: 10, NotificationID: 102}}
	if err := l.Publish(context.Background(), events...); err != nil {
		t.Fatalf("Publish: got %v, want nil", err)
	}
	if err := l.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 20, NotificationID: 103}); err != nil {
		t.Fatalf("Publish: got %v, want nil", err)
	}

	tests := []struct {
		name string
		sub  *pubsub.Subscription
		want []int
	}{
		{"alice in tenant 1", alice1, []int{100, 101}},
		{"alice's second subscription", alice1Again, []int{100, 101}},
		{"bob in tenant 1", bob1, []int{103}},
		{"alice in tenant 2", alice2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, closed := drain(tt.sub)
			if closed {
				t.Errorf("the subscription ended, want it open")
			}
			if len(got) != len(tt.want) {
				t.Fatalf("events: got %v, want notifications %v", got, tt.want)
			}
			for i, e := range got {
				if e.NotificationID != tt.want[i] {
					t.Errorf("event %d: got notification %d, want %d", i, e.NotificationID, tt.want[i])
				}
			}
		})
	}
}

// A Revoke ends every subscription of its (tenant, user), after the
// events before it in the same Publish and before any after it; nothing
// else is touched, and the ended ones are not counted as dropped.
func TestLocalRevokeEndsTheUsersSubscriptions(t *testing.T) {
	l := pubsub.NewLocal(0)
	defer l.Close()
	alice, aliceAgain := l.Subscribe(1, 10), l.Subscribe(1, 10)
	bob, aliceElsewhere := l.Subscribe(1, 20), l.Subscribe(2, 10)
	var funcGot []int
	ended := false
	aliceFunc := l.SubscribeFunc(1, 10, func(e pubsub.Event) bool { funcGot = append(funcGot, e.NotificationID); return true },
		func() { ended = true })

	if err := l.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 100}, pubsub.Revoke(1, 10),
		pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 101}, pubsub.Event{TenantID: 1, UserID: 20, NotificationID: 102}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*pubsub.Subscription{"alice": alice, "alice's second": aliceAgain} {
		if got, closed := drain(s); len(got) != 1 || got[0].NotificationID != 100 || !closed || s.Dropped() {
			t.Errorf("%s: got %v (ended %v, dropped %v), want 100, then the end, not a drop", name, got, closed, s.Dropped())
		}
	}
	if !slices.Equal(funcGot, []int{100}) || !ended || aliceFunc.Dropped() {
		t.Errorf("alice's func subscriber: got %v (ended %v), want 100, then the end", funcGot, ended)
	}
	if got, closed := drain(bob); len(got) != 1 || got[0].NotificationID != 102 || closed {
		t.Errorf("bob: got %v (ended %v), want 102 and still subscribed", got, closed)
	}
	if _, closed := drain(aliceElsewhere); closed {
		t.Error("alice in another tenant: ended, want still subscribed")
	}
	if got := l.Subscribers(); got != 2 {
		t.Errorf("Subscribers: got %d, want 2", got)
	}
}

func TestLocalDropsASubscriberThatFallsBehind(t *testing.T) {
	l := pubsub.NewLocal(0)
	defer l.Close()
	stuck := l.Subscribe(1, 10)  // never reads
	reader := l.Subscribe(1, 10) // the same user in another tab, keeping up
	neighbour := l.Subscribe(1, 20)

	// One more event than the buffer holds; the reader takes each as it comes.
	for i := 1; i <= pubsub.DefaultBuffer+1; i++ {
		within(t, time.Second, "Publish", func() {
			_ = l.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 10, NotificationID: i}, pubsub.Event{TenantID: 1, UserID: 20, NotificationID: i})
		})
		if e := mustReceive(t, reader); e.NotificationID != i {
			t.Fatalf("the reader's event: got notification %d, want %d", e.NotificationID, i)
		}
		if e := mustReceive(t, neighbour); e.NotificationID != i {
			t.Fatalf("the neighbour's event: got notification %d, want %d", e.NotificationID, i)
		}
		if i == pubsub.DefaultBuffer && stuck.Dropped() {
			t.Fatalf("dropped with a full buffer and nothing lost yet, want it still subscribed")
		}
	}
	if !stuck.Dropped() {
		t.Fatalf("Dropped: got false, want true after %d unread events", pubsub.DefaultBuffer+1)
	}
	got, closed := drain(stuck)
	if !closed {
		t.Errorf("the stuck subscription's channel is open, want closed")
	}
	if len(got) != pubsub.DefaultBuffer {
		t.Errorf("the stuck subscriber kept %d events, want the %d buffered", len(got), pubsub.DefaultBuffer)
	}
	if reader.Dropped() || neighbour.Dropped() {
		t.Errorf("Dropped: got true for a subscriber that kept up, want false")
	}
	if got := l.Subscribers(); got != 2 {
		t.Errorf("Subscribers: got %d, want 2", got)
	}

	// Closing a dropped subscription is harmless and keeps the reason.
	stuck.Close()
	if !stuck.Dropped() {
		t.Errorf("Dropped after Close: got false, want true")
	}
	if err := l.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 999}); err != nil {
		t.Fatalf("Publish: got %v, want nil", err)
	}
	if e := mustReceive(t, reader); e.NotificationID != 999 {
		t.Errorf("after the drop: got notification %d, want 999", e.NotificationID)
	}
}

func TestLocalPublishNeverBlocks(t *testing.T) {
	l := pubsub.NewLocal(4)
	defer l.Close()
	var stuck []*pubsub.Subscription
	for range 100 {
		stuck = append(stuck, l.Subscribe(1, 10))
	}
	within(t, 2*time.Second, "10,000 publishes to 100 stuck subscribers", func() {
		for i := range 10_000 {
			_ = l.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 10, NotificationID: i + 1})
		}
	})
	for i, s := range stuck {
		if !s.Dropped() {
			t.Fatalf("subscriber %d: Dropped got false, want true", i)
		}
		if got, closed := drain(s); !closed || len(got) != 4 {
			t.Fatalf("subscriber %d: got %d events (closed %v), want its 4 buffered and closed", i, len(got), closed)
		}
	}
	if got := l.Subscribers(); got != 0 {
		t.Errorf("Subscribers: got %d, want 0", got)
	}
}

func TestLocalClose(t *testing.T) {
	l := pubsub.NewLocal(0)
	subs := []*pubsub.Subscription{l.Subscribe(1, 10), l.Subscribe(1, 10), l.Subscribe(2, 30)}
	_ = l.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 1})
	if err := l.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	for i, s := range subs {
		got, closed := drain(s)
		if !closed {
			t.Errorf("subscription %d: open after Close, want closed", i)
		}
		if i < 2 && len(got) != 1 {
			t.Errorf("subscription %d: got %v, want the event published before Close", i, got)
		}
		if s.Dropped() {
			t.Errorf("subscription %d: Dropped got true, want false (the broker closed)", i)
		}
		s.Close() // after the broker's Close: harmless
	}
	if got := l.Subscribers(); got != 0 {
		t.Errorf("Subscribers: got %d, want 0", got)
	}

	late := l.Subscribe(1, 10)
	if _, closed := drain(late); !closed {
		t.Errorf("Subscribe after Close: the channel is open, want closed")
	}
	late.Close()
	if err := l.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 2}); err != nil {
		t.Errorf("Publish after Close: got %v, want nil", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("a second Close: got %v, want nil", err)
	}
}

func TestSubscriptionCloseIsIdempotent(t *testing.T) {
	l := pubsub.NewLocal(0)
	defer l.Close()
	s := l.Subscribe(1, 10)
	other := l.Subscribe(1, 10)
	s.Close()
	s.Close()
	if _, closed := drain(s); !closed {
		t.Errorf("the channel is open after Close, want closed")
	}
	if s.Dropped() {
		t.Errorf("Dropped: got true, want false (the subscriber left)")
	}
	if got := l.Subscribers(); got != 1 {
		t.Errorf("Subscribers: got %d, want 1", got)
	}
	_ = l.Publish(context.Background(), pubsub.Event{TenantID: 1, UserID: 10, NotificationID: 1})
	if e := mustReceive(t, other); e.NotificationID != 1 {
		t.Errorf("the other subscription: got notification %d, want 1", e.NotificationID)
	}
	s.Close()
}

// A SubscribeFunc subscriber gets its (tenant, user)'s events by a call; it
// is dropped when deliver refuses one, and its end function runs exactly
// once however it ends, also when it closes its own subscription from
// there, which must not deadlock.
func TestLocalSubscribeFunc(t *testing.T) {
	l := pubsub.NewLocal(0)
	var (
		mu      sync.Mutex
		got     []int
		refuse  bool
		endings = map[string]int{}
	)
	subscribe := func(name string, user int) *pubsub.Subscription {
		var s *pubsub.Subscription
		s = l.SubscribeFunc(1, user, func(e pubsub.Event) bool {
			mu.Lock()
			defer mu.Unlock()
			if refuse && name == "refusing" {
				return false
			}
			if name == "taking" {
				got = append(got, e.NotificationID)
			}
			return true
		}, func() {
			mu.Lock()
			endings[name]++
			mu.Unlock()
			if s != nil { // nil: ended within SubscribeFunc (the broker is closed)
				s.Close() // the subscriber ending its own side as well
			}
		})
		return s
	}
	taking, refusing, leaving := subscribe("taking", 10), subscribe("refusing", 10), subscribe("leaving", 20)

	ev := func(user, id int) pubsub.Event { return pubsub.Event{TenantID: 1, UserID: user, NotificationID: id} }
	within(t, time.Second, "Publish", func() { _ = l.Publish(context.Background(), ev(10, 1), ev(20, 2), ev(10, 3)) })
	mu.Lock()
	refuse = true
	mu.Unlock()
	within(t, time.Second, "Publish", func() { _ = l.Publish(context.Background(), ev(10, 4)) })
	within(t, time.Second, "Close", leaving.Close)
	within(t, time.Second, "Close", leaving.Close)
	within(t, time.Second, "Publish", func() { _ = l.Publish(context.Background(), ev(20, 5), ev(10, 6)) })

	mu.Lock()
	if want := []int{1, 3, 4, 6}; !slices.Equal(got, want) {
		t.Errorf("the taking subscriber's events: got %v, want %v", got, want)
	}
	if endings["refusing"] != 1 || endings["leaving"] != 1 || endings["taking"] != 0 {
		t.Errorf("end calls: got %v, want refusing 1, leaving 1, taking 0", endings)
	}
	mu.Unlock()
	if !refusing.Dropped() || leaving.Dropped() || taking.Dropped() {
		t.Errorf("Dropped: refusing %v, leaving %v, taking %v; want true, false, false", refusing.Dropped(), leaving.Dropped(), taking.Dropped())
	}
	if got := l.Subscribers(); got != 1 {
		t.Errorf("Subscribers: got %d, want 1", got)
	}

	within(t, time.Second, "Close", func() { _ = l.Close() })
	late := subscribe("late", 10)
	mu.Lock()
	if endings["taking"] != 1 || endings["late"] != 1 {
		t.Errorf("end calls after the broker closed: got %v, want taking 1 and late 1", endings)
	}
	mu.Unlock()
	late.Close()
}

// TestLocalConcurrentUse is for -race: publishers, subscribers that read a
// little and leave, and subscribers that never read, all at once, then the
// broker closes under them.
func TestLocalConcurrentUse(t *testing.T) {
	l := pubsub.NewLocal(8)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = l.Publish(ctx, pubsub.Event{TenantID: 1 + i%2, UserID: 1 + (i+p)%5, NotificationID: i + 1})
			}
		}()
	}
	var received sync.WaitGroup
	for s := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sub := l.Subscribe(1+s%2, 1+rand.IntN(5))
				if s%4 == 0 {
					continue // never reads, never closes: dropped or closed by the broker
				}
				for range rand.IntN(20) {
					if _, ok := <-sub.C; !ok {
						break
					}
				}
				sub.Close()
				_ = sub.Dropped()
			}
		}()
	}
	// Long-lived subscribers that read until the broker closes them.
	var long []*pubsub.Subscription
	for u := 1; u <= 5; u++ {
		sub := l.Subscribe(1, u)
		long = append(long, sub)
		received.Add(1)
		go func() {
			defer received.Done()
			for range sub.C {
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	within(t, 5*time.Second, "Close under load", func() { _ = l.Close() })
	close(stop)
	within(t, 5*time.Second, "the workers", wg.Wait)
	within(t, 5*time.Second, "the long-lived readers", received.Wait)
	for _, s := range long {
		if _, closed := drain(s); !closed {
			t.Errorf("a long-lived subscription is open after Close, want closed")
		}
	}
	if got := l.Subscribers(); got != 0 {
		t.Errorf("Subscribers after Close: got %d, want 0", got)
	}
}

// BrokerClosed tells a subscription the broker's Close ended from one that
// ended for a reason of its own, already when its end is called.
func TestLocalBrokerClosed(t *testing.T) {
	l := pubsub.NewLocal(0)
	var atEnd []bool
	var own, shut, late *pubsub.Subscription
	own = l.SubscribeFunc(1, 10, func(pubsub.Event) bool { return true }, func() { atEnd = append(atEnd, own.BrokerClosed()) })
	own.Close()
	shut = l.SubscribeFunc(1, 11, func(pubsub.Event) bool { return true }, func() { atEnd = append(atEnd, shut.BrokerClosed()) })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	late = l.SubscribeFunc(1, 12, func(pubsub.Event) bool { return true }, func() {})
	if !slices.Equal(atEnd, []bool{false, true}) {
		t.Errorf("BrokerClosed when each ended: got %v, want [false true] (closed by itself, then by the broker)", atEnd)
	}
	if !late.BrokerClosed() {
		t.Errorf("a subscription made after Close: BrokerClosed false, want true")
	}
}
