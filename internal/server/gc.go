package server

import (
	"runtime/debug"
	"runtime/metrics"
)

// DefaultGCPercent is the garbage collector's target this server runs with
// when GOGC is not set: the heap may grow to five times what is live before
// a collection, instead of Go's default of twice.
//
// A GraphQL response allocates a lot for its size (gqlgen builds a field
// context, closures and a marshaller per field: about 237,000 allocations
// and 14 MB for the 365 kB ProjectTree), while little of it stays live. At
// Go's default the collector ran about a sixth of the time under load; at
// 400 the benchmark serves 17% more requests a second at 32 clients and
// answers one client 14% sooner (docs/BENCHMARKS.md). The cost is memory:
// the heap's peak is about five times the live heap, tens of MB here, and
// each idle websocket holds about 52 KB of heap instead of 39 KB (live
// objects end up spread over more partly used spans). A deployment that
// mostly holds idle subscriptions may prefer GOGC=100. Containers with a
// hard memory limit should also set GOMEMLIMIT a little below it, so the
// collector works harder before the limit is reached.
const DefaultGCPercent = 400

// TuneGC applies DefaultGCPercent unless GOGC is set, in which case Go has
// already applied it and it wins. It returns the percent now in force
// (0 when GOGC=off).
func TuneGC(getenv func(string) string) int {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
