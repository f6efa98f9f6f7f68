package graph

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"tenantgraph/ent"
	"tenantgraph/graph/scalar"
)

// feedEncoder writes the payloads of a notificationAdded subscription's
// events straight from the rows the feed hub pushes, in place of the
// executor. A broadcast to 10,000 subscribers spent about 13 µs per event
// in the executor's machinery (the response middleware of every extension,
// a field context and a resolver call for project and task, an object per
// level) to write a dozen scalars; this writes the same bytes in about a
// microsecond (BenchmarkFeedEncoder; graph/feed_encode_test.go compares the
// two over many selection sets).
//
// It covers the selection sets of Notification's own fields, with aliases,
// fragments, @skip and @include, __typename, and project and task asked for
// their id and __typename: what the rows carry (the hub loads their
// project and task). compileFeedEncoder returns nil for anything else (a
// project's name, say, or a deferred fragment), and the executor serves
// that subscription as before.
type feedEncoder struct {
	out  <-chan *ent.Notification
	done <-chan struct{} // the subscription's context's
	plan *feedPlan
}

// feedPlan is what the encoder writes for a selection set: nil fields when
// it does not cover it.
type feedPlan struct {
	head   string // {"data":{"<alias>":
	fields []feedField
}

// feedPlans remembers the plan of each subscription field of a parsed
// operation (the query cache hands out the same nodes for the same query)
// whose directives take no variables: every subscriber of the contract's
// query shares one. A field is known by its merged selection set
// (selectionKey), from which the plan is compiled, not by its first
// occurrence, which two operations of one document can share while
// asking for different fields (`subscription A { ...F } subscription B {
// ...F notificationAdded { project { name } } }`).
var feedPlans = newPlanCache[selectionKey, *feedPlan]()

// feedField is one field of the selection set, in response order.
type feedField struct {
	key      string // "<alias>":
	kind     feedFieldKind
	typename string      // kind feedTypename
	sub      []feedField // kind feedProject, feedTask: their fields
}

type feedFieldKind uint8

const (
	feedTypename feedFieldKind = iota
	feedID
	feedCreatedAt
	feedUpdatedAt
	feedKind
	feedTitle
	feedBody
	feedRead
	feedProject
	feedTask
)

// notificationFields are the kinds of Notification's fields by name.
var notificationFields = map[string]feedFieldKind{
	"__typename": feedTypename, "id": feedID, "createdAt": feedCreatedAt, "updatedAt": feedUpdatedAt,
	"kind": feedKind, "title": feedTitle, "body": feedBody, "read": feedRead,
	"project": feedProject, "task": feedTask,
}

// compileFeedEncoder returns the encoder of the subscription that ctx (its
// resolver's) serves, reading its events from out; nil when its selection
// set asks for more than the encoder writes.
func compileFeedEncoder(ctx context.Context, out <-chan *ent.Notification) *feedEncoder {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	oc, fc := graphql.GetOperationContext(ctx), graphql.GetFieldContext(ctx)
	if oc.Operation == nil || fc == nil || fc.Field.Field == nil || fc.Field.Name != "notificationAdded" || len(fc.Field.Deferrables) > 0 || len(fc.Field.Selections) == 0 {
		return nil
	}
	fixed := fixedSelections(oc)
	key := selectionKey{first: &fc.Field.Selections[0], n: len(fc.Field.Selections)}
	plan, ok := feedPlans.get(key)
	if !ok || !fixed {
		plan = &feedPlan{}
		if fields, covered := compileFeedFields(oc, fc.Field.Selections, notificationImplementors, "Notification", notificationFields); covered {
			plan = &feedPlan{head: `{"data":{"` + fc.Field.Alias + `":`, fields: fields}
		}
		if fixed {
			feedPlans.put(oc, key, plan)
		}
	}
	if plan.fields == nil {
		return nil
	}
	return &feedEncoder{out: out, done: ctx.Done(), plan: plan}
}

