package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// The close codes of graphql-transport-ws (the protocol of the graphql-ws
// library) for a client that breaks the protocol. The graphql-ws client
// reports them to the application and does not reconnect after them.
const (
	closeBadRequest        = 4400 // a message that is not a valid client message
	closeUnauthorized      = 4401 // subscribe before connection_init
	closeInitTimeout       = 4408 // no connection_init in time
	closeSubscriberExists  = 4409 // subscribe with the id of a running subscription
	closeTooManyInitialise = 4429 // a second connection_init
)

var errProtocol = errors.New("graphql-transport-ws protocol violation")

// protocolConn holds a graphql-transport-ws client to the protocol and closes
// the socket with the code the protocol names when it breaks it. gqlgen's
// transport would close with 1000 "terminated" after a message it cannot
// decode and 1002 after an unexpected one. Worse, it accepts a subscribe
// whose id is already running and loses the first subscription's handle,
// so that a complete for the id can no longer stop it. Every message
// passes through NextReader before gqlgen reads it, and every server
// message through WriteJSON, which is where a subscription's end shows.
// Other subprotocols (the legacy graphql-ws) pass through unchecked.
//
// It also keeps the connection alive, on timers rather than a goroutine of
// its own (gqlgen's keep-alive holds one per connection): every
// pingInterval it sends a ping, and if nothing at all came from the client
// since the previous ping, it takes the peer for gone and closes the
// socket. graphql-ws clients answer pings with pongs by themselves.
type protocolConn struct {
	*boundedConn
	checked bool // the subprotocol is graphql-transport-ws

	mu           sync.Mutex
	initSeen     bool
	running      map[string]struct{} // subscribe ids not yet completed or failed
	timer        *time.Timer         // connection_init's deadline
	pinger       *time.Timer
	pingInterval time.Duration
	heard        bool // a message arrived since the last ping
	closed       bool
}

func newProtocolConn(c *boundedConn, initTimeout, pingInterval time.Duration) *protocolConn {
	p := &protocolConn{boundedConn: c, running: map[string]struct{}{}, pingInterval: pingInterval, heard: true}
	if p.checked = c.Subprotocol() == "graphql-transport-ws"; !p.checked {
		return p
	}
	if initTimeout > 0 {
		p.timer = time.AfterFunc(initTimeout, func() {
			p.mu.Lock()
			late := !p.initSeen
			p.mu.Unlock()
			if late {
				_ = p.WriteClose(closeInitTimeout, "Connection initialisation timeout")
			}
		})
	}
	if pingInterval > 0 {
		p.mu.Lock() // ping reads pinger under the lock
		p.pinger = time.AfterFunc(pingInterval, p.ping)
		p.mu.Unlock()
	}
	return p
}

var pingMessage = json.RawMessage(`{"type":"ping"}`)

// ping runs every pingInterval: it closes a connection that has been silent
// since the last ping and pings one that has not.
func (p *protocolConn) ping() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	alive := p.heard
	p.heard = false
	if alive {
		p.pinger.Reset(p.pingInterval)
	}
	p.mu.Unlock()
	if !alive {
		_ = p.Close() // the read fails and gqlgen ends the connection
		return
	}
	_ = p.boundedConn.WriteJSON(pingMessage)
}

// clientMessage is what NextReader checks of a client's message.
type clientMessage struct {
	Type    *string         `json:"type"`
	ID      *string         `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func (p *protocolConn) NextReader() (int, io.Reader, error) {
	kind, r, err := p.boundedConn.NextReader()
	if err != nil || !p.checked {
		return kind, r, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return kind, nil, err
	}
	if code, reason := p.check(data); code != 0 {
		_ = p.WriteClose(code, reason)
		return kind, nil, errProtocol
	}
	return kind, bytes.NewReader(data), nil
}

// check returns the close code and reason for a message that breaks the
// protocol, or 0, and records what a valid message changes.
func (p *protocolConn) check(data []byte) (int, string) {
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Type == nil {
		return closeBadRequest, "Invalid message received"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.heard = true // the client is alive (an invalid message closes the socket anyway)
	switch *m.Type {
	case "connection_init":
		if p.initSeen {
			return closeTooManyInitialise, "Too many initialisation requests"
		}
		if !isAbsentOrObject(m.Payload) {
			return closeBadRequest, "Invalid message received"
		}
		p.initSeen = true
		if p.timer != nil {
			p.timer.Stop()
		}
	case "subscribe":
		if m.ID == nil || *m.ID == "" || !isJSONObject(m.Payload) {
			return closeBadRequest, "Invalid message received"
		}
		if !p.initSeen {
			return closeUnauthorized, "Unauthorized"
		}
		if _, ok := p.running[*m.ID]; ok {
			return closeSubscriberExists, "Subscriber for " + shortened(*m.ID, 64) + " already exists"
		}
		p.running[*m.ID] = struct{}{}
	case "complete":
		if m.ID == nil || *m.ID == "" {
			return closeBadRequest, "Invalid message received"
		}
		delete(p.running, *m.ID)
	case "ping", "pong":
	default:
		return closeBadRequest, "Invalid message received"
	}
	return 0, ""
}

// WriteJSON frees a subscription's id when the server ends it: "complete",
// or "error", which ends an operation in graphql-transport-ws. The message is
// gqlgen's unexported struct, read here by its exported Type and ID fields
// (TestWebsocketProtocolErrors reuses an ended id, so a gqlgen upgrade that
// renamed them would fail it).
func (p *protocolConn) WriteJSON(v any) error {
	if p.checked {
		if typ, id, ok := typeAndID(v); ok && (typ == "complete" || typ == "error") {
			p.mu.Lock()
			delete(p.running, id)
			p.mu.Unlock()
		}
	}
	return p.boundedConn.WriteJSON(v)
}

func (p *protocolConn) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.pinger != nil {
		p.pinger.Stop()
	}
	return p.boundedConn.Close()
}

func typeAndID(v any) (typ, id string, ok bool) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return "", "", false
	}
	t, i := rv.FieldByName("Type"), rv.FieldByName("ID")
	if !t.IsValid() || !i.IsValid() || t.Kind() != reflect.String || i.Kind() != reflect.String {
		return "", "", false
	}
	return t.String(), i.String(), true
}

// shortened cuts s to at most n bytes on a rune boundary: a close frame's
// reason may not exceed 123 bytes (coder/websocket would send 1011 instead),
// and the id in it is the client's.
func shortened(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// isAbsentOrObject accepts the optional payload of connection_init: absent,
// null, or an object.
func isAbsentOrObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null")) || isJSONObject(t)
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}

var _ transport.WebsocketConn = (*protocolConn)(nil)
