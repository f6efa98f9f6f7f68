package server

import (
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strconv"

	"github.com/KimMachineGun/automemlimit/memlimit"
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
// answers one client 14% sooner (docs/BENCHMARKS.md).
//
// The cost is memory. Under the benchmark's 32 concurrent ProjectTrees its
// process (API, floor and data set) peaked at 673 MB instead of 295 MB, and
// an idle websocket's 11 KB or so of live objects are spread over more
// partly used spans: 16–19 KB in use per idle subscriber in the fan-out
// benchmark (docs/BENCHMARKS.md), within the 20 KB. So
// TuneGC also sets a soft memory limit, below which the collector may take
// its time and near which it works as hard as it must: see
// memoryLimitRatio. A deployment that mostly holds idle subscriptions may
// prefer GOGC=100.
const DefaultGCPercent = 400

// memoryLimitRatio is the share of the container's memory limit (cgroup v1
// or v2), or else of the machine's memory, that TuneGC gives the Go runtime
// as its soft limit (GOMEMLIMIT) when GOMEMLIMIT is not set. The rest is
// for what the runtime does not count: SQLite's page cache, goroutine
// stacks and the like.
const memoryLimitRatio = 0.9

// GCSettings is what TuneGC left in force.
type GCSettings struct {
	Percent     int   // GOGC; 0 when off
	MemoryLimit int64 // GOMEMLIMIT in bytes; math.MaxInt64 when none
}

// TuneGC applies DefaultGCPercent unless GOGC is set, in which case Go has
// already applied it and it wins; and, unless GOMEMLIMIT is set (or
// AUTOMEMLIMIT=off), a soft memory limit of memoryLimitRatio of the
// container's or machine's memory, found by automemlimit. A limit that
// cannot be read is logged and left unset.
func TuneGC(getenv func(string) string, log *slog.Logger) GCSettings {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	// The settings are read through getenv, not by memlimit.Set, which
	// takes a GOMEMLIMIT that is present but empty (as docker-compose.yml's
	// `GOMEMLIMIT: ${GOMEMLIMIT:-}` passes it) for a limit already set, and
	// so left the process with none; the runtime reads empty as unset.
	if err := setMemoryLimit(getenv); err != nil && log != nil {
		log.Warn("garbage collector: no soft memory limit", "error", err.Error())
	}
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	limit := int64(math.MaxInt64)
	if v := s[1].Value.Uint64(); v < math.MaxInt64 {
		limit = int64(v)
	}
	return GCSettings{Percent: int(s[0].Value.Uint64()), MemoryLimit: limit}
}

// CheckGCSettings checks the syntax of GOGC and AUTOMEMLIMIT, for the
// server to refuse to start on a malformed one as on any other setting: Go
// runs at GOGC=100 without a word when GOGC is not a number or "off", and
// a malformed AUTOMEMLIMIT would leave the process with no memory limit.
// (Go itself stops at start on a malformed GOMEMLIMIT.)
func CheckGCSettings(getenv func(string) string) error {
	if v := getenv("GOGC"); v != "" && v != "off" {
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return fmt.Errorf("GOGC: %q is not a percentage or off (Go would quietly run at 100)", v)
		}
	}
	_, err := memoryLimitShare(getenv("AUTOMEMLIMIT"))
	return err
}

// memoryLimitShare is AUTOMEMLIMIT's share of the memory, memoryLimitRatio
// when it is empty (0 for off).
func memoryLimitShare(v string) (float64, error) {
	switch v {
	case "":
		return memoryLimitRatio, nil
	case "off":
		return 0, nil
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || !(r > 0 && r <= 1) {
		return 0, fmt.Errorf("AUTOMEMLIMIT: %q is not a share in (0, 1], such as 0.8, or off", v)
	}
	return r, nil
}

// setMemoryLimit sets the soft memory limit to a share of the container's
// or machine's memory: memoryLimitRatio, or AUTOMEMLIMIT's share; nothing
// when GOMEMLIMIT is set (the runtime has applied it) or AUTOMEMLIMIT=off.
func setMemoryLimit(getenv func(string) string) error {
	if getenv("GOMEMLIMIT") != "" {
		return nil
	}
	ratio, err := memoryLimitShare(getenv("AUTOMEMLIMIT"))
	if err != nil || ratio == 0 {
		return err
	}
	limit, err := memlimit.ApplyRatio(memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem), ratio)()
	if err != nil {
		return err
	}
	debug.SetMemoryLimit(int64(min(limit, math.MaxInt64)))
	return nil
}
