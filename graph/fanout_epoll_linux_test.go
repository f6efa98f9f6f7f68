package graph_test

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"tenantgraph/graph/graphtest"
)

// The epoll client: the fan-out benchmark's subscribers as a load driver
// ought to be, cheap beside the server they measure. Each subscriber is a
// plain TCP socket that speaks just enough of RFC 6455 and
// graphql-transport-ws (the upgrade, masked client frames, connection_init,
// subscribe, pong), and one goroutine reads them all through one epoll set.
// Each message's time is the kernel's: the moment its bytes reached the
// subscriber's socket (SO_TIMESTAMPNS), so how late this process gets round
// to reading it does not count, as it would not for a subscriber on
// another machine. The websocket client (coder/websocket and encoding/json,
// one goroutine per connection, timed as it reads) costs about 46 µs of
// CPU per message; this one a few.

const epollClientsAvailable = true

// epollClient is one subscriber's socket and the bytes of its next frame.
type epollClient struct {
	fd  int
	buf []byte // received, not yet a whole frame
}

// runEpollClients connects a subscriber per token to the websocket at
// rawURL, writes "fanout cpu <ns>" and "fanout ready" to stdout once all
// are subscribed, then "fanout next <unix ns> <kind>" for each notification
// (and "fanout cpu <ns>" after each whole broadcast), until the server
// closes the connections or the process ends.
func runEpollClients(rawURL string, tokens []string, stdout io.Writer) error {
	addr, target, host, err := wsTarget(rawURL)
	if err != nil {
		return err
	}
	clients := make([]*epollClient, len(tokens))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i, token := range tokens {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := dialEpollClient(addr, target, host, token)
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, fmt.Errorf("subscriber %d: %w", i, err))
				mu.Unlock()
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}

	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	byFD := make(map[int32]*epollClient, len(clients))
	for _, c := range clients {
		if err := syscall.SetNonblock(c.fd, true); err != nil {
			return err
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
		byFD[int32(c.fd)] = c
	}
	fmt.Fprintf(stdout, "fanout cpu %d\nfanout ready\n", processCPU()) // the baseline for the first broadcast's

	// One thread waits in epoll_wait and, while messages arrive, only
	// takes each whole frame with its time. They are decoded, answered
	// (pings) and reported once a whole broadcast is in or nothing has
	// arrived for settleAfter: the work of this process and the parent's
	// reading of its lines then waits until the server has done its own.
	runtime.LockOSThread()
	out := bufio.NewWriterSize(stdout, 64<<10)
	events := make([]syscall.EpollEvent, 512)
	data, oob := make([]byte, 64<<10), make([]byte, syscall.CmsgSpace(16))
	var pending []frameAt
	received := 0
	settle := func() error {
		for _, f := range pending {
			kind, err := f.from.handle(f.opcode, f.payload)
			switch {
			case err != nil:
				fmt.Fprintf(out, "fanout error %v\n", err)
			case kind != "" && f.at.IsZero():
				fmt.Fprintf(out, "fanout error a %s message without its receive timestamp\n", kind)
			case kind != "": // not a ping
				fmt.Fprintf(out, "fanout next %d %s\n", f.at.UnixNano(), kind)
				if received++; received%len(clients) == 0 { // a whole broadcast: its CPU so far
					fmt.Fprintf(out, "fanout cpu %d\n", processCPU())
				}
			}
		}
		pending = pending[:0]
		return out.Flush()
	}
	for len(byFD) > 0 {
		wait := -1
		if len(pending) > 0 {
			wait = int(settleAfter / time.Millisecond)
		}
		n, err := syscall.EpollWait(ep, events, wait)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			c := byFD[ev.Fd]
			got, at, err := c.receive(data, oob)
			if got < 0 { // nothing after all
				continue
			}
			if err != nil || got == 0 { // the server closed it (at the end of the run)
				_ = syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
				_ = syscall.Close(c.fd)
				delete(byFD, ev.Fd)
				continue
			}
			for {
				opcode, payload, rest, whole := parseServerFrame(c.buf)
				if !whole {
					break
				}
				c.buf = rest
				pending = append(pending, frameAt{from: c, at: at, opcode: opcode, payload: bytes.Clone(payload)})
			}
		}
		if n == 0 || len(pending) >= len(clients) {
			if err := settle(); err != nil {
				return err
			}
		}
	}
	return settle()
}

// settleAfter is how long the epoll client waits for more messages before
// it handles those it has.
const settleAfter = 50 * time.Millisecond

