package globalid_test

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"testing"

	"tenantgraph/internal/globalid"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestRoundTrip(t *testing.T) {
	for _, id := range []int{1, 2, 9, 10, 42, 1 << 32, 3<<32 + 17, math.MaxInt32, math.MaxInt64} {
		t.Run(strconv.Itoa(id), func(t *testing.T) {
			s := globalid.Encode(id)
			got, err := globalid.Decode(s)
			if err != nil {
				t.Fatalf("Decode(%q): %v", s, err)
			}
			if got != id {
				t.Fatalf("got %d, want %d", got, id)
			}
		})
	}
}

func TestEncodeIsOpaqueAndURLSafe(t *testing.T) {
	s := globalid.Encode(1234)
	if s == "1234" {
		t.Fatalf("got %q, want an opaque ID", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			t.Fatalf("Encode(1234) = %q contains %q: want base64url without padding", s, r)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := globalid.Encode(1)
	tests := []struct{ name, s string }{
		{"empty", ""},
		{"punctuation", "!!!"},
		{"plain number", "42"},
		{"base64 of other text", b64("hello world")},
		{"base64 of a bare number", b64("42")},
		{"wrong prefix", b64("uid:42")},
		{"prefix only", b64("gid:")},
		{"zero", b64("gid:0")},
		{"leading zero", b64("gid:042")},
		{"negative", b64("gid:-1")},
		{"plus sign", b64("gid:+1")},
		{"letters", b64("gid:12a")},
		{"space", b64("gid: 1")},
		{"trailing newline", b64("gid:1\n")},
		{"fraction", b64("gid:1.5")},
		{"overflow", b64("gid:99999999999999999999")},
		{"standard base64 padding", base64.URLEncoding.EncodeToString([]byte("gid:1"))},
		{"standard alphabet", base64.StdEncoding.EncodeToString([]byte("gid:1023"))},
		{"too long", b64("gid:1" + "0000000000000000000000000")},
		{"valid with junk appended", valid + "!"},
		{"valid with whitespace", " " + valid},
		{"valid with embedded newline", valid[:2] + "\n" + valid[2:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := globalid.Decode(tt.s)
			if !errors.Is(err, globalid.ErrMalformed) {
				t.Fatalf("Decode(%q) = (%d, %v), want ErrMalformed", tt.s, id, err)
			}
		})
	}
}

// An ID has exactly one accepted spelling: a second one would let a client
// dodge caches, rate limits or audit matching keyed on the ID string.
func TestDecodeAcceptsOnlyCanonicalForm(t *testing.T) {
	canonical := globalid.Encode(1) // "gid:1" is 5 bytes: the last character carries 2 spare bits
	last := canonical[len(canonical)-1]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range alphabet {
		c := alphabet[i]
		if c == last {
			continue
		}
		s := canonical[:len(canonical)-1] + string(c)
		id, err := globalid.Decode(s)
		if err == nil && globalid.Encode(id) != s {
			t.Errorf("Decode(%q) = %d: got a second spelling of %q accepted, want ErrMalformed", s, id, globalid.Encode(id))
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"", "!!!", "42", "gid:1", b64("gid:1"), b64("gid:0"), b64("gid:-1"), b64("gid:+1"), b64("gid:007"),
		b64("hello world"), b64("gid:99999999999999999999"),
		globalid.Encode(1), globalid.Encode(1 << 32), globalid.Encode(math.MaxInt64),
		globalid.Encode(1)[:3] + "\n" + globalid.Encode(1)[3:],
		base64.URLEncoding.EncodeToString([]byte("gid:1")),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := globalid.Decode(s) // must not panic
		if err != nil {
			if !errors.Is(err, globalid.ErrMalformed) {
				t.Fatalf("Decode(%q): got error %v, want ErrMalformed", s, err)
			}
			if id != 0 {
				t.Fatalf("Decode(%q): got %d with an error, want 0", s, id)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("Decode(%q) = %d: want a positive ID", s, id)
		}
		if enc := globalid.Encode(id); enc != s {
			t.Fatalf("Decode(%q) = %d, but Encode(%d) = %q: an accepted ID must round-trip", s, id, id, enc)
		}
	})
}
