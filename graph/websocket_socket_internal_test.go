package graph

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

// recordingConn is a connection that keeps what is written to it, one
// entry per Write.
type recordingConn struct {
	net.Conn
	writes [][]byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

// serverFrame is an unmasked final text frame carrying payload.
func serverFrame(payload []byte) []byte {
	var h []byte
	switch n := len(payload); {
	case n <= 125:
		h = []byte{0x81, byte(n)}
	case n <= 0xffff:
		h = binary.BigEndian.AppendUint16([]byte{0x81, 126}, uint16(n))
	default:
		h = binary.BigEndian.AppendUint64([]byte{0x81, 127}, uint64(n))
	}
	return append(h, payload...)
}

// Frames written as coder/websocket writes them (the header, the payload,
// a flush, through a buffer of wsWriteBuffer bytes) reach the connection
// whole and in order, whatever their length: a frame longer than the
// buffer as its first bytes and the rest, gathered into one write (on a
// TCP connection, one writev; here, whose connection has no writev, the
// two pieces one after the other, and nothing between them).
func TestWriteDeadlineGathersFrames(t *testing.T) {
	conn := &recordingConn{}
	w := &writeDeadline{Conn: conn}
	bw := bufio.NewWriterSize(w, wsWriteBuffer)
	var want []byte
	for _, n := range []int{0, 5, 13, 14, 15, 16, 17, 100, 125, 126, 400, 1000, 65535, 65536, 70000} {
		frame := serverFrame(bytes.Repeat([]byte{byte('a' + n%26)}, n))
		want = append(want, frame...)
		before := len(conn.writes)
		header := len(frame) - n
		if _, err := bw.Write(frame[:header]); err != nil {
			t.Fatal(err)
		}
		if _, err := bw.Write(frame[header:]); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		got := bytes.Join(conn.writes[before:], nil)
		if !bytes.Equal(got, frame) {
			t.Fatalf("payload of %d bytes: the connection got %d bytes, want the frame's %d", n, len(got), len(frame))
		}
		pieces := len(conn.writes) - before
		if len(frame) <= wsWriteBuffer && pieces != 1 || len(frame) > wsWriteBuffer && pieces != 2 {
			t.Errorf("payload of %d bytes: %d writes, want the frame in one write (two pieces gathered past %d bytes)", n, pieces, wsWriteBuffer)
		}
		if w.held != 0 {
			t.Fatalf("payload of %d bytes: %d bytes still held after the frame", n, w.held)
		}
	}
	if got := bytes.Join(conn.writes, nil); !bytes.Equal(got, want) {
		t.Fatal("the stream differs from the frames written")
	}

	// Pieces not as expected go out as they are, in order, and only a
	// frame's start is ever held: the stream's frames are followed through
	// them.
	long, short := serverFrame(bytes.Repeat([]byte("x"), 100)), serverFrame([]byte("pong"))
	for _, tc := range []struct {
		name   string
		pieces [][]byte
	}{
		{"a frame in three pieces", [][]byte{long[:16], long[16:50], long[50:]}},
		{"a frame, the end in a small piece", [][]byte{long[:16], long[16:95], long[95:]}},
		{"two frames in one piece, then one", [][]byte{append(bytes.Clone(short), short...), long[:16], long[16:]}},
		{"a frame's end and the next's start in one piece", [][]byte{long[:16], append(bytes.Clone(long[16:]), long[:16]...), long[16:]}},
	} {
		conn.writes = nil
		var want []byte
		for _, p := range tc.pieces {
			want = append(want, p...)
			if n, err := w.Write(p); n != len(p) || err != nil {
				t.Fatalf("%s: Write: %d, %v", tc.name, n, err)
			}
		}
		if got := bytes.Join(conn.writes, nil); !bytes.Equal(got, want) || w.held != 0 || w.rest != 0 || w.lost {
			t.Fatalf("%s: got %d bytes (held %d, %d to come, lost %v), want the %d written", tc.name, len(got), w.held, w.rest, w.lost, len(want))
		}
	}
	// A header cut in two: the frames are no longer followed, and nothing
	// is held from then on.
	conn.writes = nil
	for _, p := range [][]byte{long[:1], long[1:16], long[16:], short} {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if w.held != 0 {
			t.Fatalf("after a cut header, %d bytes held", w.held)
		}
	}
	if !w.lost || len(conn.writes) != 4 {
		t.Fatalf("after a cut header: lost %v, %d writes; want lost, and each piece written as it came", w.lost, len(conn.writes))
	}
}
