package notify

import (
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"tenantgraph/ent/notification"
)

// A share's outbox payload gives back the share it was made from, with or
// without a project and a task, and a payload that does not decode is
// refused with what is wrong in it, never half read.
func TestSharePayloadRoundTrip(t *testing.T) {
	project, task := 7, 11
	at := time.Date(2026, 12, 2, 16, 20, 0, 123456000, time.UTC)
	for _, n := range []inApp{
		{tenant: 3, at: at, kind: notification.KindPROJECT_SUBMITTED, title: `"Rocket" was submitted`, body: "Ann: a, b; c", projectID: &project, recipients: []int{5, 6, 1 << 40}},
		{tenant: 3, at: at, kind: notification.KindCOMMENT_ADDED, title: "t", body: "", projectID: &project, taskID: &task, recipients: []int{9}},
		{tenant: 4, at: at, kind: notification.KindMEMBER_ADDED, title: "t", body: "b", recipients: []int{2, 3}},
	} {
		got, err := fromSharePayload(n.tenant, sharePayload(n))
		if err != nil {
			t.Fatalf("%+v: %v", n, err)
		}
		if !reflect.DeepEqual(got, n) {
			t.Errorf("round trip: got %+v, want %+v", got, n)
		}
	}

	good := sharePayload(inApp{tenant: 1, at: at, kind: notification.KindPROJECT_SUBMITTED, title: "t", body: "b", recipients: []int{1, 2}})
	for _, tc := range []struct{ key, value, want string }{
		{"at", "yesterday", "time"},
		{"recipients", "", "recipient"},
		{"recipients", "1,,2", "recipient"},
		{"recipients", "1,-2", "recipient"},
		{"project", "x", "project"},
		{"task", "0", "task"},
	} {
		p := map[string]string{}
		for k, v := range good {
			p[k] = v
		}
		p[tc.key] = tc.value
		if _, err := fromSharePayload(1, p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: got %v, want an error about its %s", tc.key, tc.value, err, tc.want)
		}
	}
}

// When the shares' writers fall behind, at most maxShareWriters broadcasts
// wait for their turn on goroutines of their own; the others are left to
// the dispatcher (their entries stay, due after their grace). The writers
// here wait behind turns held by the test.
func TestWaitingShareWritersAreBounded(t *testing.T) {
	var logs strings.Builder
	n := NewNotifier(nil, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	for range shareWriters {
		n.turns <- struct{}{} // every turn taken
	}
	for range maxShareWriters + 10 {
		n.writeShares(context.Background(), nil, []int{1}, nil)
	}
	n.mu.Lock()
	writers := n.writers
	n.mu.Unlock()
	if writers != maxShareWriters {
		t.Errorf("%d broadcasts wait to be written, want %d", writers, maxShareWriters)
	}
	if got := strings.Count(logs.String(), "the dispatcher will write"); got != 10 {
		t.Errorf("%d broadcasts left to the dispatcher were logged, want 10", got)
	}
	n.Close() // the waiting writers give up on closing
	n.Wait()
}

// A panic while the committing instance writes a share (a bug) is that
// share's error: logged, the share left to the dispatcher, and the
// process goes on, rather than ending with every request it serves.
func TestShareWriterSurvivesAPanic(t *testing.T) {
	var logs strings.Builder
	n := NewNotifier(nil, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	n.writeShares(context.Background(), nil, []int{1}, nil) // no client: writing panics
	n.Wait()
	if !strings.Contains(logs.String(), `"msg":"writing a broadcast's in-app notifications; the dispatcher will"`) ||
		!strings.Contains(logs.String(), "writing share 1 panicked") {
		t.Errorf("log: got %s, want the share's error, the panic", logs.String())
	}
}
