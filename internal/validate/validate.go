// Package validate checks user input and answers with Invalid errors that
// name the offending field.
package validate

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"tenantgraph/internal/apperr"
)

// Text checks that s is valid UTF-8 with between min and max characters
// and, when min > 0, is not blank: not only white space and characters
// that show nothing (format characters such as U+200B ZERO WIDTH SPACE and
// U+FEFF, control characters, the Hangul fillers, U+2800 BRAILLE PATTERN
// BLANK: see blank), which a list would show as an empty name. It returns
// an Invalid error naming field.
func Text(field, s string, min, max int) error {
	if !utf8.ValidString(s) {
		return apperr.InvalidField(field, "must be valid UTF-8")
	}
	n := utf8.RuneCountInString(s)
	if n > max {
		return apperr.InvalidField(field, "must be at most %d characters, got %d", max, n)
	}
	if n < min || (min > 0 && blank(s)) {
		if min == 1 {
			return apperr.InvalidField(field, "must not be empty or blank")
		}
		return apperr.InvalidField(field, "must be at least %d characters and not blank", min)
	}
	return nil
}

// Line is Text for a value of one line (a name, a title), which also may
// not hold a line break (a control character such as \n, or U+2028 and
// U+2029, Unicode's line and paragraph separators) or a tab, which would
// break the lines of a list, a log or a Slack message, nor another control
// character, such as an escape or a bell, which shows as nothing or as a
// terminal's command.
func Line(field, s string, min, max int) error {
	if err := Text(field, s, min, max); err != nil {
		return err
	}
	if i := strings.IndexFunc(s, breaksLine); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return apperr.InvalidField(field, "must be one line without control characters or line breaks, got %U", r)
	}
	return nil
}

// breaksLine reports whether r is a control character or a line or
// paragraph separator.
func breaksLine(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp)
}

// blank reports whether s shows nothing: it has only white space, format
// and control characters, and characters that fonts draw as nothing:
// Unicode's other default-ignorable code points (the Hangul fillers such
// as U+3164, which are letters by category and were used for names that
// look empty, U+034F COMBINING GRAPHEME JOINER…), the variation selectors,
// and U+2800 BRAILLE PATTERN BLANK.
func blank(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !showsNothing(r) })
}

// showsNothing reports whether r is one of the characters blank allows.
func showsNothing(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2800' ||
		unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// Email normalises an address to lower case and checks its form.
func Email(field, s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if len(e) == 0 || len(e) > 254 {
		return "", apperr.InvalidField(field, "must be an email address of at most 254 characters")
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" {
		return "", apperr.InvalidField(field, "must be a plain email address such as ada@example.com")
	}
	return e, nil
}

// Password checks length in bytes: bcrypt ignores everything past 72.
func Password(field, s string) error {
	if len(s) < 8 || len(s) > 72 {
		return apperr.InvalidField(field, "must be 8 to 72 bytes, got %d", len(s))
	}
	return nil
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// Slug checks a tenant slug against ^[a-z0-9][a-z0-9-]{1,62}$.
func Slug(field, s string) error {
	if !slugPattern.MatchString(s) {
		return apperr.InvalidField(field, "must match ^[a-z0-9][a-z0-9-]{1,62}$ (lower-case letters, digits and dashes, 2 to 63 long)")
	}
	return nil
}
