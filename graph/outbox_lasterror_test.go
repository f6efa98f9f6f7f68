package graph_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"tenantgraph/ent"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/notify"
)

// newObRawSlack is a TLS server standing in for Slack that answers every
// post with the raw status line it is given (Go's server would not send one
// that is not UTF-8), and counts the posts.
func newObRawSlack(t *testing.T, statusLine string) (*obSlack, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	s := &obSlack{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		calls.Add(1)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijacking the connection: %v", err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString(statusLine + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		_ = buf.Flush()
	}))
	t.Cleanup(s.Close)
	return s, &calls
}

// Whatever text a failed delivery's error carries, its outcome is recorded
// with it, on PostgreSQL too, which refuses invalid UTF-8 and NUL bytes in
// text. An unrecorded outcome left the entry claimed; when the lease ran
// out it was claimed and sent again, for ever: MaxAttempts was never
// reached, and a 404 from Slack, permanent, was posted at every lease.
func TestOutboxRecordsAnyErrorText(t *testing.T) {
	tests := []struct {
		name       string
		err        error // from the sender; nil: Slack's real sender, answered "404 Nicht gefunden \xff\xfe"
		wantStatus outboxentry.Status
		wantError  string
	}{
		{"Slack's status line is not UTF-8", nil, outboxentry.StatusFAILED, "404 Nicht gefunden \uFFFD"},
		{"invalid UTF-8, permanent", notify.Permanent("smtp: 550 \xff\xfe no such user"), outboxentry.StatusFAILED, "550 \uFFFD no such user"},
		{"NUL bytes, retried", errors.New("smtp: 451 \x00try\x00 later"), outboxentry.StatusPENDING, "451 try later"},
		{"10,000 characters, retried", errors.New("smtp: 451 " + strings.Repeat("x", 10000)), outboxentry.StatusPENDING, "451 xxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
				w := newObWorld(t, e, obStatus(http.StatusOK))
				var calls *atomic.Int32
				var sender notify.Sender
				if tt.err == nil {
					var slack *obSlack
					slack, calls = newObRawSlack(t, "HTTP/1.1 404 Nicht gefunden \xff\xfe")
					sender = slack.sender()
					if _, err := e.DB.Client.Tenant.UpdateOneID(w.tenantID).SetSlackWebhookURL(slack.URL + "/services/T0/B0/x").Save(obSystem()); err != nil {
						t.Fatal(err)
					}
				} else {
					calls = new(atomic.Int32)
					sender = notify.SenderFunc(func(context.Context, notify.Message) error {
						calls.Add(1)
						return tt.err
					})
				}
				w.insertSlack(t, 1, nil)
				var clock obClock
				d := e.NewDispatcher(map[string]notify.Sender{notify.Slack: sender}, notify.DispatcherConfig{MaxAttempts: 3, BaseBackoff: time.Hour, Now: clock.now})
				if n, err := d.RunOnce(context.Background()); err != nil || n != 1 {
					t.Fatalf("RunOnce: got (%d, %v), want (1, nil)", n, err)
				}
				en := w.entries(t)[0]
				if en.Status != tt.wantStatus || en.Attempts != 1 || en.ClaimedUntil != nil {
					t.Errorf("the entry: got %s after %d attempts, claimed until %v; want %s after 1, its claim released (the outcome recorded)",
						en.Status, en.Attempts, en.ClaimedUntil, tt.wantStatus)
				}
				if !strings.Contains(en.LastError, tt.wantError) {
					t.Errorf("last_error: got %q, want it to contain %q", en.LastError, tt.wantError)
				}
				if runes := utf8.RuneCountInString(en.LastError); !utf8.ValidString(en.LastError) || runes > 1000 {
					t.Errorf("last_error: %d runes, valid UTF-8 %v; want valid, at most 1,000", runes, utf8.ValidString(en.LastError))
				}
				if tt.wantStatus != outboxentry.StatusFAILED {
					return
				}
				// Past any lease: a FAILED entry is never sent again.
				for range 3 {
					clock.advance(2 * time.Hour)
					if _, err := d.RunOnce(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				if got := calls.Load(); got != 1 {
					t.Errorf("sends: got %d, want 1", got)
				}
			})
		})
	}
}

