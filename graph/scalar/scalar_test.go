package scalar

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

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