// compileFeedFields collects sel as the executor does (collectFields: the
// same merging, fragments and directives) and maps each field to its kind;
// false if a field is not among known, is deferred, or (project, task) asks
// for more than its id and __typename.
func compileFeedFields(oc *graphql.OperationContext, sel ast.SelectionSet, satisfies []string, typename string, known map[string]feedFieldKind) ([]feedField, bool) {
	collected := collectFields(oc, sel, satisfies)
	fields := make([]feedField, 0, len(collected))
	for _, f := range collected {
		kind, ok := known[f.Name]
		if !ok || len(f.Deferrables) > 0 {
			return nil, false
		}
		// A response name is a GraphQL name: nothing in it needs escaping
		// (writeObject writes it the same way).
		field := feedField{key: `"` + f.Alias + `":`, kind: kind, typename: typename}
		switch kind {
		case feedProject:
			field.sub, ok = compileFeedFields(oc, f.Selections, projectImplementors, "Project", referenceFields)
		case feedTask:
			field.sub, ok = compileFeedFields(oc, f.Selections, taskImplementors, "Task", referenceFields)
		}
		if !ok {
			return nil, false
		}
		fields = append(fields, field)
	}
	return fields, true
}

// referenceFields are what the encoder writes of a notification's project
// and task.
var referenceFields = map[string]feedFieldKind{"__typename": feedTypename, "id": feedID}

// next writes the payload of the subscription's next event into b: false
// when the stream has ended. The transport calls it once per event
// signalled (wakeOnEvent), so the channel holds one, or is closed.
//
// A row pushed without its project or task loaded, or without its times,
// breaks the hub's promise; the executor would answer such an event with
// the field null and an error, this panics (the transport's recovery logs
// it and ends the subscription with an internal error).
func (e *feedEncoder) next(b *bytes.Buffer) bool {
	var n *ent.Notification
	select {
	case v, ok := <-e.out:
		if !ok {
			return false
		}
		n = v
	case <-e.done:
		return false
	}
	b.WriteString(e.plan.head)
	writeNotification(b, e.plan.fields, n)
	b.WriteString("}}")
	return true
}

// writeNotification writes n as fields select it, each value through the
// marshaller the executor uses for its type.
func writeNotification(b *bytes.Buffer, fields []feedField, n *ent.Notification) {
	b.WriteByte('{')
	for i := range fields {
		f := &fields[i]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f.key)
		switch f.kind {
		case feedTypename:
			graphql.MarshalString(f.typename).MarshalGQL(b)
		case feedID:
			scalar.MarshalID(n.ID).MarshalGQL(b)
		case feedCreatedAt:
			writeTime(b, n.CreatedAt, n.ID, "createdAt")
		case feedUpdatedAt:
			writeTime(b, n.UpdatedAt, n.ID, "updatedAt")
		case feedKind:
			n.Kind.MarshalGQL(b)
		case feedTitle:
			graphql.MarshalString(n.Title).MarshalGQL(b)
		case feedBody:
			graphql.MarshalString(n.Body).MarshalGQL(b)
		case feedRead:
			graphql.MarshalBoolean(n.Read).MarshalGQL(b)
		case feedProject:
			p, err := n.Edges.ProjectOrErr()
			var id int
			if p != nil {
				id = p.ID
			}
			writeEdge(b, f.sub, id, err, n.ID, "project")
		case feedTask:
			t, err := n.Edges.TaskOrErr()
			var id int
			if t != nil {
				id = t.ID
			}
			writeEdge(b, f.sub, id, err, n.ID, "task")
		}
	}
	b.WriteByte('}')
}

// writeEdge writes notification's project or task (edge) as
// ProjectOrErr or TaskOrErr gave it: the ID of the one loaded, null for
// none (or one deleted since), and a panic for an edge not loaded.
func writeEdge(b *bytes.Buffer, fields []feedField, id int, err error, notification int, edge string) {
	switch {
	case err == nil:
		writeReference(b, fields, id)
	case ent.IsNotFound(err):
		b.WriteString("null")
	default:
		panic(fmt.Sprintf("notification %d pushed to the live feed without its %s: %v", notification, edge, err))
	}
}

// writeReference writes a project's or a task's id and __typename.
func writeReference(b *bytes.Buffer, fields []feedField, id int) {
	b.WriteByte('{')
	for i := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(fields[i].key)
		if fields[i].kind == feedTypename {
			graphql.MarshalString(fields[i].typename).MarshalGQL(b)
		} else {
			scalar.MarshalID(id).MarshalGQL(b)
		}
	}
	b.WriteByte('}')
}

// writeTime writes a notification's time as the Time scalar does.
func writeTime(b *bytes.Buffer, t time.Time, notification int, field string) {
	m := scalar.MarshalTime(t)
	if m == graphql.Null {
		panic(fmt.Sprintf("notification %d pushed to the live feed without its %s", notification, field))
	}
	m.MarshalGQL(b)
}
