//go:build !unix || aix

package graph

// peekSupported: awaitMessage returns at once here.
const peekSupported = false

// peekReady is true at once where sockets are not peeked at (Windows, and
// AIX, whose syscall package has no MSG_DONTWAIT): the
// connection then waits in coder/websocket's reader, deeper (awaitMessage).
func peekReady(uintptr, []byte) bool { return true }
