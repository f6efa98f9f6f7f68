package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// maxCachedQuery is the longest query, in bytes, that the parsed-query and
// persisted-query caches keep. Each holds 1,000 entries, and a query can be
// as long as MAX_BODY_BYTES (1 MiB): anyone could have pinned a gigabyte in
// each with a thousand requests of a short query padded with distinct
// whitespace, before any budget or session. Longer queries are parsed (or,
// as persisted queries, sent in full) each time.
const maxCachedQuery = 64 << 10

// boundedCache is a cache that does not keep entries whose size (the key's
// and, for strings, the value's) is over maxCachedQuery.
type boundedCache[T any] struct {
	graphql.Cache[T]
}

func (c boundedCache[T]) Add(ctx context.Context, key string, value T) {
	if len(key) > maxCachedQuery {
		return
	}
	if s, ok := any(value).(string); ok && len(s) > maxCachedQuery {
		return
	}
	c.Cache.Add(ctx, key, value)
}
