package workflow_test

import (
	"bytes"
	"slices"
	"testing"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/role"
	"tenantgraph/internal/workflow"
)

// issueTable is the workflow table exactly as issue 2 states it, row for row
// and in the same order. Every expectation below is derived from it, never
// from workflow.Table, so a change to the table fails here first.
var issueTable = []struct {
	from, to string
	least    role.Role
}{
	{"DRAFT", "SUBMITTED", role.Member},
	{"SUBMITTED", "DRAFT", role.Member},
	{"SUBMITTED", "APPROVED", role.Manager},
	{"SUBMITTED", "REJECTED", role.Manager},
	{"REJECTED", "DRAFT", role.Member},
	{"APPROVED", "ACTIVE", role.Manager},
	{"ACTIVE", "COMPLETED", role.Manager},
	{"DRAFT", "ARCHIVED", role.Manager},
	{"REJECTED", "ARCHIVED", role.Manager},
	{"COMPLETED", "ARCHIVED", role.Manager},
	{"ARCHIVED", "DRAFT", role.Owner},
}

var allStatuses = []workflow.Status{"DRAFT", "SUBMITTED", "APPROVED", "REJECTED", "ACTIVE", "COMPLETED", "ARCHIVED"}

// callerRoles are the four roles, no role (a non-member) and a value that is
// no role at all, which must be treated like no role.
var callerRoles = []role.Role{role.Owner, role.Manager, role.Member, role.Viewer, "", "ADMIN"}

// issueRow returns the least role of (from, to) in the issue's table.
func issueRow(from, to workflow.Status) (role.Role, bool) {
	for _, r := range issueTable {
		if r.from == string(from) && r.to == string(to) {
			return r.least, true
		}
	}
	return "", false
}

// rank orders the roles as the issue's ladder does; 0 is no role.
func rank(r role.Role) int {
	return map[role.Role]int{role.Viewer: 1, role.Member: 2, role.Manager: 3, role.Owner: 4}[r]
}

// wantCheck is what Check must answer: "" for allowed, else the error kind.
func wantCheck(from, to workflow.Status, r role.Role) apperr.Kind {
	if rank(r) < rank(role.Member) { // below MEMBER, the least role of any row
		return apperr.Forbidden
	}
	least, ok := issueRow(from, to)
	if !ok {
		return apperr.InvalidTransition
	}
	if rank(r) < rank(least) {
		return apperr.Forbidden
	}
	return ""
}

func TestTableIsTheIssueTable(t *testing.T) {
	if len(workflow.Table) != len(issueTable) {
		t.Fatalf("got %d rows, want %d", len(workflow.Table), len(issueTable))
	}
	for i, want := range issueTable {
		got := workflow.Table[i]
		if string(got.From) != want.from || string(got.To) != want.to || got.MinRole != want.least {
			t.Errorf("row %d: got %s -> %s (%s), want %s -> %s (%s)", i, got.From, got.To, got.MinRole, want.from, want.to, want.least)
		}
	}
}

func TestTableHasNoDuplicatePairs(t *testing.T) {
	seen := map[[2]workflow.Status]int{}
	for i, row := range workflow.Table {
		key := [2]workflow.Status{row.From, row.To}
		if j, dup := seen[key]; dup {
			t.Errorf("rows %d and %d both hold %s -> %s", j, i, row.From, row.To)
		}
		seen[key] = i
	}
}

func TestTableUsesKnownStatusesAndRoles(t *testing.T) {
	for _, row := range workflow.Table {
		if !row.From.Valid() || !row.To.Valid() {
			t.Errorf("row %s -> %s: got an unknown status", row.From, row.To)
		}
		if !row.MinRole.Valid() {
			t.Errorf("row %s -> %s: got role %q, want one of %v", row.From, row.To, row.MinRole, role.All)
		}
		if row.From == row.To {
			t.Errorf("row %s -> %s: got a transition to the same status", row.From, row.To)
		}
	}
}