// An entry whose last attempt's outcome was never recorded (its deliverer
// died mid-send, or the database refused the record) is marked FAILED when
// its lease runs out, not sent once more than MaxAttempts allows, and
// counted as a failure like any other. Before, claim took it again, and an
// outcome that could never be recorded meant a send at every lease for ever.
func TestOutboxFailsAnEntryWhoseLastOutcomeWasLost(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		now := time.Now()
		w.insertSlack(t, 1, func(c *ent.OutboxEntryCreate) {
			c.SetAttempts(3).SetLastError("notify: Slack answered 503 Service Unavailable").
				SetClaimedUntil(now.Add(-time.Second)).SetNextAttemptAt(now.Add(-time.Minute))
		})
		fresh := w.insertSlack(t, 1, nil)
		var mu sync.Mutex
		heard := map[string]int{}
		d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{MaxAttempts: 3, Observe: func(channel, outcome string) {
			mu.Lock()
			defer mu.Unlock()
			heard[channel+" "+outcome]++
		}})
		if n, err := d.RunOnce(context.Background()); err != nil || n != 2 {
			t.Fatalf("RunOnce: got (%d, %v), want (2, nil): one FAILED, one delivered", n, err)
		}
		all := w.entries(t)
		spent := all[0]
		if spent.Status != outboxentry.StatusFAILED || spent.Attempts != 3 || spent.ClaimedUntil != nil {
			t.Errorf("the spent entry: got %s after %d attempts, claimed until %v; want FAILED after 3, no claim",
				spent.Status, spent.Attempts, spent.ClaimedUntil)
		}
		if !strings.Contains(spent.LastError, "never recorded") || !strings.Contains(spent.LastError, "503") {
			t.Errorf("the spent entry's last_error: got %q, want it to say the outcome was never recorded and keep the 503", spent.LastError)
		}
		if all[1].Status != outboxentry.StatusDELIVERED {
			t.Errorf("the fresh entry: got %s, want DELIVERED", all[1].Status)
		}
		obCheckDeliveredOnce(t, w.slack, fresh)
		mu.Lock()
		defer mu.Unlock()
		if heard["SLACK failed"] != 1 || heard["SLACK delivered"] != 1 || len(heard) != 2 {
			t.Errorf("outcomes observed: got %v, want one SLACK failed and one SLACK delivered", heard)
		}
		if !strings.Contains(e.Logs(), "delivery failed for good") {
			t.Errorf("logs: no \"delivery failed for good\" line, want one")
		}
	})
}

// An entry waiting for a retry that a lowered OUTBOX_MAX_ATTEMPTS no longer
// allows (its outcomes were all recorded: no claim is left on it) is marked
// FAILED without another send, and its last_error says that the limit was
// lowered, not that an outcome was lost.
func TestOutboxFailsAnEntryPastALoweredLimit(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		now := time.Now()
		w.insertSlack(t, 1, func(c *ent.OutboxEntryCreate) {
			c.SetAttempts(5).SetLastError("notify: Slack answered 503 Service Unavailable").
				SetNextAttemptAt(now.Add(-time.Minute))
		})
		d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{MaxAttempts: 3})
		if n, err := d.RunOnce(context.Background()); err != nil || n != 1 {
			t.Fatalf("RunOnce: got (%d, %v), want (1, nil): the entry FAILED", n, err)
		}
		spent := w.entries(t)[0]
		if spent.Status != outboxentry.StatusFAILED || spent.Attempts != 5 {
			t.Errorf("the entry: got %s after %d attempts, want FAILED after 5", spent.Status, spent.Attempts)
		}
		for _, want := range []string{"limit of 3 (OUTBOX_MAX_ATTEMPTS), lowered", "503"} {
			if !strings.Contains(spent.LastError, want) {
				t.Errorf("last_error: got %q, want it to contain %q", spent.LastError, want)
			}
		}
		if strings.Contains(spent.LastError, "never recorded") || strings.Contains(e.Logs(), "never recorded") {
			t.Errorf("last_error %q (or the log) says an outcome was lost; every one was recorded", spent.LastError)
		}
		if got, _ := w.slack.counts(); got != 0 {
			t.Errorf("sends: got %d, want none", got)
		}
	})
}

