package server

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100)) // leave the process as it was

	t.Run("GOGC unset: the server's default", func(t *testing.T) {
		debug.SetGCPercent(100)
		if got := TuneGC(func(string) string { return "" }); got != DefaultGCPercent {
			t.Errorf("TuneGC returned %d, want %d", got, DefaultGCPercent)
		}
		if got := debug.SetGCPercent(100); got != DefaultGCPercent {
			t.Errorf("percent in force: %d, want %d", got, DefaultGCPercent)
		}
	})
	t.Run("GOGC set: left as Go applied it", func(t *testing.T) {
		debug.SetGCPercent(150) // what the runtime did with GOGC=150 at start
		env := map[string]string{"GOGC": "150"}
		if got := TuneGC(func(k string) string { return env[k] }); got != 150 {
			t.Errorf("TuneGC returned %d, want 150", got)
		}
		if got := debug.SetGCPercent(100); got != 150 {
			t.Errorf("percent in force: %d, want 150", got)
		}
	})
}
