package graph_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"tenantgraph/ent/outboxentry"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/notify"
)

// obGate is a sender whose sends wait at a gate: it tells started of each
// send as it begins (with the dispatcher's time then), and lets them finish
// when the gate opens (or, if it heeds its context, when that ends). It
// counts, per message subject, the sends that returned nil.
type obGate struct {
	started chan time.Time
	open    chan struct{}
	now     func() time.Time
	heed    bool // return the context's error when it ends first

	mu   sync.Mutex
	sent map[string]int
}

func newObGate(now func() time.Time, heedContext bool) *obGate {
	return &obGate{started: make(chan time.Time, 100), open: make(chan struct{}), now: now, heed: heedContext, sent: map[string]int{}}
}

func (g *obGate) Send(ctx context.Context, m notify.Message) error {
	g.started <- g.now()
	if g.heed {
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		<-g.open // like net/smtp mid-DATA: it does not hear its context
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent[m.Subject]++
	return nil
}

// await waits for n sends to have started and returns when each did.
func (g *obGate) await(t *testing.T, n int) []time.Time {
	t.Helper()
	var at []time.Time
	for range n {
		select {
		case ts := <-g.started:
			at = append(at, ts)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d sends started within 10s", len(at), n)
		}
	}
	return at
}

func (g *obGate) counts() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.sent))
	for k, v := range g.sent {
		out[k] = v
	}
	return out
}

// obRunOnce runs d.RunOnce(ctx) in the background; the returned wait gives
// its result.
func obRunOnce(ctx context.Context, d *notify.Dispatcher) (wait func(t *testing.T) (int, error)) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := d.RunOnce(ctx)
		done <- result{n, err}
	}()
	return func(t *testing.T) (int, error) {
		t.Helper()
		select {
		case r := <-done:
			return r.n, r.err
		case <-time.After(20 * time.Second):
			t.Fatalf("RunOnce did not return within 20s")
			return 0, nil
		}
	}
}

// When the server stops mid-batch, the sends under way finish and are
// recorded, so none is sent again after the restart, and the entries not
// started yet are handed back as they were, for the restart to send at
// once. Before, their outcomes were recorded on the cancelled context:
// a message that was sent stayed PENDING and was sent again.
func TestOutboxStopMidBatchSendsEachMessageOnce(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		w.insertSlack(t, 6, nil)
		gate := newObGate(time.Now, false)
		d := e.NewDispatcher(map[string]notify.Sender{notify.Slack: gate}, notify.DispatcherConfig{})
		ctx, stop := context.WithCancel(context.Background())
		wait := obRunOnce(ctx, d)
		gate.await(t, 4) // four at a time: two are not started
		stop()           // before any send ends: RunOnce starts no more
		close(gate.open)
		if n, err := wait(t); err != nil || n != 6 {
			t.Fatalf("RunOnce: got (%d, %v), want (6, nil)", n, err)
		}
		delivered, handedBack := 0, 0
		for _, en := range w.entries(t) {
			switch {
			case en.Status == outboxentry.StatusDELIVERED && en.Attempts == 1 && en.ClaimedUntil == nil:
				delivered++
			case en.Status == outboxentry.StatusPENDING && en.Attempts == 0 && en.ClaimedUntil == nil:
				handedBack++
			default:
				t.Errorf("entry %d after the stop: got %s after %d attempts, claimed until %v; want DELIVERED after 1 or PENDING after 0, no claim",
					en.ID, en.Status, en.Attempts, en.ClaimedUntil)
			}
		}
		if delivered != 4 || handedBack != 2 {
			t.Errorf("after the stop: %d DELIVERED and %d handed back, want 4 and 2", delivered, handedBack)
		}

		// The restart, long after any lease, delivers the two, and only them.
		later := time.Now().Add(time.Hour)
		restarted := e.NewDispatcher(map[string]notify.Sender{notify.Slack: gate}, notify.DispatcherConfig{Now: func() time.Time { return later }})
		if n, err := restarted.RunOnce(context.Background()); err != nil || n != 2 {
			t.Fatalf("RunOnce after the restart: got (%d, %v), want (2, nil)", n, err)
		}
		sent := gate.counts()
		for subject, n := range sent {
			if n != 1 {
				t.Errorf("%q sent %d times, want once", subject, n)
			}
		}
		if len(sent) != 6 {
			t.Errorf("messages sent: got %d, want 6", len(sent))
		}
	})
}

