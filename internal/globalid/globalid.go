// Package globalid encodes the integer IDs of the data layer as opaque GraphQL
// IDs and decodes them back, rejecting anything that is not one.
package globalid

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

const prefix = "gid:"

// ErrMalformed is returned for a string that is not an ID this server issued.
var ErrMalformed = errors.New("malformed ID")

// Encode returns the opaque form of id.
func Encode(id int) string {
	var buf [32]byte
	return string(Append(buf[:0], id))
}

// Append appends the opaque form of id to dst, as Encode returns it,
// without allocating when dst has room.
func Append(dst []byte, id int) []byte {
	var raw [len(prefix) + 20]byte // the prefix and any int's digits
	plain := strconv.AppendInt(append(raw[:0], prefix...), int64(id), 10)
	return base64.RawURLEncoding.AppendEncode(dst, plain)
}

// Decode returns the integer behind an opaque ID, or ErrMalformed.
func Decode(s string) (int, error) {
	if s == "" || len(s) > 32 {
		return 0, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, ErrMalformed
	}
	digits, ok := strings.CutPrefix(string(raw), prefix)
	if !ok || digits == "" || digits[0] == '0' || digits[0] == '+' || digits[0] == '-' {
		return 0, ErrMalformed
	}
	id, err := strconv.Atoi(digits)
	if err != nil || id <= 0 {
		return 0, ErrMalformed
	}
	// The decoder tolerates spare non-zero bits in the last character and
	// embedded CR/LF, so several strings decode to one ID: accept only the
	// one Encode produces, so that every ID has exactly one spelling.
	if Encode(id) != s {
		return 0, ErrMalformed
	}
	return id, nil
}