// frameAt is a whole frame as it arrived, to be handled later.
type frameAt struct {
	from    *epollClient
	at      time.Time
	opcode  byte
	payload []byte
}

// wsTarget splits a ws:// URL into the IPv4 address to connect to, the
// request target and the Host header.
func wsTarget(rawURL string) (addr *syscall.SockaddrInet4, target, host string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", "", err
	}
	ip := net.ParseIP(u.Hostname()).To4()
	port, perr := strconv.Atoi(u.Port())
	if ip == nil || perr != nil {
		return nil, "", "", fmt.Errorf("the epoll client needs an IPv4 address and a port: %s", rawURL)
	}
	addr = &syscall.SockaddrInet4{Port: port, Addr: [4]byte(ip)}
	return addr, u.RequestURI(), u.Host, nil
}

// dialEpollClient connects, upgrades, sends connection_init, waits for
// connection_ack and subscribes to the feed, all on a blocking socket,
// and returns the socket with its receive timestamps on.
func dialEpollClient(addr *syscall.SockaddrInet4, target, host, token string) (c *epollClient, err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = syscall.Close(fd)
		}
	}()
	// Never block for ever: a stuck server fails the run.
	tv := syscall.NsecToTimeval(int64(20 * time.Second))
	for _, opt := range []int{syscall.SO_RCVTIMEO, syscall.SO_SNDTIMEO} {
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
			return nil, err
		}
	}
	// A copy: syscall.Connect writes its raw form into the address, which
	// the other subscribers' dials share.
	to := *addr
	if err := connect(fd, &to); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	c = &epollClient{fd: fd}

	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	request := "GET " + target + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13" +
		"\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Protocol: " + "graphql-transport-ws" + "\r\n\r\n"
	if err := c.writeAll([]byte(request)); err != nil {
		return nil, err
	}
	head, err := c.readUntil(func(b []byte) int {
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			return i + 4
		}
		return -1
	})
	if err != nil {
		return nil, fmt.Errorf("reading the upgrade response: %w", err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	accept := "Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:])
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) || !bytes.Contains(bytes.ToLower(head), bytes.ToLower([]byte(accept))) {
		return nil, fmt.Errorf("the upgrade was refused: %q", head)
	}

	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": initPayload(token, "crowd")})
	if err := c.writeAll(clientFrame(0x1, init)); err != nil {
		return nil, err
	}
	for {
		kind, ok, err := c.nextMessage()
		if err != nil {
			return nil, err
		}
		if ok && kind == "connection_ack" {
			break
		}
		if ok {
			return nil, fmt.Errorf("got %q, want connection_ack", kind)
		}
		if err := c.fill(); err != nil {
			return nil, fmt.Errorf("waiting for connection_ack: %w", err)
		}
	}
	subscribe, _ := json.Marshal(map[string]any{"id": "feed", "type": "subscribe", "payload": map[string]any{"query": feedQuery}})
	if err := c.writeAll(clientFrame(0x1, subscribe)); err != nil {
		return nil, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		return nil, fmt.Errorf("SO_TIMESTAMPNS: %w", err)
	}
	return c, nil
}

// connect connects the blocking socket. A signal (the Go runtime's
// preemption, say) interrupts connect(2) without stopping the connection:
// it goes on, and asking again tells when it is made.
func connect(fd int, addr syscall.Sockaddr) error {
	err := syscall.Connect(fd, addr)
	for deadline := time.Now().Add(20 * time.Second); ; {
		switch {
		case errors.Is(err, syscall.EISCONN):
			return nil
		case errors.Is(err, syscall.EALREADY), errors.Is(err, syscall.EINPROGRESS):
			if time.Now().After(deadline) {
				return syscall.ETIMEDOUT
			}
			time.Sleep(time.Millisecond)
		case !errors.Is(err, syscall.EINTR):
			return err
		}
		err = syscall.Connect(fd, addr)
	}
}

