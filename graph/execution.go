package graph

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// The helpers the executor in generated.go calls where gqlgen's own would
// do the work itself: marshalSlice for graphql.MarshalSliceConcurrently,
// newDeferredGroup for graphql.NewDeferredGroup, marshalObject and
// newObject for an object's graphql.FieldSet, withField for ResolveField on
// a plain struct field, responseBuffer and responseWritten for a query's
// response buffer, and collectFields for graphql.CollectFields. cmd/graphgen rewrites the calls after gqlgen has
// written the file, and says why.

// marshalSlice marshals a list's elements, as graphql.MarshalSliceConcurrently
// does, but without a goroutine per element when nothing in the elements'
// selection set reaches a field one of our resolvers answers
// (concurrentFields). Every other field under such a list is an ent field
// or an ent edge that entgql has already loaded, and a goroutine per
// element (its start, its stack growing, the wait) costs more than the
// element itself: such a list is marshalled one element after the other.
// A list that does reach a resolver keeps gqlgen's goroutine per element, so that
// resolvers behind a dataloader batch across its elements instead of each
// waiting out the loader's window in turn.
func marshalSlice(ctx context.Context, length int, workerLimit int64, omitPanicHandler bool, marshalElement func(context.Context, int) graphql.Marshaler) graphql.Array {
	if length < 2 || !inMemory(ctx, graphql.GetFieldContext(ctx)) {
		return graphql.MarshalSliceConcurrently(ctx, length, workerLimit, omitPanicHandler, marshalElement)
	}
	ret := make(graphql.Array, length)
	// As MarshalSliceConcurrently: each element has its own field context,
	// carrying its index into paths, and a panic in one becomes an error
	// and a null for that element alone. The contexts and indices are
	// allocated once for the list rather than once per element.
	fcs, indices := make([]graphql.FieldContext, length), make([]int, length)
	for i := range length {
		indices[i] = i
		fcs[i].Index = &indices[i]
		childCtx := graphql.WithFieldContext(ctx, &fcs[i])
		if omitPanicHandler {
			ret[i] = marshalElement(childCtx, i)
			continue
		}
		ret[i] = marshalGuarded(childCtx, i, marshalElement)
	}
	return ret
}

func marshalGuarded(ctx context.Context, i int, marshalElement func(context.Context, int) graphql.Marshaler) (ret graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			ret = graphql.Null
		}
	}()
	return marshalElement(ctx, i)
}

// inMemoryLists remembers, per list field of a parsed operation (known by
// its merged selection set: selectionKey), whether its selection set is
// free of concurrentFields.
var inMemoryLists = newPlanCache[selectionKey, bool]()

// selectionKey knows a collected field's merged selection set by its first
// element and its length, as collectFields knows a selection set: in an
// operation whose plans are remembered, the collected fields are, so their
// Selections are the same slices on every request.
type selectionKey struct {
	first *ast.Selection
	n     int
}

// inMemory reports whether the list that fc resolves can be marshalled
// without a goroutine per element. A list inside a list (fc is an element,
// with no field of its own) keeps gqlgen's default. The list's selection
// set is the one its elements are marshalled with: every occurrence of the
// field merged (fc.Field.Selections), not the first occurrence's alone,
// which could leave out a field that reaches a resolver (`members { edges
// { node { id } } edges { node { user { memberships { role } } } } }`)
// and so have each element's dataloader wait and query alone.
func inMemory(ctx context.Context, fc *graphql.FieldContext) bool {
	if fc == nil || fc.Field.Field == nil {
		return false
	}
	sel := fc.Field.Selections
	if len(sel) == 0 {
		return true // a list of scalars or enums reaches no resolver
	}
	k := selectionKey{first: &sel[0], n: len(sel)}
	if v, ok := inMemoryLists.get(k); ok {
		return v
	}
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	oc := graphql.GetOperationContext(ctx)
	if !isCached(oc.Doc) || !fixedSelections(oc) {
		// Not remembered (planCache), or collected afresh on every
		// request: worked out again for every list of every element,
		// where gqlgen's default costs less than walking the list's
		// selection set each time.
		return false
	}
	v := !reachesConcurrent(sel)
	inMemoryLists.put(oc, k, v)
	return v
}

