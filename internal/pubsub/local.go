package pubsub

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultBuffer is how many undelivered events a subscriber may have queued
// before it is considered stuck and disconnected.
const DefaultBuffer = 64

// Subscription is one subscriber's stream of events. A subscription made by
// Subscribe has its events on C, which is closed when the subscription
// ends: Close was called, the broker closed, or the subscriber fell its
// buffer behind (Dropped then reports true). One made by SubscribeFunc has
// no C: its events are handed to a function.
type Subscription struct {
	C       <-chan Event
	deliver func(Event) bool
	end     func()
	key     key
	local   *Local
	ended   atomic.Bool // end has been called
	dropped atomic.Bool
	shut    atomic.Bool // ended by the broker's Close
}

// BrokerClosed reports whether the subscription ended because the broker
// closed (the server is stopping), not for a reason of its own: the
// subscriber may then go on elsewhere (a client reconnects to another
// instance). It is set before the subscription's end is called.
func (s *Subscription) BrokerClosed() bool { return s.shut.Load() }

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.local.remove([]*Subscription{s}, false) }

// Dropped reports whether the subscription was ended as one that missed
// events: its subscriber could not keep up, or the events could not be
// handed over (Drop, DropAll). Its subscriber is to come back for what it
// missed, and subscribe again.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

// Drop ends the subscription as one that missed events (Dropped then
// reports true): its subscriber fell behind, or what was to be delivered
// could not be read. It is safe to call more than once, and after Close.
func (s *Subscription) Drop() { s.local.remove([]*Subscription{s}, true) }

type key struct{ tenant, user int }

// Local is an in-process broker: publishing never blocks, a subscriber that
// cannot keep up is disconnected instead of slowing anyone down. On its own
// it serves one instance (the SQLite default); the PostgreSQL broker uses it
// for the fan-out on each instance.
type Local struct {
	mu     sync.RWMutex
	subs   map[key]map[*Subscription]struct{}
	buffer int
	closed bool
}

// NewLocal returns an in-process broker whose channel subscribers buffer up
// to buffer events (DefaultBuffer when buffer <= 0).
func NewLocal(buffer int) *Local {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Local{subs: map[key]map[*Subscription]struct{}{}, buffer: buffer}
}

// Publish hands each event to the subscribers of its (tenant, user); a
// Revoke ends them instead, after the events before it in events.
func (l *Local) Publish(_ context.Context, events ...Event) error {
	var slow, revoked []*Subscription
	l.mu.RLock()
	for _, e := range events {
		for s := range l.subs[key{e.TenantID, e.UserID}] {
			switch {
			case slices.Contains(revoked, s):
			case e.Revokes():
				revoked = append(revoked, s)
			case !s.deliver(e):
				slow = append(slow, s)
			}
		}
	}
	l.mu.RUnlock()
	l.remove(slow, true)
	l.remove(revoked, false)
	return nil
}

// Subscribe registers a subscriber of one (tenant, user) whose events are
// buffered on its channel C.
func (l *Local) Subscribe(tenantID, userID int) *Subscription {
	c := make(chan Event, l.buffer)
	s := &Subscription{
		C: c,
		deliver: func(e Event) bool {
			select {
			case c <- e:
				return true
			default:
				return false
			}
		},
		end: func() { close(c) },
	}
	return l.add(s, tenantID, userID)
}

// SubscribeFunc registers a subscriber of one (tenant, user) that needs no
// goroutine of its own to wait for events: Publish calls deliver with each
// event, under the broker's read lock, so deliver must not block or call
// the broker. deliver returns false when the subscriber cannot take the
// event, which ends the subscription as one that fell behind. end is called
// once when the subscription ends, whatever ends it (Close included),
// after which deliver is not called again.
func (l *Local) SubscribeFunc(tenantID, userID int, deliver func(Event) bool, end func()) *Subscription {
	return l.add(&Subscription{deliver: deliver, end: end}, tenantID, userID)
}

func (l *Local) add(s *Subscription, tenantID, userID int) *Subscription {
	s.key, s.local = key{tenantID, userID}, l
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		s.shut.Store(true)
		s.finish() // outside the lock, as remove calls it
		return s
	}
	if l.subs[s.key] == nil {
		l.subs[s.key] = map[*Subscription]struct{}{}
	}
	l.subs[s.key][s] = struct{}{}
	l.mu.Unlock()
	return s
}

// Subscribers returns how many subscriptions are open.
func (l *Local) Subscribers() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for _, set := range l.subs {
		n += len(set)
	}
	return n
}

// remove ends subs under one lock (a burst of drops, or Close with many
// subscribers, must not queue behind publishers once per subscription), then
// calls their end functions (closing a channel subscriber's C): no Publish
// can reach them any more.
func (l *Local) remove(subs []*Subscription, dropped bool) {
	if len(subs) == 0 {
		return
	}
	l.mu.Lock()
	for _, s := range subs {
		set := l.subs[s.key]
		if _, ok := set[s]; !ok {
			continue
		}
		delete(set, s)
		if len(set) == 0 {
			delete(l.subs, s.key)
		}
		if dropped {
			s.dropped.Store(true)
		}
	}
	l.mu.Unlock()
	for _, s := range subs {
		s.finish()
	}
}

// finish calls s.end once. A flag rather than a sync.Once: end may itself
// call Close (the subscriber ending its side), which must return, not wait
// for the end in progress.
func (s *Subscription) finish() {
	if s.ended.CompareAndSwap(false, true) {
		s.end()
	}
}

// DropAll ends every open subscription as one that missed events
// (Dropped), and stays open for new ones, and returns how many it ended:
// the PostgreSQL broker does it when its LISTEN connection was
// re-established, since what was notified while it was down never reached
// it.
func (l *Local) DropAll() int {
	l.mu.RLock()
	all := l.all()
	l.mu.RUnlock()
	l.remove(all, true)
	return len(all)
}

// all lists the open subscriptions. l.mu is held.
func (l *Local) all() []*Subscription {
	var all []*Subscription
	for _, set := range l.subs {
		for s := range set {
			all = append(all, s)
		}
	}
	return all
}

// Close ends every subscription; later subscriptions end at once.
func (l *Local) Close() error {
	l.mu.Lock()
	l.closed = true
	all := l.all()
	l.mu.Unlock()
	for _, s := range all {
		s.shut.Store(true)
	}
	l.remove(all, false)
	return nil
}