// writeAll writes p to the socket.
func (c *epollClient) writeAll(p []byte) error {
	for len(p) > 0 {
		n, err := syscall.Write(c.fd, p)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) { // non-blocking: a pong to a full socket
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// fill reads once from the blocking socket into c.buf.
func (c *epollClient) fill() error {
	var chunk [4096]byte
	for {
		n, err := syscall.Read(c.fd, chunk[:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("the server closed the connection")
		}
		c.buf = append(c.buf, chunk[:n]...)
		return nil
	}
}

// readUntil reads until end(c.buf) reports where a head ends, and takes it
// out of c.buf.
func (c *epollClient) readUntil(end func([]byte) int) ([]byte, error) {
	for {
		if i := end(c.buf); i >= 0 {
			head := bytes.Clone(c.buf[:i])
			c.buf = c.buf[i:]
			return head, nil
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// receive reads what the non-blocking socket holds into c.buf, with the
// time its last byte arrived.
func (c *epollClient) receive(data, oob []byte) (int, time.Time, error) {
	for {
		n, oobn, _, _, err := syscall.Recvmsg(c.fd, data, oob, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			return -1, time.Time{}, nil
		}
		if err != nil || n == 0 {
			return 0, time.Time{}, err
		}
		c.buf = append(c.buf, data[:n]...)
		return n, receivedAt(oob[:oobn]), nil
	}
}

// receivedAt is the SCM_TIMESTAMPNS in a recvmsg's control messages, or
// the zero time when there is none.
func receivedAt(oob []byte) time.Time {
	for len(oob) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < syscall.SizeofCmsghdr || int(h.Len) > len(oob) {
			break
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS &&
			int(h.Len) >= syscall.CmsgLen(int(unsafe.Sizeof(syscall.Timespec{}))) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[syscall.CmsgLen(0)]))
			return time.Unix(ts.Unix())
		}
		oob = oob[syscall.CmsgSpace(int(h.Len)-syscall.CmsgLen(0)):]
	}
	return time.Time{}
}

// nextMessage takes the next whole frame out of c.buf and handles it:
// ok reports whether there was one.
func (c *epollClient) nextMessage() (kind string, ok bool, err error) {
	opcode, payload, rest, whole := parseServerFrame(c.buf)
	if !whole {
		return "", false, nil
	}
	c.buf = rest
	kind, err = c.handle(opcode, payload)
	return kind, true, err
}

// handle answers a ping (a websocket ping, or graphql-transport-ws's
// {"type":"ping"}) and returns an empty kind for it and for a pong; for a
// "next" it returns the notification's kind, for a connection_ack its type.
func (c *epollClient) handle(opcode byte, payload []byte) (kind string, err error) {
	switch opcode {
	case 0x9: // ping
		return "", c.writeAll(clientFrame(0xA, payload))
	case 0xA: // pong
		return "", nil
	case 0x8:
		return "", fmt.Errorf("the server closed the websocket: %q", payload)
	case 0x1:
	default:
		return "", fmt.Errorf("unexpected websocket frame, opcode %#x", opcode)
	}
	var m struct {
		Type    string
		Payload struct {
			Data struct{ NotificationAdded struct{ Kind string } }
		}
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", fmt.Errorf("decoding %s: %w", payload, err)
	}
	switch m.Type {
	case "ping":
		return "", c.writeAll(clientFrame(0x1, []byte(`{"type":"pong"}`)))
	case "next":
		return m.Payload.Data.NotificationAdded.Kind, nil
	case "connection_ack":
		return m.Type, nil
	default:
		return "", fmt.Errorf("got a %q message: %s", m.Type, payload)
	}
}

// parseServerFrame parses one unmasked, unfragmented server frame at the start
// of b: its opcode, its payload and what follows it, or whole false when b
// holds less than a frame.
func parseServerFrame(b []byte) (opcode byte, payload, rest []byte, whole bool) {
	if len(b) < 2 {
		return 0, nil, b, false
	}
	opcode, size, head := b[0]&0x0f, uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, nil, b, false
		}
		size, head = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, b, false
		}
		size, head = binary.BigEndian.Uint64(b[2:]), 10
	}
	if uint64(len(b)-head) < size {
		return 0, nil, b, false
	}
	end := head + int(size)
	return opcode, b[head:end], b[end:], true
}

// TestFanOutEpollClients checks the benchmark's epoll client on a few
// subscribers: every one receives the broadcast once, timed by the kernel
// between the start of the mutation and the moment its line reached this
// process.
func TestFanOutEpollClients(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const n = 20
		f := newFanOut(t, e, n, clientsInAnotherOne)
		before := time.Now()
		latencies, _ := f.broadcast(t, "Broadcast", 20*time.Second)
		after := time.Since(before)
		if len(latencies) != n {
			t.Fatalf("got %d receipts, want %d", len(latencies), n)
		}
		for _, l := range latencies {
			if l <= 0 || l > after {
				t.Errorf("latency %s: want within (0, %s], the time the broadcast took to reach this process", l, after)
			}
		}
		select { // each one exactly once: nothing more arrives
		case r := <-f.receipts:
			t.Errorf("after everyone had theirs: got %+v, want nothing", r)
		case <-time.After(300 * time.Millisecond):
		}
	})
}
