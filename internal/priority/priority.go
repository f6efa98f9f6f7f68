// Package priority defines task priorities. They are stored as small integers so
// that ordering by priority in SQL follows LOW < MEDIUM < HIGH < URGENT.
package priority

import (
	"fmt"
	"io"
	"strconv"
)

// Priority of a task. The zero value is not a priority.
type Priority int8

// The priorities, lowest first.
const (
	Low Priority = iota + 1
	Medium
	High
	Urgent
)

var names = map[Priority]string{Low: "LOW", Medium: "MEDIUM", High: "HIGH", Urgent: "URGENT"}

// String returns the GraphQL name of p.
func (p Priority) String() string {
	if n, ok := names[p]; ok {
		return n
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// Parse returns the priority named s.
func Parse(s string) (Priority, error) {
	for p, n := range names {
		if n == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%q is not a valid TaskPriority", s)
}

// MarshalGQL writes p as a GraphQL enum value.
func (p Priority) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(p.String())) }

// UnmarshalGQL reads a GraphQL enum value.
func (p *Priority) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%v is not a valid TaskPriority", v)
	}
	parsed, err := Parse(s)
	if err != nil {
		return err
	}
	*p = parsed
	return nil
}
