//go:build !unix || aix

package graph

// peekReady is true at once where sockets are not peeked at (Windows, and
// AIX, whose syscall package has no MSG_DONTWAIT): the
// read loop then waits in coder/websocket's reader, deeper (awaitMessage).
func peekReady(uintptr, []byte) bool { return true }
