package graph

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/validator"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
)

// subscriptionContext is the context notificationAdded's resolver runs in
// for query: its operation and its root field.
func subscriptionContext(t testing.TB, query string, vars map[string]any) context.Context {
	t.Helper()
	doc, err := gqlparser.LoadQuery(parsedSchema, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	op := doc.Operations[0]
	coerced, verr := validator.VariableValues(parsedSchema, op, vars)
	if verr != nil {
		t.Fatal(verr)
	}
	oc := &graphql.OperationContext{RawQuery: query, Doc: doc, Operation: op, Variables: coerced}
	root := graphql.CollectFields(oc, op.SelectionSet, subscriptionImplementors)
	ctx := graphql.WithOperationContext(context.Background(), oc)
	return graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Subscription", Field: root[0]})
}

// TestFeedEncoderCovers: the encoder takes the selection sets of what a
// pushed row carries, and leaves the rest to the executor.
func TestFeedEncoderCovers(t *testing.T) {
	for _, c := range []struct {
		query  string
		vars   map[string]any
		covers bool
	}{
		{`subscription { notificationAdded { id kind title body read createdAt updatedAt project { id } task { id } } }`, nil, true},
		{`subscription { a: notificationAdded { __typename b: id project { __typename } } }`, nil, true},
		{`subscription { notificationAdded { ... on Node { id } ...F } } fragment F on Notification { task { ... on Node { id } } }`, nil, true},
		{`subscription($x: Boolean!) { notificationAdded { id project @include(if: $x) { name } } }`, map[string]any{"x": false}, true},
		{`subscription($x: Boolean!) { notificationAdded { id project @include(if: $x) { name } } }`, map[string]any{"x": true}, false},
		{`subscription { notificationAdded { id project { name } } }`, nil, false},
		{`subscription { notificationAdded { id task { project { id } } } }`, nil, false},
		{`subscription { notificationAdded { id ... @defer { title } } }`, nil, false},
	} {
		enc := compileFeedEncoder(subscriptionContext(t, c.query, c.vars), nil)
		if (enc != nil) != c.covers {
			t.Errorf("%s %v: encoder %v, want covered %v", c.query, c.vars, enc != nil, c.covers)
		}
	}
}

// TestFeedEncoderEnds: the encoder reports the stream's end when its
// channel is closed or its subscription's context has ended, and refuses
// (panics, which the transport turns into an internal error) a row pushed
// without its project loaded rather than writing a guess.
func TestFeedEncoderEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(subscriptionContext(t, `subscription { notificationAdded { id project { id } } }`, nil))
	out := make(chan *ent.Notification, 1)
	enc := compileFeedEncoder(ctx, out)
	var b bytes.Buffer

	now := time.Now()
	row := &ent.Notification{ID: 7, CreatedAt: now, UpdatedAt: now, Kind: notification.KindTASK_ASSIGNED, Title: "t"}
	row.Edges.SetProject(nil)
	out <- row
	if !enc.next(&b) || !strings.Contains(b.String(), `"project":null`) {
		t.Errorf("a row with no project: got %s, want project null", b.String())
	}

	out <- &ent.Notification{ID: 8, CreatedAt: now, UpdatedAt: now} // its project not loaded
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "without its project") {
				t.Errorf("a row without its project loaded: got %v, want a panic", r)
			}
		}()
		enc.next(&b)
	}()

	cancel()
	if enc.next(&b) {
		t.Error("after its context ended: got an event, want the end")
	}
	close(out)
	if compileFeedEncoder(context.Background(), out) != nil {
		t.Error("outside an operation: got an encoder")
	}
	enc = compileFeedEncoder(subscriptionContext(t, `subscription { notificationAdded { id } }`, nil), out)
	if enc.next(&b) {
		t.Error("after its channel closed: got an event, want the end")
	}
}

// BenchmarkFeedEncoder: one event of the contract's subscription, from the
// pushed row to the payload's bytes.
func BenchmarkFeedEncoder(b *testing.B) {
	ctx := subscriptionContext(b, `subscription NotificationAdded {
		notificationAdded { id kind title body read createdAt project { id } task { id } } }`, nil)
	out := make(chan *ent.Notification, 1)
	enc := compileFeedEncoder(ctx, out)
	now := time.Now()
	row := &ent.Notification{ID: 1 << 32, CreatedAt: now, UpdatedAt: now, Kind: notification.KindPROJECT_SUBMITTED,
		Title: `"Broadcast 0" was submitted for approval`, Body: `Owner submitted the project "Broadcast 0" for approval.`}
	row.Edges.SetProject(&ent.Project{ID: 2 << 32})
	row.Edges.SetTask(nil)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		out <- row
		enc.next(&buf)
	}
	b.SetBytes(int64(buf.Len()))
}
