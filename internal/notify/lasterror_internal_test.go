package notify

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// An error's text is kept as PostgreSQL can store it: valid UTF-8, no NUL
// bytes, at most maxErrorRunes runes; an ordinary error is kept as it is.
func TestErrorTextIsStorable(t *testing.T) {
	long := strings.Repeat("é", 3*maxErrorRunes)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"ordinary", errors.New("notify: Slack answered 500 Internal Server Error"), "notify: Slack answered 500 Internal Server Error"},
		{"a status line that is not UTF-8", errors.New("notify: Slack answered 404 Nicht gefunden \xff\xfe"), "notify: Slack answered 404 Nicht gefunden \uFFFD"},
		{"NUL bytes", errors.New("smtp: 451 \x00try\x00 later"), "smtp: 451 try later"},
		{"a cut multi-byte rune", errors.New("caf\xc3"), "caf\uFFFD"},
		{"exactly the bound", errors.New(long[:2*maxErrorRunes]), long[:2*maxErrorRunes]},
		{"longer than the bound", errors.New(long), strings.Repeat("é", maxErrorRunes-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorText(tt.err)
			if got != tt.want {
				t.Errorf("errorText: got %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) || strings.ContainsRune(got, 0) || utf8.RuneCountInString(got) > maxErrorRunes {
				t.Errorf("errorText: got %d runes, valid UTF-8 %v; want valid UTF-8 without NUL, at most %d runes",
					utf8.RuneCountInString(got), utf8.ValidString(got), maxErrorRunes)
			}
		})
	}
}