// A send that does not end within StopGrace of the stop is cancelled, its
// claim released and the attempt not counted: it is due again at once, and
// a stop during its last attempt (MaxAttempts 1 here) does not make it
// FAILED. The stop waits for no more than that.
func TestOutboxStopCancelsSendsAfterTheGrace(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		w.insertSlack(t, 1, nil)
		gate := newObGate(time.Now, true)
		defer close(gate.open)
		d := e.NewDispatcher(map[string]notify.Sender{notify.Slack: gate}, notify.DispatcherConfig{StopGrace: 100 * time.Millisecond, MaxAttempts: 1})
		ctx, stop := context.WithCancel(context.Background())
		wait := obRunOnce(ctx, d)
		gate.await(t, 1)
		stopped := time.Now()
		stop()
		if n, err := wait(t); err != nil || n != 1 {
			t.Fatalf("RunOnce: got (%d, %v), want (1, nil)", n, err)
		}
		if took := time.Since(stopped); took > 5*time.Second {
			t.Errorf("RunOnce returned %v after the stop, want about the 100ms grace", took)
		}
		en := w.entries(t)[0]
		if en.Status != outboxentry.StatusPENDING || en.Attempts != 0 || en.ClaimedUntil != nil || en.NextAttemptAt.After(time.Now()) {
			t.Errorf("the cancelled entry: got %s after %d attempts, claimed until %v, next attempt at %v; want PENDING, the cut-off attempt not counted, no claim, due at once",
				en.Status, en.Attempts, en.ClaimedUntil, en.NextAttemptAt)
		}
		if !strings.Contains(en.LastError, context.Canceled.Error()) {
			t.Errorf("last_error: got %q, want %q", en.LastError, context.Canceled.Error())
		}
	})
}

// No send is under way when its entry's lease runs out, however slow the
// batch: an entry is started only if its send (SendTimeout) can end, and be
// recorded, within its lease, and handed back otherwise, so another
// instance claiming it then cannot deliver it a second time. Before, the
// fifth entry of a batch whose first four took most of the lease was sent
// anyway.
func TestOutboxNeverSendsPastTheLease(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		w.insertSlack(t, 5, nil)
		const lease, sendTimeout = time.Minute, 10 * time.Second
		var clock obClock
		gate := newObGate(clock.now, false)
		d := e.NewDispatcher(map[string]notify.Sender{notify.Slack: gate}, notify.DispatcherConfig{
			Lease: lease, SendTimeout: sendTimeout, BatchSize: 5, Now: clock.now, // a minute is enough for 5
		})
		claimed := clock.now()
		wait := obRunOnce(context.Background(), d)
		started := gate.await(t, 4)
		clock.advance(lease - 5*time.Second) // the first four took most of the lease
		close(gate.open)
		if n, err := wait(t); err != nil || n != 5 {
			t.Fatalf("RunOnce: got (%d, %v), want (5, nil)", n, err)
		}
		for len(gate.started) > 0 {
			started = append(started, <-gate.started)
		}
		for i, at := range started {
			if end := at.Add(sendTimeout); end.After(claimed.Add(lease)) {
				t.Errorf("send %d started %v after the claim: it could end %v after the lease ran out",
					i+1, at.Sub(claimed).Round(time.Second), end.Sub(claimed.Add(lease)).Round(time.Second))
			}
		}
		all := w.entries(t)
		last := all[len(all)-1]
		if last.Status != outboxentry.StatusPENDING || last.Attempts != 0 || last.ClaimedUntil != nil {
			t.Errorf("the fifth entry: got %s after %d attempts, claimed until %v; want PENDING after 0, handed back",
				last.Status, last.Attempts, last.ClaimedUntil)
		}
		if n, err := d.RunOnce(context.Background()); err != nil || n != 1 {
			t.Errorf("the next RunOnce: got (%d, %v), want (1, nil): the fifth entry", n, err)
		}
		for _, en := range w.entries(t) {
			if en.Status != outboxentry.StatusDELIVERED || en.Attempts != 1 {
				t.Errorf("entry %d: got %s after %d attempts, want DELIVERED after 1", en.ID, en.Status, en.Attempts)
			}
		}
		if !strings.Contains(e.Logs(), "handed back") {
			t.Errorf("logs: no line about the entries handed back, want one")
		}
	})
}
