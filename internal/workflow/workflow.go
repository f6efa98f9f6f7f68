// Package workflow defines the project approval workflow as a declarative
// transition table: one row per allowed (from, to) pair with the least role
// that may take it. Every decision about a status change is a table lookup.
package workflow

import (
	"fmt"
	"io"
	"strconv"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/role"
)

// Status is where a project stands in the workflow.
type Status string

// The statuses.
const (
	Draft     Status = "DRAFT"
	Submitted Status = "SUBMITTED"
	Approved  Status = "APPROVED"
	Rejected  Status = "REJECTED"
	Active    Status = "ACTIVE"
	Completed Status = "COMPLETED"
	Archived  Status = "ARCHIVED"
)

// Statuses lists every status in workflow order.
var Statuses = []Status{Draft, Submitted, Approved, Rejected, Active, Completed, Archived}

// Initial is the status of a new project.
const Initial = Draft

// Transition is one row of the table.
type Transition struct {
	From    Status
	To      Status
	MinRole role.Role
}

// Table is the whole workflow. Order is the order clients see.
var Table = []Transition{
	{Draft, Submitted, role.Member},
	{Submitted, Draft, role.Member},
	{Submitted, Approved, role.Manager},
	{Submitted, Rejected, role.Manager},
	{Rejected, Draft, role.Member},
	{Approved, Active, role.Manager},
	{Active, Completed, role.Manager},
	{Draft, Archived, role.Manager},
	{Rejected, Archived, role.Manager},
	{Completed, Archived, role.Manager},
	{Archived, Draft, role.Owner},
}

type pair struct{ from, to Status }

var index = func() map[pair]Transition {
	m := make(map[pair]Transition, len(Table))
	for _, t := range Table {
		m[pair{t.From, t.To}] = t
	}
	return m
}()

// leastRole is the lowest MinRole of any row: below it, a caller may take no
// transition at all.
var leastRole = func() role.Role {
	least := role.Owner
	for _, t := range Table {
		if !t.MinRole.AtLeast(least) {
			least = t.MinRole
		}
	}
	return least
}()

// Lookup returns the row for (from, to), if the table has one.
func Lookup(from, to Status) (Transition, bool) {
	t, ok := index[pair{from, to}]
	return t, ok
}

// Check decides whether a caller with role r may move a project from one
// status to another. It returns a Forbidden error for a role below every row,
// an InvalidTransition error for a pair the table lacks, and a Forbidden error
// for a role below the row's.
func Check(from, to Status, r role.Role) error {
	if !r.AtLeast(leastRole) {
		return apperr.New(apperr.Forbidden, "role %s may not change a project's status", roleName(r))
	}
	t, ok := Lookup(from, to)
	if !ok {
		return apperr.New(apperr.InvalidTransition, "a project cannot move from %s to %s", from, to)
	}
	if !r.AtLeast(t.MinRole) {
		return apperr.New(apperr.Forbidden, "moving a project from %s to %s needs role %s or above", from, to, t.MinRole)
	}
	return nil
}

// Available returns the statuses a caller with role r may move a project in
// status from to, in table order.
func Available(from Status, r role.Role) []Status {
	out := []Status{}
	for _, t := range Table {
		if t.From == from && r.AtLeast(t.MinRole) {
			out = append(out, t.To)
		}
	}
	return out
}

// ReadOnly reports whether a project in status s accepts no edits, tasks or
// comments.
func ReadOnly(s Status) bool { return s == Archived }

func roleName(r role.Role) string {
	if r == "" {
		return "none"
	}
	return string(r)
}

// Values lets ent store Status as an enum column.
func (Status) Values() []string {
	out := make([]string, len(Statuses))
	for i, s := range Statuses {
		out[i] = string(s)
	}
	return out
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if v == s {
			return true
		}
	}
	return false
}

// MarshalGQL writes s as a GraphQL enum value.
func (s Status) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(s))) }

// UnmarshalGQL reads a GraphQL enum value.
func (s *Status) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok || !Status(str).Valid() {
		return fmt.Errorf("%v is not a valid ProjectStatus", v)
	}
	*s = Status(str)
	return nil
}
