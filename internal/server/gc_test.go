package server

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100)) // leave the process as it was
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	unset := func(string) string { return "" }

	t.Run("nothing set: the server's defaults", func(t *testing.T) {
		for _, k := range []string{"GOMEMLIMIT", "AUTOMEMLIMIT"} { // automemlimit reads them
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		got := TuneGC(unset, nil)
		if got.Percent != DefaultGCPercent || debug.SetGCPercent(DefaultGCPercent) != DefaultGCPercent {
			t.Errorf("GOGC: got %d, want %d", got.Percent, DefaultGCPercent)
		}
		// This machine has memory, limited by a cgroup or not: some limit.
		if got.MemoryLimit <= 0 || got.MemoryLimit == math.MaxInt64 {
			t.Errorf("memory limit: got %d, want a limit", got.MemoryLimit)
		}
		if now := debug.SetMemoryLimit(-1); now != got.MemoryLimit {
			t.Errorf("memory limit in force: %d, reported %d", now, got.MemoryLimit)
		}
	})
	t.Run("GOGC and GOMEMLIMIT set: left as Go applied them", func(t *testing.T) {
		debug.SetGCPercent(150)       // what the runtime did at start with GOGC=150
		debug.SetMemoryLimit(1 << 30) // and with GOMEMLIMIT=1GiB
		env := map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB"}
		got := TuneGC(func(k string) string { return env[k] }, nil)
		if got.Percent != 150 || debug.SetGCPercent(150) != 150 {
			t.Errorf("GOGC: got %d, want 150", got.Percent)
		}
		if got.MemoryLimit != 1<<30 || debug.SetMemoryLimit(-1) != 1<<30 {
			t.Errorf("memory limit: got %d, want %d", got.MemoryLimit, 1<<30)
		}
	})
	t.Run("GOMEMLIMIT present but empty, as docker-compose.yml passes it: the server's limit", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "") // present in the environment, empty
		debug.SetMemoryLimit(math.MaxInt64)
		got := TuneGC(os.Getenv, nil)
		if got.MemoryLimit <= 0 || got.MemoryLimit == math.MaxInt64 {
			t.Errorf("memory limit: got %d, want a limit", got.MemoryLimit)
		}
	})
	t.Run("AUTOMEMLIMIT off or malformed: no limit", func(t *testing.T) {
		for _, v := range []string{"off", "abc", "1.5"} {
			debug.SetMemoryLimit(math.MaxInt64)
			env := map[string]string{"AUTOMEMLIMIT": v}
			if got := TuneGC(func(k string) string { return env[k] }, nil); got.MemoryLimit != math.MaxInt64 {
				t.Errorf("AUTOMEMLIMIT=%s: memory limit %d, want none", v, got.MemoryLimit)
			}
		}
	})
}
