package graph

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// listContext is the context a list field's marshaller runs in: an
// operation of a cached document (whose plans are remembered), a response
// context to collect errors, and the list field's own field context.
func listContext(t *testing.T, selections ast.SelectionSet) context.Context {
	quiet := func(context.Context, any) error { return errors.New("internal system error") }
	ctx := graphql.WithOperationContext(context.Background(), cachedOperation(t, &ast.OperationDefinition{}))
	ctx = graphql.WithResponseContext(ctx, graphql.DefaultErrorPresenter, quiet)
	field := &ast.Field{Alias: "items", Name: "items", SelectionSet: selections}
	return graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Query", Field: graphql.CollectedField{Field: field, Selections: selections}})
}

var (
	user        = &ast.Definition{Kind: ast.Object, Name: "User"}
	node        = &ast.Definition{Kind: ast.Interface, Name: "Node"}
	nameField   = &ast.Field{Alias: "name", Name: "name", ObjectDefinition: user}
	memberships = &ast.Field{Alias: "memberships", Name: "memberships", ObjectDefinition: user}
)

// TestMarshalSliceSerialWhenInMemory: a list whose selection set reaches no
// resolver of ours is marshalled on the calling goroutine, element after
// element, each under its own index, and a panic nulls its element alone.
func TestMarshalSliceSerialWhenInMemory(t *testing.T) {
	ctx := listContext(t, ast.SelectionSet{nameField})
	var order []int
	var paths []string
	ret := marshalSlice(ctx, 3, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		order = append(order, i) // no lock: it is a race, caught by -race, if this runs concurrently
		paths = append(paths, graphql.GetPath(ctx).String())
		if i == 1 {
			panic("element 1 is broken")
		}
		return graphql.MarshalInt(i)
	})
	if len(order) != 3 || order[0] != 0 || order[1] != 1 || order[2] != 2 {
		t.Errorf("order: got %v, want [0 1 2]", order)
	}
	if want := []string{"items[0]", "items[1]", "items[2]"}; len(paths) != 3 || paths[0] != want[0] || paths[1] != want[1] || paths[2] != want[2] {
		t.Errorf("paths: got %v, want %v", paths, want)
	}
	var b bytes.Buffer
	ret.MarshalGQL(&b)
	if got := b.String(); got != "[0,null,2]" {
		t.Errorf("got %s, want [0,null,2]", got)
	}
	errs := graphql.GetErrors(ctx)
	if len(errs) != 1 || errs[0].Path.String() != "items[1]" {
		t.Errorf("errors: got %v, want one at items[1]", errs)
	}
}

// TestMarshalSliceConcurrentWhenItReachesAResolver: a list whose elements
// select a field one of our resolvers answers (User.memberships, behind a
// dataloader), directly, in a fragment, or through an interface, marshals
// its elements concurrently, so that their loads can batch: here every
// element waits for all the others to have started.
func TestMarshalSliceConcurrentWhenItReachesAResolver(t *testing.T) {
	fragment := &ast.FragmentDefinition{Name: "F", SelectionSet: ast.SelectionSet{memberships}}
	cases := map[string]ast.SelectionSet{
		"direct":            {nameField, memberships},
		"nested":            {&ast.Field{Alias: "author", Name: "author", ObjectDefinition: user, SelectionSet: ast.SelectionSet{memberships}}},
		"inline fragment":   {&ast.InlineFragment{TypeCondition: "User", SelectionSet: ast.SelectionSet{memberships}}},
		"fragment spread":   {&ast.FragmentSpread{Name: "F", Definition: fragment}},
		"unresolved spread": {&ast.FragmentSpread{Name: "G"}},
		"on an interface":   {&ast.Field{Alias: "memberships", Name: "memberships", ObjectDefinition: node}},
	}
	for name, sel := range cases {
		t.Run(name, func(t *testing.T) {
			const n = 4
			var started sync.WaitGroup
			started.Add(n)
			var waited atomic.Int32
			marshalSlice(listContext(t, sel), n, 0, false, func(context.Context, int) graphql.Marshaler {
				started.Done()
				done := make(chan struct{})
				go func() { started.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					waited.Add(1)
				}
				return graphql.Null
			})
			if waited.Load() != 0 {
				t.Errorf("%d elements waited in vain for the others: the list ran serially", waited.Load())
			}
		})
	}
}

// TestReachesConcurrent: a field of the same name on another object type
// does not count.
func TestReachesConcurrent(t *testing.T) {
	other := &ast.Field{Alias: "memberships", Name: "memberships", ObjectDefinition: &ast.Definition{Kind: ast.Object, Name: "Tenant"}}
	if reachesConcurrent(ast.SelectionSet{nameField, other}) {
		t.Error("Tenant.memberships (not one of our resolvers) counted")
	}
	if !reachesConcurrent(ast.SelectionSet{nameField, memberships}) {
		t.Error("User.memberships not counted")
	}
}

// TestNewDeferredGroup: gqlgen's group, with the object's path, only for an
// object with a deferred field.
func TestNewDeferredGroup(t *testing.T) {
	ctx := listContext(t, nil)
	plain := []graphql.CollectedField{{Field: nameField}}
	if g := newDeferredGroup(ctx, plain); g.FieldSet != nil || g.Defers != nil || g.Path != nil {
		t.Errorf("no deferred field: got %+v, want an empty group", g)
	}
	deferred := []graphql.CollectedField{{Field: nameField}, {Field: memberships, Deferrables: []*graphql.Deferrable{{Label: "later"}}}}
	if g := newDeferredGroup(ctx, deferred); g.FieldSet == nil || g.Defers == nil || g.Path.String() != "items" {
		t.Errorf("a deferred field: got %+v, want gqlgen's group at items", g)
	}
}

