package graph

// Validation messages that would quote a client's value. gqlparser's
// messages for a value of the wrong type end with the value as written, so
// a password sent unquoted (password: hunter2) came back in "String cannot
// represent a non string value: hunter2", to the client and into whatever
// logs the response on the way. The error presenter keeps what such a
// message says of the type and drops the value.

import (
	"regexp"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// enumSuggestion is the "did you mean" that gqlparser appends to an enum
// value's message: enum names, which the client's value cannot spell once
// quoted (it ends the message with `".` or a name).
const enumSuggestion = `( Did you mean the enum value (?:"\w+"(?:, or |, | or ))*"\w+"\?)?`

// valueMessages rewrite the messages of gqlparser's ValuesOfCorrectType rule
// (validator/rules/values_of_correct_type.go), tried in order: a message
// that quotes no value is kept (with ""), one that does loses the value; a
// message none matches, which a later gqlparser may write, is replaced
// whole (unknownValueMessage).
var valueMessages = []struct {
	re   *regexp.Regexp
	with string
}{
	// Without a value, as they are.
	{regexp.MustCompile(`^Expected value of type "[^"]*", found null\.$`), ""},
	{regexp.MustCompile(`^Field "[^"]*" of required type "[^"]*" was not provided\.$`), ""},
	{regexp.MustCompile(`^Field "[^"]*" (?:must be non-null|is not defined by type "[^"]*")\.(?: Did you mean .*\?)?$`), ""},
	{regexp.MustCompile(`^OneOf Input Object "[^"]*" must specify exactly one key\.$`), ""},
	// With one, dropped.
	{regexp.MustCompile(`^(Expected value of type "[^"]*"), found (?s:.*)\.$`), "$1."},
	{regexp.MustCompile(`^(Int cannot represent non 32-bit signed integer value|Int cannot represent non-integer value|` +
		`String cannot represent a non string value|Boolean cannot represent a non boolean value|` +
		`Float cannot represent non numeric value|ID cannot represent a non-string and non-integer value): (?s:.*)$`), "$1"},
	{regexp.MustCompile(`^(Enum "[^"]*" cannot represent non-enum value): (?s:.*)\.` + enumSuggestion + `$`), "$1.$2"},
	{regexp.MustCompile(`^Value "[^"]*" does not exist in ("[^"]*") enum\.` + enumSuggestion + `$`), "Value does not exist in $1 enum.$2"},
}

const unknownValueMessage = "a value is not of the type expected here"

// variableEnumMessage is the validator's message for a variable whose value
// is no value of its enum: "<value> is not a valid <enum>".
var variableEnumMessage = regexp.MustCompile(`^(?s:.*) is not a valid (\w+)$`)

// withoutValue drops the client's value from e's message if e is the
// validator's complaint about a value's type.
func withoutValue(e *gqlerror.Error) {
	switch {
	case e.Rule == rules.ValuesOfCorrectTypeRule.Name || e.Rule == rules.ValuesOfCorrectTypeRuleWithoutSuggestions.Name:
		for _, m := range valueMessages {
			if m.re.MatchString(e.Message) {
				if m.with != "" {
					e.Message = m.re.ReplaceAllString(e.Message, m.with)
				}
				return
			}
		}
		e.Message = unknownValueMessage
	case len(e.Path) > 1 && e.Path[0] == ast.PathName("variable") && variableEnumMessage.MatchString(e.Message):
		e.Message = variableEnumMessage.ReplaceAllString(e.Message, "not a valid $1")
	}
}
