package graph_test

// Membership rules: the last OWNER and adding members.

import (
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

const (
	permUpdateRole = `mutation($id: ID!, $role: Role!) { updateMemberRole(id: $id, role: $role) { id role } }`
	permRemove     = `mutation($id: ID!) { removeMember(id: $id) }`
	permAdd        = `mutation($i: AddMemberInput!) { addMember(input: $i) { id role user { id } } }`
)

// TestLastOwner: the last OWNER can be neither demoted nor removed, by
// themself or anyone; once a second OWNER exists, either can be.
func TestLastOwner(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "owners")
		first := tm.ownMembership(t, e, "OWNER")
		second := tm.memberships["MANAGER"]
		do := func(t *testing.T, as, query string, vars map[string]any, want string) {
			t.Helper()
			e := envFor(t, e)
			before := tm.snapshotAs(t, e, as)
			r := e.Do(tm.caller(as), query, vars)
			if got := r.Code(); got != want {
				t.Fatalf("got code %q (%+v), want %q", got, r.Errors, want)
			}
			if want != allowed {
				if after := tm.snapshotAs(t, e, as); after != before {
					t.Errorf("a refused change wrote:\nbefore %s\nafter  %s", before, after)
				}
			}
		}
		steps := []struct {
			name, as, query string
			vars            map[string]any
			want            string
		}{
			{"last OWNER demotes themself to MANAGER", "OWNER", permUpdateRole, map[string]any{"id": first, "role": "MANAGER"}, "CONFLICT"},
			{"last OWNER demotes themself to VIEWER", "OWNER", permUpdateRole, map[string]any{"id": first, "role": "VIEWER"}, "CONFLICT"},
			{"last OWNER removes themself", "OWNER", permRemove, map[string]any{"id": first}, "CONFLICT"},
			{"last OWNER keeps OWNER (no demotion)", "OWNER", permUpdateRole, map[string]any{"id": first, "role": "OWNER"}, allowed},
			{"a second OWNER is made", "OWNER", permUpdateRole, map[string]any{"id": second, "role": "OWNER"}, allowed},
			{"the first OWNER steps down", "OWNER", permUpdateRole, map[string]any{"id": first, "role": "MANAGER"}, allowed},
			{"the former OWNER can no longer manage members", "OWNER", permUpdateRole, map[string]any{"id": second, "role": "MEMBER"}, forbidden},
			{"the new last OWNER demotes themself", "MANAGER", permUpdateRole, map[string]any{"id": second, "role": "MEMBER"}, "CONFLICT"},
			{"the new last OWNER removes themself", "MANAGER", permRemove, map[string]any{"id": second}, "CONFLICT"},
			{"the first user is made OWNER again", "MANAGER", permUpdateRole, map[string]any{"id": first, "role": "OWNER"}, allowed},
			{"one of two OWNERs removes the other", "MANAGER", permRemove, map[string]any{"id": first}, allowed},
			{"the remaining OWNER removes themself", "MANAGER", permRemove, map[string]any{"id": second}, "CONFLICT"},
		}
		for _, s := range steps {
			// The steps build on each other: stop at the first failure.
			if !t.Run(s.name, func(t *testing.T) { do(t, s.as, s.query, s.vars, s.want) }) {
				t.FailNow()
			}
		}
		// The removed user loses access at once; the tenant keeps one OWNER.
		if got := e.Do(tm.caller("OWNER"), `{ projects { totalCount } }`, nil).Code(); got != forbidden {
			t.Errorf("removed OWNER reading projects: got %q, want %q", got, forbidden)
		}
		roles := tm.membersByUser(t, e, "MANAGER")
		if got := roles[tm.users["MANAGER"].ID]; got != "OWNER" {
			t.Errorf("remaining owner's role: got %q, want OWNER", got)
		}
		if _, still := roles[tm.users["OWNER"].ID]; still {
			t.Errorf("removed OWNER: got still a member, want removed")
		}
	})
}

// TestAddMemberRules: an existing member is CONFLICT (whatever the email's
// case), an unknown email NOT_FOUND, and neither writes anything; a member of
// another tenant can be added.
func TestAddMemberRules(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "adds")
		cases := []struct {
			name, email, role, want string
		}{
			{"existing member", tm.users["VIEWER"].Email, "MANAGER", "CONFLICT"},
			{"existing member, upper case email", strings.ToUpper(tm.users["MEMBER"].Email), "MEMBER", "CONFLICT"},
			{"the OWNER themself", tm.users["OWNER"].Email, "VIEWER", "CONFLICT"},
			{"unknown email", "nobody@example.test", "MEMBER", "NOT_FOUND"},
			{"a member of another tenant", tm.users["NON_MEMBER"].Email, "VIEWER", allowed},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := envFor(t, e)
				before := tm.snapshot(t, e)
				r := e.Do(tm.caller("OWNER"), permAdd, map[string]any{"i": map[string]any{"email": c.email, "role": c.role}})
				if got := r.Code(); got != c.want {
					t.Fatalf("got code %q (%+v), want %q", got, r.Errors, c.want)
				}
				after := tm.snapshot(t, e)
				if c.want != allowed {
					if before != after {
						t.Errorf("a refused addMember wrote:\nbefore %s\nafter  %s", before, after)
					}
					return
				}
				var out struct {
					AddMember struct {
						Role string
						User struct{ ID string }
					}
				}
				r.Decode(t, &out)
				if out.AddMember.Role != c.role || out.AddMember.User.ID != tm.users["NON_MEMBER"].ID {
					t.Errorf("got %+v, want role %s for user %s", out.AddMember, c.role, tm.users["NON_MEMBER"].ID)
				}
			})
		}
		// The roles of the existing members are untouched.
		roles := tm.membersByUser(t, e, "OWNER")
		for who, want := range map[string]string{"OWNER": "OWNER", "MEMBER": "MEMBER", "VIEWER": "VIEWER", "NON_MEMBER": "VIEWER"} {
			if got := roles[tm.users[who].ID]; got != want {
				t.Errorf("%s: got role %q, want %q", who, got, want)
			}
		}
	})
}