// TestMarshalObject: the fields in order under their response names, a
// name met twice written once, and an object without fields as {}.
func TestMarshalObject(t *testing.T) {
	write := func(aliases []string, values []graphql.Marshaler) string {
		fields := make([]graphql.CollectedField, len(aliases))
		for i, a := range aliases {
			fields[i] = graphql.CollectedField{Field: &ast.Field{Alias: a, Name: a}}
		}
		out := graphql.NewFieldSet(fields)
		copy(out.Values, values)
		var b bytes.Buffer
		marshalObject(fields, out).MarshalGQL(&b)
		return b.String()
	}
	if got, want := write([]string{"id", "name", "id"}, []graphql.Marshaler{graphql.MarshalInt(1), graphql.MarshalString("a\"b"), graphql.MarshalInt(2)}), `{"id":1,"name":"a\"b"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := write(nil, nil); got != "{}" {
		t.Errorf("no fields: got %s, want {}", got)
	}
}

// TestInMemoryListsIsBounded: arbitrary queries cannot grow the cache of
// list plans past its bound, and a plan is still right after a reset.
func TestInMemoryListsIsBounded(t *testing.T) {
	ctx := graphql.WithOperationContext(context.Background(), cachedOperation(t, &ast.OperationDefinition{}))
	for range maxPlans + 100 {
		f := &ast.Field{Alias: "items", Name: "items", SelectionSet: ast.SelectionSet{memberships}}
		if inMemory(ctx, &graphql.FieldContext{Field: graphql.CollectedField{Field: f, Selections: slices.Clone(f.SelectionSet)}}) {
			t.Fatal("a list reaching User.memberships was planned in memory")
		}
	}
	n := 0
	inMemoryLists.m.Load().Range(func(any, any) bool { n++; return true })
	if n > maxPlans {
		t.Errorf("the cache holds %d plans, want at most %d", n, maxPlans)
	}
}

// plainWriter hides a buffer's other methods.
type plainWriter struct{ b *bytes.Buffer }

func (w plainWriter) Write(p []byte) (int, error) { return w.b.Write(p) }

// TestObjectOut: an object collected in an objectOut, small or large, is
// written as marshalObject writes it, to the executor's buffer or any writer.
func TestObjectOut(t *testing.T) {
	for _, n := range []int{0, 3, 8, 9, 20} {
		fields := make([]graphql.CollectedField, n)
		for i := range fields {
			a := string(rune('a' + i))
			fields[i] = graphql.CollectedField{Field: &ast.Field{Alias: a, Name: a}}
		}
		o := newObject(fields)
		set := graphql.NewFieldSet(fields)
		for i := range fields {
			o.Values[i] = graphql.MarshalInt(i)
			set.Values[i] = graphql.MarshalInt(i)
		}
		var got, want, other bytes.Buffer
		o.MarshalGQL(&got)
		o.MarshalGQL(plainWriter{&other})
		marshalObject(fields, set).MarshalGQL(&want)
		if got.String() != want.String() || other.String() != want.String() {
			t.Errorf("%d fields: got %s (and %s to a plain writer), want %s", n, got.String(), other.String(), want.String())
		}
	}
}

// TestResponseBuffer: an operation's response is written into a buffer the
// size of its previous one (with room to grow), and a much smaller response
// shrinks the next buffer.
func TestResponseBuffer(t *testing.T) {
	op := &ast.OperationDefinition{Name: "Tree"}
	oc := cachedOperation(t, op)
	first := responseBuffer(op)
	if first.Cap() != 0 {
		t.Errorf("first buffer: cap %d, want 0", first.Cap())
	}
	first.Write(make([]byte, 8000))
	if got := responseWritten(oc, first); len(got) != 8000 {
		t.Fatalf("got %d bytes back, want 8000", len(got))
	}
	if c := responseBuffer(op).Cap(); c < 8000 || c > 9000 {
		t.Errorf("after 8000 bytes: cap %d, want 8000-9000", c)
	}
	small := responseBuffer(op)
	small.Write(make([]byte, 100))
	responseWritten(oc, small)
	if c := responseBuffer(op).Cap(); c > 200 {
		t.Errorf("after a 100-byte response: cap %d, want about 100", c)
	}
}

// cachedOperation is the operation context of op in a document that the
// parsed-query cache holds, whose plans are remembered (planCache).
func cachedOperation(t *testing.T, op *ast.OperationDefinition) *graphql.OperationContext {
	t.Helper()
	doc := &ast.QueryDocument{Operations: ast.OperationList{op}}
	cachedDocuments.Store(doc, struct{}{})
	t.Cleanup(func() { cachedDocuments.Delete(doc) })
	return &graphql.OperationContext{Doc: doc, Operation: op}
}

// TestLeafListsAreInMemory: a list of scalars or enums
// (Project.availableTransitions) reaches no resolver, and is marshalled
// without a goroutine per element.
func TestLeafListsAreInMemory(t *testing.T) {
	ctx := listContext(t, nil)
	if !inMemory(ctx, graphql.GetFieldContext(ctx)) {
		t.Error("a list of scalars was left to a goroutine per element")
	}
}
