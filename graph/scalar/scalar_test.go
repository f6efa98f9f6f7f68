package scalar

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"tenantgraph/internal/globalid"
)

// TestMarshalID: an ID is written as the JSON string of its opaque form.
func TestMarshalID(t *testing.T) {
	for _, id := range []int{1, 255, 256, 17179869185, math.MaxInt64} {
		var b bytes.Buffer
		MarshalID(id).MarshalGQL(&b)
		var s string
		if err := json.Unmarshal(b.Bytes(), &s); err != nil {
			t.Fatalf("MarshalID(%d) wrote %s, not a JSON string: %v", id, b.String(), err)
		}
		if want := globalid.Encode(id); s != want {
			t.Errorf("MarshalID(%d): got %q, want %q", id, s, want)
		}
		if got, err := UnmarshalID(s); err != nil || got != id {
			t.Errorf("UnmarshalID(%q): got %d, %v; want %d", s, got, err, id)
		}
	}
}

// writerOnly hides a buffer's other methods, as a writer other than the
// executor's bytes.Buffer would.
type writerOnly struct{ b *bytes.Buffer }

func (w writerOnly) Write(p []byte) (int, error) { return w.b.Write(p) }

// TestMarshalTime: the same bytes as gqlgen's graphql.MarshalTime, into the
// executor's buffer or any writer, and null for the zero time.
func TestMarshalTime(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 12, 1, 2, 3, 4, 0, time.UTC),
		time.Date(2026, 12, 1, 2, 3, 4, 123456789, time.UTC),
		time.Date(1999, 1, 2, 3, 4, 5, 600, time.FixedZone("", -7*3600-30*60)),
	}
	for _, tm := range times {
		var want, got, other bytes.Buffer
		graphql.MarshalTime(tm).MarshalGQL(&want)
		MarshalTime(tm).MarshalGQL(&got)
		MarshalTime(tm).MarshalGQL(writerOnly{&other})
		if got.String() != want.String() || other.String() != want.String() {
			t.Errorf("%v: got %s and %s, want %s", tm, got.String(), other.String(), want.String())
		}
		back, err := UnmarshalTime(strings.Trim(want.String(), `"`))
		if err != nil || !back.Equal(tm) {
			t.Errorf("UnmarshalTime(%s): got %v, %v; want %v", want.String(), back, err, tm)
		}
	}
	if MarshalTime(time.Time{}) != graphql.Null {
		t.Error("the zero time: want null")
	}
}

// TestUnmarshalTimeInUTC: a time with any offset is read as the same
// instant in UTC.
func TestUnmarshalTimeInUTC(t *testing.T) {
	want := time.Date(2029, 12, 31, 19, 0, 0, 500, time.UTC)
	for _, s := range []string{"2029-12-31T19:00:00.0000005Z", "2030-01-01T00:00:00.0000005+05:00", "2029-12-31T14:00:00.0000005-05:00"} {
		got, err := UnmarshalTime(s)
		if err != nil || got != want {
			t.Errorf("UnmarshalTime(%s): got %v, %v; want %v", s, got, err, want)
		}
	}
}

// TestMarshalIDAnyWriter: an ID is written the same to a writer that is not
// the executor's buffer.
func TestMarshalIDAnyWriter(t *testing.T) {
	var a, b bytes.Buffer
	MarshalID(17179869185).MarshalGQL(&a)
	MarshalID(17179869185).MarshalGQL(writerOnly{&b})
	if a.String() != b.String() {
		t.Errorf("got %s and %s, want them equal", a.String(), b.String())
	}
}