// collectFields is graphql.CollectFields (the fields of selection set sel
// that apply to an object of one of the types satisfies) remembered across
// requests. gqlgen remembers them only for the operation at hand, and pays
// for its cache key (a hash object and two byte slices) and a lock on every
// object it writes: about 3,700 times for ProjectTree. The fields collected
// depend on the parsed operation alone unless a directive takes a variable
// (@include(if: $all)); such an operation keeps gqlgen's cache. A selection
// set is known by its first element and its length, as gqlgen knows it: the
// fields' selection sets come from collected fields that are themselves
// remembered, so they are the same slices on every request.
//
// A selection set remembered is one of a cached document whose directives
// take no variables (only such are put), so that it is looked up first. A
// document that is not cached keeps gqlgen's cache: its plans would not be
// remembered (planCache), and fixedSelections would walk the operation on
// every call.
func collectFields(oc *graphql.OperationContext, sel ast.SelectionSet, satisfies []string) []graphql.CollectedField {
	if len(sel) == 0 || len(satisfies) == 0 || oc.Operation == nil {
		return graphql.CollectFields(oc, sel, satisfies)
	}
	k := collectKey{first: &sel[0], n: len(sel), satisfies: &satisfies[0], types: len(satisfies)}
	if fields, ok := collected.get(k); ok {
		return fields
	}
	if !isCached(oc.Doc) || !fixedSelections(oc) {
		return graphql.CollectFields(oc, sel, satisfies)
	}
	fields := graphql.CollectFields(oc, sel, satisfies)
	collected.put(oc, k, fields)
	return fields
}

type collectKey struct {
	first     *ast.Selection
	n         int
	satisfies *string
	types     int
}

var (
	collected = newPlanCache[collectKey, []graphql.CollectedField]()
	fixedOps  = newPlanCache[*ast.OperationDefinition, bool]()
)

// fixedSelections reports whether no directive in oc's operation takes a
// variable.
func fixedSelections(oc *graphql.OperationContext) bool {
	op := oc.Operation
	if v, ok := fixedOps.get(op); ok {
		return v
	}
	v := !directivesTakeVariables(op.SelectionSet)
	fixedOps.put(oc, op, v)
	return v
}

// planCache remembers what the executor works out about a part of a parsed
// operation. Parsed operations are cached and reused (the parsed-query
// cache, caches.go), so the same AST nodes come back on every request of an
// operation. It is read many times per request, from every request at once,
// so reads take no lock (sync.Map). It remembers plans of cached documents
// only, and forgets them all when the cache has let enough go
// (documentGone): a plan's key pins its document, whose tree and text a
// padded 1 MiB query, never cached, made a megabyte or more. To stay
// bounded under arbitrary queries it also starts afresh once it holds
// maxPlans entries.
type planCache[K comparable, V any] struct {
	m atomic.Pointer[sync.Map]
	n atomic.Int64
}

const maxPlans = 4096

// planCaches are every planCache, for forgetPlans.
var planCaches []interface{ reset() }

func newPlanCache[K comparable, V any]() *planCache[K, V] {
	c := &planCache[K, V]{}
	c.m.Store(new(sync.Map))
	planCaches = append(planCaches, c)
	return c
}

func (c *planCache[K, V]) reset() {
	c.m.Store(new(sync.Map))
	c.n.Store(0)
}

// forgetPlans empties every planCache.
func forgetPlans() {
	for _, c := range planCaches {
		c.reset()
	}
}

