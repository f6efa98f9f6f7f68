//go:build unix

package graph_test

import (
	"syscall"
	"testing"
)

// processCPU is the CPU time this process has used so far (user and
// system), in nanoseconds.
func processCPU() int64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return u.Utime.Nano() + u.Stime.Nano()
}

// raiseFileLimit raises the soft limit on open files to at least need (up
// to the hard limit), failing when that is not enough.
func raiseFileLimit(tb testing.TB, need int) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("reading the open-file limit: %v", err)
	}
	if uint64(lim.Cur) >= uint64(need) {
		return
	}
	lim.Cur = atMost(lim.Max, need)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("raising the open-file limit to %d: %v", lim.Cur, err)
	}
	if uint64(lim.Cur) < uint64(need) {
		tb.Fatalf("open-file limit: %d (hard), want at least %d for this test", lim.Max, need)
	}
}

// atMost is min(limit, need) in the type of Rlimit's fields, which is
// uint64 on Linux and int64 on some BSDs.
func atMost[T int64 | uint64](limit T, need int) T { return min(limit, T(need)) }

// setReceiveBuffer sets a socket's receive buffer (SO_RCVBUF) to n bytes.
func setReceiveBuffer(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
