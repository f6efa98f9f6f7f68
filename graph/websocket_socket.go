package graph

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The buffers coder/websocket reads and writes frames through, for the
// connection's life. net/http hands over 4 KiB each; at those sizes they
// would be 8 KiB of every idle connection's memory. Reads are few (a
// connection_init and a subscribe, then pongs) and the buffer holds a
// frame's header and a pong (a client frame's longest header is 14 bytes;
// a longer payload is read past the buffer, a system call or two more per
// subscribe). Writes need no buffer: writeDeadline gathers each frame's
// first bytes and the rest into one system call, so the write buffer holds
// a frame's header and no more. At 1 KiB and 512 bytes they were the
// largest items of an idle connection's memory.
const (
	wsReadBuffer  = 64
	wsWriteBuffer = 16 // a server frame's longest header is 10 bytes
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
	out := &writeDeadline{Conn: conn, timeout: w.writeTimeout} // with no timeout, it only gathers frames
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
// timer, a context and coder/websocket's context.AfterFunc.) It also
// gathers each frame into one write (head). coder/websocket writes one
// frame at a time, under its own lock, which head, held and want rely on;
// until is atomic all the same.
type writeDeadline struct {
	net.Conn
	timeout time.Duration
	until   atomic.Int64 // the deadline set, in Unix nanoseconds; 0: none yet

	// A frame's first bytes, held until the rest of it comes. coder/
	// websocket writes a frame's header into its write buffer, then the
	// payload, and flushes: with a buffer of wsWriteBuffer bytes, a frame
	// longer than that reaches Write as the buffer's bytes (the header and
	// the payload's start), then the rest in one piece. Written apart, they
	// were two system calls and two TCP segments a message; gathered
	// (writev), one. Write follows the frames through the stream, so that
	// only a frame's start is ever held, and the bytes go out in order
	// whatever the pieces.
	head [wsWriteBuffer]byte
	held int  // bytes in head: a frame's start, not written yet
	rest int  // bytes of the frame under way still to come, after those held
	lost bool // a header came cut in two: frames are no longer followed, and nothing is held
}

func (c *writeDeadline) Write(p []byte) (int, error) {
	if c.held > 0 {
		head := c.head[:c.held]
		c.held = 0
		if len(p) == c.rest { // the rest of the frame
			c.rest = 0
			if err := c.extend(); err != nil {
				return 0, err
			}
			bufs := net.Buffers{head, p}
			n, err := bufs.WriteTo(c.Conn)
			return max(int(n)-len(head), 0), err
		}
		if _, err := c.write(head); err != nil {
			return 0, err
		}
	}
	if c.rest == 0 && !c.lost {
		if n, ok := frameLength(p); ok && n > len(p) && len(p) <= len(c.head) {
			c.held, c.rest = copy(c.head[:], p), n-len(p)
			return len(p), nil
		}
	}
	if !c.lost {
		c.rest, c.lost = frameRest(c.rest, p)
	}
	return c.write(p)
}

// frameRest returns how many bytes of the frame under way are still to
// come once p is written, rest of them having been to come before it (p
// may end that frame, and hold whole frames and the start of another);
// lost when a frame's header is cut short at p's end.
func frameRest(rest int, p []byte) (int, bool) {
	for rest < len(p) {
		p = p[rest:]
		n, ok := frameLength(p)
		if !ok {
			return 0, true
		}
		rest = n
	}
	return rest - len(p), false
}

// write writes p to the connection.
func (c *writeDeadline) write(p []byte) (int, error) {
	if err := c.extend(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// extend moves the write deadline when less than timeout of it is left
// (none without a timeout).
func (c *writeDeadline) extend() error {
	if c.timeout <= 0 {
		return nil
	}
	now := time.Now()
	if now.Add(c.timeout).UnixNano() > c.until.Load() {
		until := now.Add(c.timeout + c.timeout/4)
		if err := c.SetWriteDeadline(until); err != nil {
			return err
		}
		c.until.Store(until.UnixNano())
	}
	return nil
}

// frameLength is the length of the server frame (unmasked) whose header
// starts p, header included; false if p does not hold its whole header.
func frameLength(p []byte) (int, bool) {
	if len(p) < 2 || p[1]&0x80 != 0 {
		return 0, false
	}
	switch n := int(p[1] & 0x7f); n {
	case 126:
		if len(p) < 4 {
			return 0, false
		}
		return 4 + int(binary.BigEndian.Uint16(p[2:4])), true
	case 127:
		if len(p) < 10 {
			return 0, false
		}
		v := binary.BigEndian.Uint64(p[2:10])
		if v > math.MaxInt32 {
			return 0, false
		}
		return 10 + int(v), true
	default:
		return 2 + n, true
	}
}