func (c *planCache[K, V]) get(k K) (V, bool) {
	v, ok := c.m.Load().Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// put remembers v for k, a node of oc's document, if that document is
// cached.
func (c *planCache[K, V]) put(oc *graphql.OperationContext, k K, v V) {
	if oc == nil || !isCached(oc.Doc) {
		return
	}
	m := c.m.Load()
	if c.n.Add(1) > maxPlans {
		m = new(sync.Map)
		c.m.Store(m)
		c.n.Store(1)
	}
	m.Store(k, v)
}

// responseSizes remembers the size of each operation's last response, so
// that the next one is written into a buffer of about the right size at
// once instead of one that doubles its way there (for ProjectTree's 391 kB,
// 19 buffers and as many copies).
var responseSizes = newPlanCache[*ast.OperationDefinition, int]()

// responseBuffer returns the buffer to write op's response into: one the
// POST transport has finished with (recycleResponse) when it is large
// enough, else a new one.
func responseBuffer(op *ast.OperationDefinition) *bytes.Buffer {
	size, _ := responseSizes.get(op)
	want := size + size/8
	if p, ok := writtenResponses.Get().(*[]byte); ok && cap(*p) >= want {
		return bytes.NewBuffer((*p)[:0])
	}
	return bytes.NewBuffer(make([]byte, 0, want))
}

// writtenResponses holds the buffers of responses already written, for
// the next ones to be written into: ProjectTree's 391 kB were otherwise
// allocated, and cleared, anew for every request.
var writtenResponses sync.Pool // of *[]byte

// maxRecycled is the largest buffer kept for reuse, so that one very large
// response does not stay in memory for the small ones that follow.
const maxRecycled = 4 << 20

// recycleResponse hands data, a response written out and no longer
// referenced by anything, back for another response to be written into.
func recycleResponse(data []byte) {
	if c := cap(data); c == 0 || c > maxRecycled {
		return
	}
	data = data[:0]
	writtenResponses.Put(&data)
}

// responseWritten records the size of oc's response when it outgrew the
// buffer or fell well short of it, and returns the response.
func responseWritten(oc *graphql.OperationContext, buf *bytes.Buffer) []byte {
	n := buf.Len()
	if last, ok := responseSizes.get(oc.Operation); !ok || n > last || n < last-last/4 {
		responseSizes.put(oc, oc.Operation, n)
	}
	return buf.Bytes()
}

// reachesConcurrent reports whether set, fragments included, selects one of
// concurrentFields at any depth. A field on an interface or a union counts
// when any type has a resolver of that name, and a fragment it cannot see
// counts too: when in doubt, stay concurrent.
func reachesConcurrent(set ast.SelectionSet) bool {
	return selectsField(set, func(f *ast.Field) bool {
		objs, ok := concurrentFields[f.Name]
		return ok && (f.ObjectDefinition == nil || f.ObjectDefinition.Kind != ast.Object || objs[f.ObjectDefinition.Name])
	}, true)
}

// newDeferredGroup returns the @defer group for an object whose fields are
// fields: gqlgen's own when one of them is deferred, and otherwise an empty
// one, which the generated code never touches (it reads the group only for
// a deferred field, and after the fields only when the group holds one).
// gqlgen builds the full group for every object it marshals, including the
// object's path from the root: on ProjectTree that was about 8% of the
// request's CPU for a query without a single @defer.
func newDeferredGroup(ctx context.Context, fields []graphql.CollectedField) graphql.DeferredGroup {
	for i := range fields {
		if fields[i].IsDeferred() {
			return graphql.NewDeferredGroup(ctx)
		}
	}
	return graphql.DeferredGroup{}
}

// marshalObject is what an object's marshaller returns once its fields are
// resolved, in place of the *graphql.FieldSet itself: it writes the same
// JSON as FieldSet.MarshalGQL (the fields in order under their response
// names, a name met twice written once) without what that costs per object
// (a map of the names written, an iterator, and a copy of every field
// escaping to the heap). fields are the ones out was built from.
func marshalObject(fields []graphql.CollectedField, out *graphql.FieldSet) graphql.Marshaler {
	return &objectJSON{fields: fields, values: out.Values}
}

type objectJSON struct {
	fields []graphql.CollectedField
	values []graphql.Marshaler
}

func (o *objectJSON) MarshalGQL(w io.Writer) { writeObject(w, o.fields, o.values) }

// writeObject writes values under the response names of fields.
func writeObject(w io.Writer, fields []graphql.CollectedField, values []graphql.Marshaler) {
	// The executor writes into a bytes.Buffer; anything else goes through
	// one, in one write.
	b, ok := w.(*bytes.Buffer)
	if !ok {
		b = new(bytes.Buffer)
		defer func() { _, _ = w.Write(b.Bytes()) }()
	}
	b.WriteByte('{')
	first := true
	for i := range fields {
		alias := fields[i].Alias
		if written(fields[:i], alias) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		// A response name is a GraphQL name ([_A-Za-z][_0-9A-Za-z]*):
		// nothing in it needs escaping.
		b.WriteByte('"')
		b.WriteString(alias)
		b.WriteString(`":`)
		values[i].MarshalGQL(b)
	}
	b.WriteByte('}')
}

// written reports whether one of before has the response name alias.
// gqlgen's field collection merges fields by response name, so this never
// holds for its output; it keeps FieldSet's guarantee all the same.
func written(before []graphql.CollectedField, alias string) bool {
	for i := range before {
		if before[i].Alias == alias {
			return true
		}
	}
	return false
}

// withField returns ctx under the field context that gqlgen's ResolveField
// would make for field, whose value, read straight from a struct, is result.
// cmd/graphgen calls it only with a fieldContext that cannot fail.
func withField(ctx context.Context, ec *executionContext, fieldContext func(*executionContext, context.Context, graphql.CollectedField) (*graphql.FieldContext, error), field graphql.CollectedField, result any) context.Context {
	fc, _ := fieldContext(ec, ctx, field)
	fc.Result = result
	return graphql.WithFieldContext(ctx, fc)
}

// objectOut collects the values of an object that resolves none of its
// fields concurrently, in place of the graphql.FieldSet that gqlgen's
// executor would make (cmd/graphgen rewrites those objects' marshallers),
// and writes them as marshalObject does. It is one allocation, where a
// FieldSet, its values and the writer around them are three.
type objectOut struct {
	Values   []graphql.Marshaler
	Invalids uint32
	fields   []graphql.CollectedField
	values   [8]graphql.Marshaler // Values' storage for an object of up to 8 fields
}

func newObject(fields []graphql.CollectedField) *objectOut {
	o := &objectOut{fields: fields}
	if len(fields) <= len(o.values) {
		o.Values = o.values[:len(fields)]
	} else {
		o.Values = make([]graphql.Marshaler, len(fields))
	}
	return o
}

// Dispatch has nothing to do: no field of the object was scheduled.
func (o *objectOut) Dispatch(context.Context) {}

func (o *objectOut) MarshalGQL(w io.Writer) { writeObject(w, o.fields, o.Values) }
