package jsonenc

import (
	"bytes"
	"testing"
)

// <, > and & stay as written, nothing follows the value, and a value that
// does not encode leaves the buffer as it was.
func TestAppendAndMarshal(t *testing.T) {
	got, err := Marshal(map[string]string{"message": "Bearer <token> & more"})
	if want := `{"message":"Bearer <token> & more"}`; err != nil || string(got) != want {
		t.Errorf("Marshal: got %s, %v; want %s", got, err, want)
	}
	b := bytes.NewBufferString("head:")
	if err := Append(b, func() {}); err == nil || b.String() != "head:" {
		t.Errorf("Append of a func: got %v and %q, want an error and the buffer untouched", err, b.String())
	}
}
