package validate_test

import (
	"errors"
	"strings"
	"testing"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/validate"
)

// checkInvalid fails unless err is nil when ok, or an Invalid error naming
// field when not.
func checkInvalid(t *testing.T, err error, ok bool, field string) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	if err == nil {
		t.Fatal("got no error, want BAD_USER_INPUT")
	}
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("got %T %v, want *apperr.Error", err, err)
	}
	if ae.Kind != apperr.Invalid {
		t.Errorf("kind: got %s, want %s", ae.Kind, apperr.Invalid)
	}
	if ae.Field != field {
		t.Errorf("field: got %q, want %q", ae.Field, field)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name     string
		s        string
		min, max int
		ok       bool
	}{
		{"empty with min 1", "", 1, 10, false},
		{"spaces only", "   ", 1, 10, false},
		{"tabs and newlines only", "\t\n\r ", 1, 10, false},
		{"one character", "a", 1, 10, true},
		{"exactly max", strings.Repeat("a", 10), 1, 10, true},
		{"max plus one", strings.Repeat("a", 11), 1, 10, false},
		{"multibyte counted as characters", strings.Repeat("é", 10), 1, 10, true},
		{"multibyte over max", strings.Repeat("é", 11), 1, 10, false},
		{"emoji counted as characters", strings.Repeat("🚀", 100), 1, 100, true},
		{"surrounding spaces allowed", " a ", 1, 10, true},
		{"empty with min 0", "", 0, 10, true},
		{"blank with min 0", "  ", 0, 10, true},
		{"invalid UTF-8", "a\xffb", 0, 10, false},
		{"zero-width space only", "\u200b", 1, 10, false},
		{"byte-order mark and spaces only", " \ufeff ", 1, 10, false},
		{"control characters only", "\a\x1b", 1, 10, false},
		{"a letter among zero-width characters", "\u200ba\u200b", 1, 10, true},
		{"zero-width space only, min 0", "\u200b", 0, 10, true},
		{"Hangul filler only", "\u3164", 1, 10, false},
		{"Hangul fillers of other widths and spaces", "\u115f\u1160 \uffa0", 1, 10, false},
		{"braille pattern blank only", "\u2800\u2800", 1, 10, false},
		{"a combining grapheme joiner and a variation selector only", "\u034f\ufe0f", 1, 10, false},
		{"a Hangul word", "\ud55c\uad6d", 1, 10, true},
		{"a Hangul filler beside a letter", "\u3164a", 1, 10, true},
		{"a braille letter", "\u2801", 1, 10, true},
		{"an emoji with its variation selector", "\u2764\ufe0f", 1, 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkInvalid(t, validate.Text("name", tt.s, tt.min, tt.max), tt.ok, "name")
		})
	}
}

func TestEmail(t *testing.T) {
	tests := []struct {
		in, want string // want "" means rejected
	}{
		{"ada@example.com", "ada@example.com"},
		{"Ada@Example.COM", "ada@example.com"},
		{"  ada@example.com  ", "ada@example.com"},
		{"first.last+tag@sub.example.org", "first.last+tag@sub.example.org"},
		{"", ""},
		{"   ", ""},
		{"ada", ""},
		{"ada@", ""},
		{"@example.com", ""},
		{"ada@@example.com", ""},
		{"ada example@example.com", ""},
		{"Ada <ada@example.com>", ""},
		{"<ada@example.com>", ""},
		{"ada@example.com, bob@example.com", ""},
		{`"ada"@example.com`, ""},
		{"ada@example.com\nBcc: eve@example.com", ""},
		{strings.Repeat("a", 250) + "@x.io", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := validate.Email("email", tt.in)
			checkInvalid(t, err, tt.want != "", "email")
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	tests := []struct {
		name string
		s    string
		ok   bool
	}{
		{"empty", "", false},
		{"7 bytes", strings.Repeat("p", 7), false},
		{"8 bytes", strings.Repeat("p", 8), true},
		{"72 bytes", strings.Repeat("p", 72), true},
		{"73 bytes", strings.Repeat("p", 73), false},
		// Bytes, not characters: 4 two-byte runes are 8 bytes; 37 are 74.
		{"4 two-byte characters", strings.Repeat("é", 4), true},
		{"37 two-byte characters", strings.Repeat("é", 37), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkInvalid(t, validate.Password("password", tt.s), tt.ok, "password")
		})
	}
}

func TestSlug(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"acme", true},
		{"a1", true},
		{"0-day", true},
		{"acme-corp-2", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"a", false},
		{"", false},
		{"-acme", false},
		{"Acme", false},
		{"acme_corp", false},
		{"acme corp", false},
		{"acme.corp", false},
		{"acme\n", false},
		{"ácme", false},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			checkInvalid(t, validate.Slug("slug", tt.s), tt.ok, "slug")
		})
	}
}

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		s    string
		ok   bool
	}{
		{"a name", "Rocket launch", true},
		{"letters of any script", "Запуск ракеты 🚀", true},
		{"a line break", "Rocket\nlaunch", false},
		{"a tab", "Rocket\tlaunch", false},
		{"a bell and an escape", "a\u0007b\x1b[31m", false},
		{"a C1 control", "a\u0085b", false},
		{"a line separator", "Rocket\u2028launch", false},
		{"a paragraph separator", "Rocket\u2029launch", false},
		{"blank, as Text", "\u200b", false},
		{"over max, as Text", strings.Repeat("a", 21), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkInvalid(t, validate.Line("name", tt.s, 1, 20), tt.ok, "name")
		})
	}
}
