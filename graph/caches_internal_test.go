package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// The query caches keep no query over maxCachedQuery bytes, as the key
// (the parsed-query cache) or as the value (the persisted-query cache).
func TestBoundedCacheKeepsNoLongQuery(t *testing.T) {
	ctx := context.Background()
	c := apqCache{lru.New[string](10)}
	short, long := "{ __typename }", "{ __typename }"+strings.Repeat(" ", maxCachedQuery)
	c.Add(ctx, short, short)
	c.Add(ctx, long, "parsed")
	c.Add(ctx, "hash", long)
	if _, ok := c.Get(ctx, short); !ok {
		t.Errorf("a short query was not kept")
	}
	if _, ok := c.Get(ctx, long); ok {
		t.Errorf("a query over %d bytes was kept as a key", maxCachedQuery)
	}
	if _, ok := c.Get(ctx, "hash"); ok {
		t.Errorf("a query over %d bytes was kept as a value", maxCachedQuery)
	}
	parsed := newQueryCache(10, queryCacheBytes)
	parsed.Add(ctx, long, parse(t, long))
	if _, ok := parsed.Get(ctx, long); ok {
		t.Errorf("the parsed-query cache kept a query over %d bytes", maxCachedQuery)
	}
}

// denseQuery is a query of n aliased fields, distinct by seed: its text is
// about 9 bytes a field, its parsed tree about 230.
func denseQuery(seed, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query Q%d { ", seed)
	for i := range n {
		fmt.Fprintf(&b, "a%d: __typename ", i)
	}
	b.WriteString("}")
	return b.String()
}

func parse(t *testing.T, query string) *ast.QueryDocument {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The parsed-query cache bounds the estimated bytes of its documents, not
// only their number: a thousand dense queries under 64 KiB each parse to
// over a gigabyte. It keeps the most recent within the budget, none over
// it, and counts a query parsed twice at once once.
func TestQueryCacheBoundsItsDocumentsBytes(t *testing.T) {
	ctx := context.Background()
	const budget = 8 << 20
	c := newQueryCache(1000, budget)
	var last string
	for seed := range 40 {
		last = denseQuery(seed, 3500) // about 60 kB of text, 0.95 MB estimated
		c.Add(ctx, last, parse(t, last))
		c.Add(ctx, last, parse(t, last)) // a second parse of the same query
		if b := c.bytes.Load(); b > budget {
			t.Fatalf("after %d queries the cache holds %d estimated bytes, over its %d", seed+1, b, budget)
		}
	}
	if _, ok := c.Get(ctx, last); !ok {
		t.Errorf("the last query was not kept")
	}
	var sum int64
	for _, q := range c.lru.Keys() {
		d, _ := c.lru.Peek(q)
		sum += d.size
		if !isCached(d.doc) {
			t.Errorf("a held document is not known as cached")
		}
	}
	if n := c.lru.Len(); n < 2 || n > 9 || sum != c.bytes.Load() {
		t.Errorf("the cache holds %d documents of %d estimated bytes, counted %d; want 2 to 9, counted exactly", n, sum, c.bytes.Load())
	}
	if size := documentSize(last, parse(t, last)); size < 3500*256 {
		t.Errorf("a query of 3,500 aliased fields is estimated at %d bytes, want at least 256 a field", size)
	}
	huge := denseQuery(99, 3500)
	small := newQueryCache(1000, 512<<10)
	small.Add(ctx, huge, parse(t, huge))
	if _, ok := small.Get(ctx, huge); ok || small.bytes.Load() != 0 {
		t.Errorf("a document over the whole budget was kept")
	}
}

// Plans are remembered for cached documents alone: a plan's key (an AST
// node) pins its document, tree and text, and a padded 1 MiB query, never
// cached, used to stay pinned by its plans until 4,096 more were made.
// Once a quarter of the budget's worth of documents has left the cache,
// every plan is forgotten.
func TestPlansAreKeptForCachedDocumentsOnly(t *testing.T) {
	ctx := context.Background()
	uncachedQuery := "{ __typename }" + strings.Repeat(" ", maxCachedQuery)
	uncached := parse(t, uncachedQuery)
	c := newQueryCache(1000, 8<<20)
	c.Add(ctx, uncachedQuery, uncached)
	oc := &graphql.OperationContext{Doc: uncached, Operation: uncached.Operations[0]}
	fixedSelections(oc)
	if _, ok := fixedOps.get(oc.Operation); ok {
		t.Errorf("a plan was kept for a document the cache did not take")
	}
	// Its lists keep gqlgen's default, rather than walking their selection
	// sets again for every element's list.
	list := &ast.Field{Alias: "items", Name: "items", SelectionSet: ast.SelectionSet{&ast.Field{Alias: "id", Name: "id"}}}
	if inMemory(graphql.WithOperationContext(ctx, oc), &graphql.FieldContext{Field: graphql.CollectedField{Field: list, Selections: list.SelectionSet}}) {
		t.Errorf("a list of an uncached document was planned in memory")
	}
	if _, ok := inMemoryLists.get(selectionKey{&list.SelectionSet[0], 1}); ok {
		t.Errorf("a list plan was kept for a document the cache did not take")
	}

	kept := denseQuery(1000, 10)
	doc := parse(t, kept)
	c.Add(ctx, kept, doc)
	oc = &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
	fixedSelections(oc)
	if _, ok := fixedOps.get(oc.Operation); !ok {
		t.Fatalf("no plan was kept for a cached document")
	}
	for seed := range int(queryCacheBytes/4/(900<<10)) + 16 { // enough 0.95 MB documents through the cache
		q := denseQuery(seed, 3500)
		c.Add(ctx, q, parse(t, q))
	}
	if isCached(doc) {
		t.Fatalf("the first document is still cached")
	}
	if _, ok := fixedOps.get(oc.Operation); ok {
		t.Errorf("the evicted document's plan is still kept")
	}
}
