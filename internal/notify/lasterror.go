package notify

import (
	"strings"
	"unicode/utf8"
)

// maxErrorRunes bounds the error text an outbox entry keeps. An error is a
// line or two; anything longer is a remote server's page quoted back.
const maxErrorRunes = 1000

// errorText is err as an outbox entry can keep it in last_error on either
// database: valid UTF-8 without NUL bytes (PostgreSQL refuses both in text;
// a webhook's status line or an SMTP reply can carry them), at most
// maxErrorRunes runes. A text PostgreSQL refused would leave the entry's
// outcome unrecorded, and the entry claimed again and re-sent when its
// lease ran out.
func errorText(err error) string {
	s := strings.ToValidUTF8(err.Error(), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if utf8.RuneCountInString(s) <= maxErrorRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == maxErrorRunes-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
