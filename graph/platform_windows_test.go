package graph_test

import (
	"syscall"
	"testing"
)

// processCPU is the CPU time this process has used so far (user and
// kernel), in nanoseconds.
func processCPU() int64 {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0
	}
	var created, exited, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return 0
	}
	return filetimeNanos(kernel) + filetimeNanos(user)
}

// filetimeNanos is a FILETIME duration (100 ns units) in nanoseconds.
func filetimeNanos(f syscall.Filetime) int64 {
	return (int64(f.HighDateTime)<<32 | int64(f.LowDateTime)) * 100
}

// raiseFileLimit has nothing to raise: Windows sets no per-process limit
// on open sockets like Unix's RLIMIT_NOFILE.
func raiseFileLimit(testing.TB, int) {}

// setReceiveBuffer sets a socket's receive buffer (SO_RCVBUF) to n bytes.
func setReceiveBuffer(fd uintptr, n int) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