// A message sent whose outcome cannot be recorded at once (the database
// busy or briefly away) has the record tried again within its lease:
// recorded DELIVERED, it is not claimed again when the lease runs out and
// sent a second time.
func TestOutboxRetriesTheRecordOfASend(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		sent := w.insertSlack(t, 1, nil)
		var refused atomic.Int32
		e.DB.Client.Use(func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				if om, ok := m.(*ent.OutboxEntryMutation); ok && om.Op().Is(ent.OpUpdate) {
					if status, set := om.Status(); set && status == outboxentry.StatusDELIVERED && refused.Add(1) <= 2 {
						return nil, errors.New("database is locked")
					}
				}
				return next.Mutate(ctx, m)
			})
		})
		d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{})
		if n, err := d.RunOnce(context.Background()); err != nil || n != 1 {
			t.Fatalf("RunOnce: got (%d, %v), want (1, nil)", n, err)
		}
		if got := w.entries(t)[0]; got.Status != outboxentry.StatusDELIVERED || got.ClaimedUntil != nil {
			t.Fatalf("the entry: got %s, claimed until %v; want DELIVERED, no claim", got.Status, got.ClaimedUntil)
		}
		if refused.Load() != 3 {
			t.Errorf("records: got %d, want two refused and the third kept", refused.Load())
		}
		// After the lease it would have had: nothing is due.
		late := e.NewDispatcher(w.senders(), notify.DispatcherConfig{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
		if n, err := late.RunOnce(context.Background()); err != nil || n != 0 {
			t.Fatalf("RunOnce after the lease: got (%d, %v), want (0, nil)", n, err)
		}
		obCheckDeliveredOnce(t, w.slack, sent)
	})
}

// A sender that panics (a bug in it: a custom Sender, say) fails its
// attempt, which is recorded and retried as any failure is, and the
// dispatcher goes on with the other entries: the panic neither ends the
// process nor, through the entry claimed again after each restart, every
// instance in turn.
func TestOutboxSurvivesAPanickingSender(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		_, text := w.submit(t, "Apollo") // an EMAIL for the OWNER and the MANAGER, and a SLACK message
		senders := w.senders()
		senders[notify.Email] = notify.SenderFunc(func(context.Context, notify.Message) error {
			var m map[string]int
			m["boom"]++ // a nil map: panics
			return nil
		})
		d := e.NewDispatcher(senders, notify.DispatcherConfig{})
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		all := w.entries(t)
		for _, en := range obByChannel(all, outboxentry.ChannelEMAIL) {
			if en.Status != outboxentry.StatusPENDING || en.Attempts != 1 || en.ClaimedUntil != nil ||
				!strings.Contains(en.LastError, "the EMAIL sender panicked: assignment to entry in nil map") {
				t.Errorf("EMAIL entry %d: got %s after %d attempts (claimed until %v), last error %q; want PENDING, a retry, with the panic kept",
					en.ID, en.Status, en.Attempts, en.ClaimedUntil, en.LastError)
			}
		}
		obCheckDeliveredOnce(t, w.slack, []string{text})
		if !strings.Contains(e.Logs(), `"msg":"outbox: the sender panicked"`) {
			t.Errorf("no log line for the panic:\n%s", e.Logs())
		}
	})
}
