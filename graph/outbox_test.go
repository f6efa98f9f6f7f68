package graph_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/user"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/metrics"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/pubsub"
)

// obSystem is the dispatcher's view: privacy bypassed, every tenant.
func obSystem() context.Context {
	return privacy.DecisionContext(context.Background(), privacy.Allow)
}

// obSlack is an httptest TLS server standing in for Slack. It answers the
// n-th call (from 1) with status(n) and counts, per message text, the calls
// it answered with 200.
type obSlack struct {
	*httptest.Server
	status func(call int) int
	delay  atomic.Int64 // per call, a time.Duration

	mu        sync.Mutex
	calls     int
	delivered map[string]int
}

func newObSlack(t *testing.T, status func(call int) int) *obSlack {
	t.Helper()
	s := &obSlack{status: status, delivered: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(s.delay.Load()))
		s.mu.Lock()
		s.calls++
		code := s.status(s.calls)
		if code == http.StatusOK {
			s.delivered[msg.Text]++
		}
		s.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *obSlack) counts() (calls int, delivered map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delivered = make(map[string]int, len(s.delivered))
	for k, v := range s.delivered {
		delivered[k] = v
	}
	return s.calls, delivered
}

// sender returns a Slack sender that trusts this server, as a fresh process
// would build it.
func (s *obSlack) sender() *notify.SlackSender {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return notify.NewSlackSender(notify.SlackConfig{
		Guard:   notify.WebhookGuard{AllowLoopback: true},
		TLS:     &tls.Config{RootCAs: pool},
		Timeout: 5 * time.Second,
	})
}

// obMailbox records the EMAIL sender's messages.
type obMailbox struct {
	mu   sync.Mutex
	sent []notify.Message
}

func (m *obMailbox) sender() notify.Sender {
	return notify.SenderFunc(func(_ context.Context, msg notify.Message) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.sent = append(m.sent, msg)
		return nil
	})
}

func (m *obMailbox) messages() []notify.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]notify.Message(nil), m.sent...)
}

// obWorld is a tenant "acme" with an OWNER, a MANAGER and a MEMBER, whose
// notifications go to IN_APP, EMAIL and a Slack webhook on a test server.
type obWorld struct {
	e                      *graphtest.Env
	owner, manager, member graphtest.User
	tenantID               int
	slack                  *obSlack
	mail                   *obMailbox
}