func TestStatuses(t *testing.T) {
	if !slices.Equal(workflow.Statuses, allStatuses) {
		t.Errorf("Statuses: got %v, want %v", workflow.Statuses, allStatuses)
	}
	if workflow.Initial != "DRAFT" {
		t.Errorf("Initial: got %s, want DRAFT", workflow.Initial)
	}
	for _, s := range allStatuses {
		if got, want := workflow.ReadOnly(s), s == "ARCHIVED"; got != want {
			t.Errorf("ReadOnly(%s): got %v, want %v", s, got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				wantRole, wantOK := issueRow(from, to)
				got, ok := workflow.Lookup(from, to)
				if ok != wantOK {
					t.Fatalf("found: got %v, want %v", ok, wantOK)
				}
				if !ok {
					return
				}
				if got.From != from || got.To != to || got.MinRole != wantRole {
					t.Errorf("got %s -> %s (%s), want %s -> %s (%s)", got.From, got.To, got.MinRole, from, to, wantRole)
				}
			})
		}
	}
}

// TestCheck iterates every (from, to) pair of the seven statuses for every
// role, no role, and a bogus role.
func TestCheck(t *testing.T) {
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			for _, r := range callerRoles {
				name := string(from) + "->" + string(to) + "/" + string(r)
				if r == "" {
					name += "none"
				}
				t.Run(name, func(t *testing.T) {
					want := wantCheck(from, to, r)
					err := workflow.Check(from, to, r)
					if want == "" {
						if err != nil {
							t.Fatalf("got %v, want nil", err)
						}
						return
					}
					if err == nil {
						t.Fatalf("got nil, want %s", want)
					}
					if got := apperr.KindOf(err); got != want {
						t.Errorf("got %s (%v), want %s", got, err, want)
					}
				})
			}
		}
	}
}

func TestAvailable(t *testing.T) {
	for _, from := range allStatuses {
		for _, r := range callerRoles {
			name := string(from) + "/" + string(r)
			if r == "" {
				name += "none"
			}
			t.Run(name, func(t *testing.T) {
				want := []workflow.Status{}
				for _, row := range issueTable { // table order
					if row.from == string(from) && rank(r) >= rank(row.least) {
						want = append(want, workflow.Status(row.to))
					}
				}
				got := workflow.Available(from, r)
				if got == nil {
					t.Fatalf("got nil, want an empty (non-nil) list at least")
				}
				if !slices.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
				// Available and Check must never disagree.
				for _, to := range allStatuses {
					inList := slices.Contains(got, to)
					allowed := workflow.Check(from, to, r) == nil
					if inList != allowed {
						t.Errorf("%s: in Available: %v, allowed by Check: %v", to, inList, allowed)
					}
				}
			})
		}
	}
}

func TestStatusValidAndGQL(t *testing.T) {
	for _, s := range allStatuses {
		if !s.Valid() {
			t.Errorf("%s.Valid(): got false, want true", s)
		}
		var buf bytes.Buffer
		s.MarshalGQL(&buf)
		if got, want := buf.String(), `"`+string(s)+`"`; got != want {
			t.Errorf("MarshalGQL(%s): got %s, want %s", s, got, want)
		}
		var back workflow.Status
		if err := back.UnmarshalGQL(string(s)); err != nil || back != s {
			t.Errorf("UnmarshalGQL(%q): got %q, %v, want %q, nil", s, back, err, s)
		}
	}
	wantValues := []string{"DRAFT", "SUBMITTED", "APPROVED", "REJECTED", "ACTIVE", "COMPLETED", "ARCHIVED"}
	if got := workflow.Status("").Values(); !slices.Equal(got, wantValues) {
		t.Errorf("Values: got %v, want %v", got, wantValues)
	}
	for _, bad := range []any{"", "draft", "DELETED", 1, nil} {
		s := workflow.Status("UNCHANGED")
		if err := s.UnmarshalGQL(bad); err == nil {
			t.Errorf("UnmarshalGQL(%#v): got nil, want an error", bad)
		}
		if s != "UNCHANGED" {
			t.Errorf("UnmarshalGQL(%#v) wrote %q on failure, want the value untouched", bad, s)
		}
		if workflow.Status(toString(bad)).Valid() {
			t.Errorf("Valid(%#v): got true, want false", bad)
		}
	}
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}
