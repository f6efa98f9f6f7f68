package graph

import (
	"bufio"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// awaitMessage waits for the client's next byte without reading it: it
// returns at once for a byte already in the read buffer, waits while there
// is nothing, returns when a byte arrives (which the reader then gets) and
// when the client hangs up.
func TestAwaitMessage(t *testing.T) {
	if !peekSupported {
		t.Skip("sockets are not peeked at on " + runtime.GOOS + ": the wait is coder/websocket's (websocket_peek_other.go)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	raw, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	c := &wsConn{br: bufio.NewReaderSize(server, 16), raw: raw}
	await := func() <-chan struct{} {
		done := make(chan struct{})
		go func() {
			c.awaitMessage()
			close(done)
		}()
		return done
	}
	returns := func(what string, done <-chan struct{}) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: awaitMessage still waiting", what)
		}
	}

	done := await()
	select {
	case <-done:
		t.Fatal("returned with nothing sent")
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := client.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	returns("a byte sent", done)
	if b, err := c.br.ReadByte(); err != nil || b != 'a' {
		t.Fatalf("after the wait, read %q (%v), want the byte sent: the wait must not consume it", b, err)
	}
	returns("a byte left in the read buffer", await())
	if b, err := c.br.ReadByte(); err != nil || b != 'b' {
		t.Fatalf("read %q (%v), want b", b, err)
	}

	done = await()
	client.Close()
	returns("the client hung up", done)
}
