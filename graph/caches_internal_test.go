package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler/lru"
)

// The query caches keep no query over maxCachedQuery bytes, as the key
// (the parsed-query cache) or as the value (the persisted-query cache).
func TestBoundedCacheKeepsNoLongQuery(t *testing.T) {
	ctx := context.Background()
	c := boundedCache[string]{lru.New[string](10)}
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
}
