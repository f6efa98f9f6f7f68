//go:build unix && !aix

package graph

import "syscall"

// peekSupported: awaitMessage waits in the network poller here.
const peekSupported = true

// peekReady reports whether the socket fd has a byte to read, or has failed
// or ended (for the reader to find out), without reading anything: a
// non-blocking MSG_PEEK into buf. false only while there is nothing yet.
func peekReady(fd uintptr, buf []byte) bool {
	_, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN
}
