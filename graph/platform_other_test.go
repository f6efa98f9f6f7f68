//go:build !unix && !windows

package graph_test

import "testing"

// processCPU would be the CPU time this process has used so far; where
// neither getrusage nor GetProcessTimes exists it is not measured, and the
// fan-out benchmark reports 0 for the CPU a broadcast costs.
func processCPU() int64 { return 0 }

// raiseFileLimit leaves the limit on open files as it is.
func raiseFileLimit(testing.TB, int) {}

// setReceiveBuffer cannot set a socket's receive buffer here; the tests
// that need a stuck client then see a larger buffer and write more first.
func setReceiveBuffer(uintptr, int) error { return nil }
