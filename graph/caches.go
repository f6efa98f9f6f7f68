package graph

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// maxCachedQuery is the longest query, in bytes, that the parsed-query and
// persisted-query caches keep. Each holds 1,000 entries, and a query can be
// as long as MAX_BODY_BYTES (1 MiB): anyone could have pinned a gigabyte in
// each with a thousand requests of a short query padded with distinct
// whitespace, before any budget or session. Longer queries are parsed (or,
// as persisted queries, sent in full) each time.
const maxCachedQuery = 64 << 10

// apqCache is the persisted-query cache: it keeps no entry whose key (the
// query's hash, as the client sent it) or query is over maxCachedQuery.
// (The parsed-query cache is queryCache, below.)
type apqCache struct {
	graphql.Cache[string]
}

func (c apqCache) Add(ctx context.Context, key, query string) {
	if len(key) > maxCachedQuery || len(query) > maxCachedQuery {
		return
	}
	c.Cache.Add(ctx, key, query)
}

// The parsed-query cache's bounds: entries, and the estimated bytes of
// their documents in all.
const (
	queryCacheEntries = 1000
	queryCacheBytes   = 64 << 20
)

// queryCache is the parsed-query cache: the documents of at most entries
// queries of at most maxCachedQuery bytes, whose estimated size
// (documentSize) is at most budget in all, least recently used first out.
// A parsed document is 17 to 30 times its text (measured: ProjectTree's
// 530 bytes parse to 9 kB; 44 kB of aliases, "a1:id a2:id …", to 1.2 MB),
// so that bounding the text alone let a thousand dense queries of 64 KiB
// hold well over a gigabyte.
//
// The documents it holds are the ones the executor's plans may remember
// (planCache): a plan pins its document (its AST nodes are the keys, and
// they reach the query's text), so that plans kept for documents that are
// not cached, or no longer, would pin what this cache let go.
type queryCache struct {
	lru    *lru.Cache[string, cachedDocument]
	budget int64
	bytes  atomic.Int64
}

type cachedDocument struct {
	doc  *ast.QueryDocument
	size int64
}

func newQueryCache(entries int, budget int64) *queryCache {
	c := &queryCache{budget: budget}
	l, err := lru.NewWithEvict(entries, func(_ string, d cachedDocument) {
		c.bytes.Add(-d.size)
		documentGone(d)
	})
	if err != nil {
		panic(err) // entries is a positive constant
	}
	c.lru = l
	return c
}

func (c *queryCache) Get(_ context.Context, query string) (*ast.QueryDocument, bool) {
	d, ok := c.lru.Get(query)
	return d.doc, ok
}

func (c *queryCache) Add(_ context.Context, query string, doc *ast.QueryDocument) {
	if len(query) > maxCachedQuery {
		return
	}
	d := cachedDocument{doc: doc, size: documentSize(query, doc)}
	if d.size > c.budget {
		return
	}
	cachedDocuments.Store(doc, struct{}{})
	if found, _ := c.lru.ContainsOrAdd(query, d); found {
		cachedDocuments.Delete(doc) // parsed twice at once: the first is kept
		return
	}
	c.bytes.Add(d.size)
	for c.bytes.Load() > c.budget { // the oldest first: never the one just added, which fits
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// documentSize estimates the bytes a parsed query holds: its text, and
// about 256 bytes per node of its tree (a field, an argument, a value, a
// directive, a fragment), which measured 170 to 235 bytes a node.
func documentSize(query string, doc *ast.QueryDocument) int64 {
	nodes := 0
	for _, op := range doc.Operations {
		nodes += 1 + len(op.VariableDefinitions) + directiveNodes(op.Directives) + selectionNodes(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		nodes += 1 + directiveNodes(f.Directives) + selectionNodes(f.SelectionSet)
	}
	return int64(len(query)) + 256*int64(nodes)
}

func selectionNodes(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		n++
		switch s := sel.(type) {
		case *ast.Field:
			n += argumentNodes(s.Arguments) + directiveNodes(s.Directives) + selectionNodes(s.SelectionSet)
		case *ast.InlineFragment:
			n += directiveNodes(s.Directives) + selectionNodes(s.SelectionSet)
		case *ast.FragmentSpread:
			n += directiveNodes(s.Directives)
		}
	}
	return n
}

func directiveNodes(ds ast.DirectiveList) int {
	n := len(ds)
	for _, d := range ds {
		n += argumentNodes(d.Arguments)
	}
	return n
}

func argumentNodes(args ast.ArgumentList) int {
	n := len(args)
	for _, a := range args {
		n += valueNodes(a.Value)
	}
	return n
}

func valueNodes(v *ast.Value) int {
	if v == nil {
		return 0
	}
	n := 1
	for _, c := range v.Children {
		n += valueNodes(c.Value)
	}
	return n
}

// cachedDocuments holds the documents some parsed-query cache holds.
var cachedDocuments sync.Map // *ast.QueryDocument → struct{}

// isCached reports whether doc is held by a parsed-query cache, so that
// the plans worked out for it may be remembered.
func isCached(doc *ast.QueryDocument) bool {
	_, ok := cachedDocuments.Load(doc)
	return ok
}

// evictedBytes counts the estimated bytes of the documents evicted since
// the plans were last forgotten. Plans are kept in maps keyed by AST nodes,
// not per document, so that a document's own cannot be told apart: once a
// quarter of the cache's budget has been evicted, every plan is forgotten,
// and the plans pin about that much of documents no longer cached at most
// (a plan being stored as its document is evicted may outlive it until the
// next time).
var evictedBytes atomic.Int64

func documentGone(d cachedDocument) {
	cachedDocuments.Delete(d.doc)
	// The one that takes the count back to 0 forgets: an eviction counted
	// meanwhile is not lost, and the plans are forgotten once.
	if n := evictedBytes.Add(d.size); n > queryCacheBytes/4 && evictedBytes.CompareAndSwap(n, 0) {
		forgetPlans()
	}
}