func newObWorld(t *testing.T, e *graphtest.Env, slackStatus func(call int) int) *obWorld {
	t.Helper()
	w := &obWorld{e: e, owner: e.Register("Olivia"), manager: e.Register("Mark"), member: e.Register("Mia"), mail: &obMailbox{}}
	id, err := globalid.Decode(e.CreateTenant(w.owner, "acme"))
	if err != nil {
		t.Fatal(err)
	}
	w.tenantID = id
	e.AddMember(w.owner, "acme", w.manager, "MANAGER")
	e.AddMember(w.owner, "acme", w.member, "MEMBER")
	w.slack = newObSlack(t, slackStatus)
	e.MustDo(w.owner.Caller("acme"), `mutation($i: TenantConfigInput!) { updateTenantConfig(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"notificationChannels": []string{"IN_APP", "EMAIL", "SLACK"}, "slackWebhookURL": w.slack.URL + "/services/T0/B0/x"}}, nil)
	return w
}

func (w *obWorld) senders() map[string]notify.Sender {
	return map[string]notify.Sender{notify.Slack: w.slack.sender(), notify.Email: w.mail.sender()}
}

// submit has the MEMBER create and submit a project: one SLACK entry and an
// EMAIL entry each for the MANAGER and the OWNER. It returns the project's
// ID and the Slack text that announces it.
func (w *obWorld) submit(t *testing.T, name string) (id, slackText string) {
	t.Helper()
	c := w.member.Caller("acme")
	id = w.e.CreateProject(c, name)
	w.e.Transition(c, id, "SUBMITTED")
	return id, obSubmittedText(name)
}

func obSubmittedText(name string) string {
	return fmt.Sprintf("*%q was submitted for approval*\nMia submitted the project %q for approval.", name, name)
}

// entries returns every outbox entry of the database, oldest first.
func (w *obWorld) entries(t *testing.T) []*ent.OutboxEntry {
	t.Helper()
	all, err := w.e.DB.Client.OutboxEntry.Query().Order(ent.Asc(outboxentry.FieldID)).All(obSystem())
	if err != nil {
		t.Fatalf("reading the outbox: %v", err)
	}
	return all
}

// insertSlack queues n SLACK entries directly, as committed mutations would
// have, and returns their texts.
func (w *obWorld) insertSlack(t *testing.T, n int, edit func(*ent.OutboxEntryCreate)) []string {
	t.Helper()
	texts := make([]string, n)
	builders := make([]*ent.OutboxEntryCreate, n)
	for i := range n {
		subject := fmt.Sprintf("message %03d", i)
		texts[i] = "*" + subject + "*\nbody"
		builders[i] = w.e.DB.Client.OutboxEntry.Create().SetTenantID(w.tenantID).
			SetChannel(outboxentry.ChannelSLACK).SetPayload(map[string]string{"subject": subject, "body": "body"})
		if edit != nil {
			edit(builders[i])
		}
	}
	if err := w.e.DB.Client.OutboxEntry.CreateBulk(builders...).Exec(obSystem()); err != nil {
		t.Fatalf("queueing Slack entries: %v", err)
	}
	return texts
}

// awaitSettled polls the outbox until no entry is PENDING.
func (w *obWorld) awaitSettled(t *testing.T, within time.Duration) []*ent.OutboxEntry {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		all := w.entries(t)
		pending := 0
		for _, en := range all {
			if en.Status == outboxentry.StatusPENDING {
				pending++
			}
		}
		if pending == 0 {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d outbox entries still PENDING after %v", pending, len(all), within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// obClock is the dispatcher's clock, moved forward by tests so that retries
// come due without waiting.
type obClock struct{ offset atomic.Int64 }

func (c *obClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *obClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func obStatus(code int) func(int) int { return func(int) int { return code } }

func obByChannel(all []*ent.OutboxEntry, ch outboxentry.Channel) []*ent.OutboxEntry {
	var out []*ent.OutboxEntry
	for _, en := range all {
		if en.Channel == ch {
			out = append(out, en)
		}
	}
	return out
}

// obCheckDeliveredOnce fails t unless the Slack server answered 200 exactly
// once for each text and for nothing else.
func obCheckDeliveredOnce(t *testing.T, s *obSlack, texts []string) {
	t.Helper()
	_, delivered := s.counts()
	for _, text := range texts {
		if delivered[text] != 1 {
			t.Errorf("Slack message %q delivered %d times, want once", text, delivered[text])
		}
	}
	if len(delivered) != len(texts) {
		t.Errorf("Slack got %d distinct messages, want %d: %v", len(delivered), len(texts), delivered)
	}
}

func TestOutboxIsWrittenWithTheChange(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{})
		if got := len(w.entries(t)); got != 0 {
			t.Fatalf("outbox before any change: got %d entries, want 0 (channels were [IN_APP] while members were added)", got)
		}

		_, text := w.submit(t, "Apollo")
		pending := w.entries(t)
		if len(pending) != 3 {
			t.Fatalf("outbox after the submission: got %d entries, want 3 (EMAIL to the MANAGER and the OWNER, one SLACK)", len(pending))
		}
		for _, en := range pending {
			if en.Status != outboxentry.StatusPENDING || en.Attempts != 0 || en.TenantID != w.tenantID {
				t.Errorf("entry %d before the dispatcher ran: got %s, %d attempts, tenant %d; want PENDING, 0, %d", en.ID, en.Status, en.Attempts, en.TenantID, w.tenantID)
			}
		}
		if calls, _ := w.slack.counts(); calls != 0 || len(w.mail.messages()) != 0 {
			t.Fatalf("before the dispatcher ran: %d Slack calls and %d emails, want none", calls, len(w.mail.messages()))
		}

		n, err := d.RunOnce(context.Background())
		if err != nil || n != 3 {
			t.Fatalf("RunOnce: got (%d, %v), want (3, nil)", n, err)
		}
		for _, en := range w.entries(t) {
			if en.Status != outboxentry.StatusDELIVERED || en.Attempts != 1 || en.DeliveredAt == nil || en.ClaimedUntil != nil {
				t.Errorf("entry %d after RunOnce: got %s, %d attempts, delivered at %v, claimed until %v; want DELIVERED, 1, a time, none",
					en.ID, en.Status, en.Attempts, en.DeliveredAt, en.ClaimedUntil)
			}
		}
		obCheckDeliveredOnce(t, w.slack, []string{text})

		mails := w.mail.messages()
		got := map[string]int{}
		for _, m := range mails {
			got[m.To]++
			if m.Subject != `"Apollo" was submitted for approval` || m.Body != `Mia submitted the project "Apollo" for approval.` || m.TenantID != w.tenantID {
				t.Errorf("email to %s: got %+v, want the submission of Apollo in tenant %d", m.To, m, w.tenantID)
			}
		}
		if len(mails) != 2 || got[w.manager.Email] != 1 || got[w.owner.Email] != 1 {
			t.Errorf("emails: got %v, want one each to %s and %s", got, w.manager.Email, w.owner.Email)
		}
		if n, err := d.RunOnce(context.Background()); err != nil || n != 0 {
			t.Errorf("a second RunOnce: got (%d, %v), want (0, nil)", n, err)
		}
	})
}

func TestOutboxRolledBackMutationNotifiesNoOne(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{})
		managerID, _ := globalid.Decode(w.manager.ID)
		live := e.Broker.Subscribe(w.tenantID, managerID)
		defer live.Close()
		countNotifications := func() int {
			t.Helper()
			n, err := e.DB.Client.Notification.Query().Count(obSystem())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		notificationsBefore := countNotifications()

		c := w.member.Caller("acme")
		project := e.CreateProject(c, "Apollo")
		r := e.Do(c, `mutation($id: ID!) {
			transitionProject(id: $id, to: SUBMITTED) { id }
			createProject(input: {name: ""}) { id }
		}`, map[string]any{"id": project})
		if r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("the second field: got %q (%+v), want BAD_USER_INPUT", r.Code(), r.Errors)
		}
		if got := countNotifications(); got != notificationsBefore {
			t.Errorf("notification rows: got %d, want %d (unchanged)", got, notificationsBefore)
		}
		if got := w.entries(t); len(got) != 0 {
			t.Errorf("outbox entries: got %d, want 0", len(got))
		}
		var out struct{ Node struct{ Status string } }
		e.MustDo(c, `query($id: ID!) { node(id: $id) { ... on Project { status } } }`, map[string]any{"id": project}, &out)
		if out.Node.Status != "DRAFT" {
			t.Errorf("the project's status: got %s, want DRAFT (rolled back)", out.Node.Status)
		}
		if n, err := d.RunOnce(context.Background()); err != nil || n != 0 {
			t.Errorf("RunOnce: got (%d, %v), want (0, nil)", n, err)
		}
		if calls, _ := w.slack.counts(); calls != 0 || len(w.mail.messages()) != 0 {
			t.Errorf("deliveries: %d Slack calls and %d emails, want none", calls, len(w.mail.messages()))
		}

		// No live push either: the first event the MANAGER hears of is the
		// marker's, committed after the failed mutation.
		marker, _ := w.submit(t, "Marker")
		markerID, _ := globalid.Decode(marker)
		var ev pubsub.Event
		select {
		case ev = <-live.C:
		case <-time.After(5 * time.Second):
			t.Fatalf("no live event for the marker within 5s")
		}
		n, err := e.DB.Client.Notification.Query().Where(notification.ID(ev.NotificationID)).Only(obSystem())
		if err != nil {
			t.Fatalf("the pushed notification %d: %v", ev.NotificationID, err)
		}
		if n.ProjectID == nil || *n.ProjectID != markerID {
			t.Errorf("the first live event is about project %v, want the marker %d", n.ProjectID, markerID)
		}
	})
}

func TestOutboxSurvivesARestart(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		cfg := notify.DispatcherConfig{Poll: 10 * time.Millisecond}
		stop := e.StartDispatcher(e.NewDispatcher(w.senders(), cfg))
		stop() // the server goes down before anything is committed

		var texts []string
		for _, name := range []string{"Apollo", "Gemini", "Mercury"} {
			_, text := w.submit(t, name)
			texts = append(texts, text)
		}
		time.Sleep(100 * time.Millisecond)
		entries := w.entries(t)
		if len(entries) != 9 {
			t.Fatalf("outbox: got %d entries, want 9", len(entries))
		}
		for _, en := range entries {
			if en.Status != outboxentry.StatusPENDING || en.Attempts != 0 {
				t.Fatalf("entry %d while no dispatcher runs: got %s after %d attempts, want PENDING after 0", en.ID, en.Status, en.Attempts)
			}
		}

		// The restart: new senders, a new dispatcher, the same database.
		d := e.NewDispatcher(map[string]notify.Sender{notify.Slack: w.slack.sender(), notify.Email: w.mail.sender()}, cfg)
		e.StartDispatcher(d)
		for _, en := range w.awaitSettled(t, 10*time.Second) {
			if en.Status != outboxentry.StatusDELIVERED || en.Attempts != 1 {
				t.Errorf("entry %d after the restart: got %s after %d attempts, want DELIVERED after 1", en.ID, en.Status, en.Attempts)
			}
		}
		obCheckDeliveredOnce(t, w.slack, texts)
		if got := len(w.mail.messages()); got != 6 {
			t.Errorf("emails: got %d, want 6 (3 projects x MANAGER and OWNER)", got)
		}
	})
}

func TestOutboxSlackDownThenUp(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const failures = 5
		w := newObWorld(t, e, func(call int) int {
			if call <= failures {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		var texts []string
		for _, name := range []string{"Apollo", "Gemini", "Mercury"} {
			_, text := w.submit(t, name)
			texts = append(texts, text)
		}
		d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{
			Poll: 10 * time.Millisecond, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, MaxAttempts: 20,
		})
		e.StartDispatcher(d)
		all := w.awaitSettled(t, 20*time.Second)

		obCheckDeliveredOnce(t, w.slack, texts)
		calls, _ := w.slack.counts()
		if calls != failures+len(texts) {
			t.Errorf("Slack calls: got %d, want %d (%d failures, then one success per message)", calls, failures+len(texts), failures)
		}
		attempts, retried := 0, 0
		for _, en := range obByChannel(all, outboxentry.ChannelSLACK) {
			if en.Status != outboxentry.StatusDELIVERED {
				t.Errorf("SLACK entry %d: got %s, want DELIVERED", en.ID, en.Status)
			}
			attempts += en.Attempts
			if en.Attempts > 1 {
				retried++
				if !strings.Contains(en.LastError, "500") {
					t.Errorf("SLACK entry %d after %d attempts: last_error %q, want the 500 kept", en.ID, en.Attempts, en.LastError)
				}
			}
		}
		if attempts != calls {
			t.Errorf("attempts recorded: got %d, want %d (one per call)", attempts, calls)
		}
		if retried == 0 {
			t.Errorf("no SLACK entry was retried, want some")
		}
	})
}

func TestOutboxGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		wantAttempts int
		wantError    string
	}{
		{"always 500: FAILED after MaxAttempts", http.StatusInternalServerError, 3, "500"},
		{"404 is permanent: FAILED at once", http.StatusNotFound, 1, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
				w := newObWorld(t, e, obStatus(tt.status))
				w.submit(t, "Apollo")
				var clock obClock
				d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{MaxAttempts: 3, BaseBackoff: time.Minute, Now: clock.now})
				for round := 1; round <= 10; round++ {
					n, err := d.RunOnce(context.Background())
					if err != nil {
						t.Fatalf("RunOnce %d: %v", round, err)
					}
					if n == 0 {
						break
					}
					if round == 1 && n != 3 {
						t.Errorf("the first round claimed %d entries, want 3", n)
					}
					clock.advance(time.Hour) // past any backoff
				}
				slack := obByChannel(w.entries(t), outboxentry.ChannelSLACK)
				if len(slack) != 1 {
					t.Fatalf("SLACK entries: got %d, want 1", len(slack))
				}
				en := slack[0]
				if en.Status != outboxentry.StatusFAILED || en.Attempts != tt.wantAttempts {
					t.Errorf("the SLACK entry: got %s after %d attempts, want FAILED after %d", en.Status, en.Attempts, tt.wantAttempts)
				}
				if !strings.Contains(en.LastError, tt.wantError) {
					t.Errorf("last_error: got %q, want it to mention %s", en.LastError, tt.wantError)
				}
				if en.DeliveredAt != nil || en.ClaimedUntil != nil {
					t.Errorf("the FAILED entry: delivered at %v, claimed until %v; want neither", en.DeliveredAt, en.ClaimedUntil)
				}
				if calls, _ := w.slack.counts(); calls != tt.wantAttempts {
					t.Errorf("Slack calls: got %d, want %d", calls, tt.wantAttempts)
				}
				for _, en := range obByChannel(w.entries(t), outboxentry.ChannelEMAIL) {
					if en.Status != outboxentry.StatusDELIVERED {
						t.Errorf("EMAIL entry %d: got %s, want DELIVERED (Slack's failure is Slack's alone)", en.ID, en.Status)
					}
				}
				// FAILED is final: later rounds leave it alone.
				clock.advance(24 * time.Hour)
				if n, err := d.RunOnce(context.Background()); err != nil || n != 0 {
					t.Errorf("RunOnce after FAILED: got (%d, %v), want (0, nil)", n, err)
				}
				if logs := e.Logs(); !strings.Contains(logs, "delivery failed for good") {
					t.Errorf("logs: no \"delivery failed for good\" line, want one")
				}
			})
		})
	}
}

func TestOutboxTwoDispatchersDeliverEachEntryOnce(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		w.slack.delay.Store(int64(time.Millisecond))
		texts := w.insertSlack(t, 120, nil)
		cfg := notify.DispatcherConfig{Poll: 5 * time.Millisecond, BatchSize: 5}
		// Two instances: each with its own senders, as separate processes.
		one := e.NewDispatcher(map[string]notify.Sender{notify.Slack: w.slack.sender()}, cfg)
		two := e.NewDispatcher(map[string]notify.Sender{notify.Slack: w.slack.sender()}, cfg)
		e.StartDispatcher(one)
		e.StartDispatcher(two)

		for _, en := range w.awaitSettled(t, 60*time.Second) {
			if en.Status != outboxentry.StatusDELIVERED || en.Attempts != 1 {
				t.Errorf("entry %d: got %s after %d attempts, want DELIVERED after 1", en.ID, en.Status, en.Attempts)
			}
		}
		obCheckDeliveredOnce(t, w.slack, texts)
		if calls, _ := w.slack.counts(); calls != len(texts) {
			t.Errorf("Slack calls: got %d, want %d", calls, len(texts))
		}
	})
}

func TestOutboxClaimsAnExpiredLeaseAgain(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		now := time.Now()
		// Two entries whose deliverer died mid-way: one lease ran out, the
		// other is still held.
		expired := w.insertSlack(t, 1, func(c *ent.OutboxEntryCreate) {
			c.SetAttempts(1).SetClaimedUntil(now.Add(-time.Minute)).SetNextAttemptAt(now.Add(-2 * time.Minute))
		})
		held := now.Add(time.Hour).UTC().Truncate(time.Microsecond)
		w.insertSlack(t, 1, func(c *ent.OutboxEntryCreate) {
			c.SetPayload(map[string]string{"subject": "held", "body": "body"}).
				SetAttempts(1).SetClaimedUntil(held).SetNextAttemptAt(now.Add(-2 * time.Minute))
		})

		d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{})
		n, err := d.RunOnce(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("RunOnce: got (%d, %v), want (1, nil): only the expired lease is due", n, err)
		}
		all := w.entries(t)
		if all[0].Status != outboxentry.StatusDELIVERED || all[0].Attempts != 2 {
			t.Errorf("the expired entry: got %s after %d attempts, want DELIVERED after 2", all[0].Status, all[0].Attempts)
		}
		if all[1].Status != outboxentry.StatusPENDING || all[1].Attempts != 1 || all[1].ClaimedUntil == nil || !all[1].ClaimedUntil.Equal(held) {
			t.Errorf("the held entry: got %s after %d attempts, claimed until %v; want PENDING after 1, claimed until %v",
				all[1].Status, all[1].Attempts, all[1].ClaimedUntil, held)
		}
		obCheckDeliveredOnce(t, w.slack, expired)
	})
}

// TestOutboxBacklogsByChannel: the metrics' backlog counts PENDING and
// FAILED entries by channel in one statement, leaves DELIVERED ones out,
// and names every channel, empty ones with zeros.
func TestOutboxBacklogsByChannel(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		w.insertSlack(t, 2, nil)
		w.insertSlack(t, 1, func(c *ent.OutboxEntryCreate) { c.SetStatus(outboxentry.StatusFAILED) })
		w.insertSlack(t, 1, func(c *ent.OutboxEntryCreate) {
			c.SetChannel(outboxentry.ChannelEMAIL).SetStatus(outboxentry.StatusDELIVERED)
		})
		w.insertSlack(t, 1, func(c *ent.OutboxEntryCreate) { c.SetChannel(outboxentry.ChannelIN_APP) })

		got, err := notify.Backlogs(context.Background(), e.DB.Client)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]metrics.Outbox{
			notify.Slack: {Pending: 2, Failed: 1},
			notify.Email: {},
			notify.InApp: {Pending: 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Backlogs: got %+v, want %+v", got, want)
		}
	})
}

// An EMAIL queued for a member who is removed before it is sent is not
// sent: it is FAILED with the reason, and the others of the same change
// are delivered.
func TestOutboxEmailToAFormerMemberIsNotSent(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newObWorld(t, e, obStatus(http.StatusOK))
		w.submit(t, "Apollo") // EMAIL to the MANAGER and the OWNER, one SLACK
		manager, err := e.DB.Client.Membership.Query().
			Where(membership.TenantID(w.tenantID), membership.HasUserWith(user.Email(w.manager.Email))).Only(obSystem())
		if err != nil {
			t.Fatal(err)
		}
		e.MustDo(w.owner.Caller("acme"), `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": globalid.Encode(manager.ID)}, nil)

		d := e.NewDispatcher(w.senders(), notify.DispatcherConfig{})
		if n, err := d.RunOnce(context.Background()); err != nil || n != 3 {
			t.Fatalf("RunOnce: got (%d, %v), want (3, nil)", n, err)
		}
		if mails := w.mail.messages(); len(mails) != 1 || mails[0].To != w.owner.Email {
			t.Errorf("emails: got %+v, want one, to the OWNER", mails)
		}
		for _, en := range w.entries(t) {
			switch {
			case en.Channel == outboxentry.ChannelEMAIL && en.Payload["to"] == w.manager.Email:
				if en.Status != outboxentry.StatusFAILED || !strings.Contains(en.LastError, "no longer a member") {
					t.Errorf("the former member's email: got %s (%q), want FAILED, no longer a member", en.Status, en.LastError)
				}
			case en.Status != outboxentry.StatusDELIVERED:
				t.Errorf("entry %d (%s): got %s (%q), want DELIVERED", en.ID, en.Channel, en.Status, en.LastError)
			}
		}
	})
}
