package graph

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The buffers coder/websocket reads and writes frames through, for the
// connection's life. net/http hands over 4 KiB each; at those sizes they
// would be 8 KiB of every idle connection's memory. Reads are few and
// small (the client's subscribes, pongs), a notification fits the write
// buffer in one write, and larger reads and writes bypass the buffers.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 1024
)

// smallBuffers hijacks the connection for websocket.Accept with buffers of
// wsReadBuffer and wsWriteBuffer bytes in place of net/http's, and with
// writeTimeout on every write (writeDeadline). Bytes the client sent right
// behind its upgrade request, which net/http has already read, are read
// before the socket (earlyConn).
type smallBuffers struct {
	http.ResponseWriter
	writeTimeout time.Duration
	hijacked     *hijackedConn // set by Hijack
}

// hijackedConn is what smallBuffers.Hijack handed coder/websocket: the
// socket, the bytes that came with the upgrade request (nil: none) and the
// read buffer in front of them (awaitMessage).
type hijackedConn struct {
	conn  net.Conn
	early *earlyConn
	br    *bufio.Reader
}

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h := hijackedConn{conn: conn}
	var in net.Conn = conn
	if early := brw.Reader.Buffered(); early > 0 {
		b, _ := brw.Reader.Peek(early)
		h.early = &earlyConn{Conn: conn, early: bytes.Clone(b)}
		in = h.early
	}
	h.br = bufio.NewReaderSize(in, wsReadBuffer)
	var out io.Writer = conn
	if w.writeTimeout > 0 {
		out = &writeDeadline{Conn: conn, timeout: w.writeTimeout}
	}
	*w.hijacked = h
	return in, bufio.NewReadWriter(h.br, bufio.NewWriterSize(out, wsWriteBuffer)), nil
}

// earlyConn is the connection as coder/websocket reads it when the client
// sent messages right behind its upgrade request, which net/http has
// already read: those bytes first, then the socket. (coder/websocket
// would keep them in a reader of its own, where awaitMessage could not
// see that they are waiting.)
type earlyConn struct {
	net.Conn
	mu    sync.Mutex
	early []byte
}

func (c *earlyConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		if len(c.early) == 0 {
			c.early = nil
		}
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// pending reports whether early bytes are still to be read.
func (c *earlyConn) pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.early) > 0
}

// writeDeadline gives each write to the connection a deadline at least
// timeout from its start: the server's messages, and coder/websocket's
// pongs and close frames. A client that stops reading is disconnected once
// its buffers are full (the failed write closes the connection). The
// deadline is set a quarter of timeout further than needed, and moved only
// when a write would start with less than timeout of it left: a broadcast
// to 10,000 subscribers otherwise paid a timer update per message, about
// 5% of its CPU. So a write that blocks fails between timeout and 1.25
// timeout after it started. (A context with a timeout per message cost a
// timer, a context and coder/websocket's context.AfterFunc.)
// coder/websocket writes one frame at a time, under its own lock; until
// is atomic all the same.
type writeDeadline struct {
	net.Conn
	timeout time.Duration
	until   atomic.Int64 // the deadline set, in Unix nanoseconds; 0: none yet
}

func (c *writeDeadline) Write(p []byte) (int, error) {
	now := time.Now()
	if now.Add(c.timeout).UnixNano() > c.until.Load() {
		until := now.Add(c.timeout + c.timeout/4)
		if err := c.SetWriteDeadline(until); err != nil {
			return 0, err
		}
		c.until.Store(until.UnixNano())
	}
	return c.Conn.Write(p)
}
