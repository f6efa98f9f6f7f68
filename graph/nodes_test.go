package graph_test

import (
	"encoding/json"
	"testing"

	"tenantgraph/ent/migrate"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
)

// nodes(ids:) loads each table's IDs in one query, plus one for the users'
// visibility, whatever the number of IDs; an object the caller may not see
// (another tenant's, a user who shares no tenant with them, an ID in no
// table's range) is null in its place, as one that does not exist.
func TestNodesBatchesByTable(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, member, stranger := e.Register("Owner"), e.Register("Member"), e.Register("Stranger")
		e.CreateTenant(owner, "acme")
		e.CreateTenant(stranger, "globex")
		e.AddMember(owner, "acme", member, "MEMBER")
		theirs := e.CreateProject(stranger.Caller("globex"), "Theirs")
		c := owner.Caller("acme")
		outboxRange := *migrate.OutboxEntriesTable.Annotation.IncrementStart
		var ids, want []string
		for _, name := range []string{"One", "Two", "Three"} {
			p := e.CreateProject(c, name)
			ids = append(ids, p, e.CreateTask(c, p, name+" task"))
			want = append(want, "Project", "Task")
		}
		// Then IDs in no table's range, and in the outbox's (a table with
		// IDs but no node type).
		ids = append(ids, owner.ID, member.ID, stranger.ID, theirs, globalid.Encode(60<<32), globalid.Encode(outboxRange+1))
		want = append(want, "User", "User", "", "", "", "")

		const query = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`
		statements := func(ids []string) ([]string, int64) {
			t.Helper()
			e.Counter.Reset()
			r := e.Do(c, query, map[string]any{"ids": ids})
			n := e.Counter.Count()
			var out struct {
				Nodes []*struct {
					Typename string `json:"__typename"`
					ID       string
				}
			}
			if err := json.Unmarshal([]byte(`{"nodes":`+string(jsonField(t, r, "nodes"))+`}`), &out); err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(out.Nodes))
			for i, node := range out.Nodes {
				if node != nil {
					got[i] = node.Typename
					if node.ID != ids[i] {
						t.Errorf("nodes[%d]: got ID %s, want %s", i, node.ID, ids[i])
					}
				}
			}
			return got, n
		}
		got, few := statements(ids)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("nodes[%d] (%s): got %q, want %q", i, ids[i], got[i], want[i])
			}
		}
		// The session's role, projects, tasks, users, the users' visibility.
		if few != 5 {
			t.Errorf("nodes of %d IDs in three tables: %d statements, want 5", len(ids), few)
		}
		for _, id := range []string{globalid.Encode(outboxRange + 1), globalid.Encode(60 << 32)} {
			if r := e.Do(c, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}); len(r.Errors) > 0 || string(jsonField(t, r, "node")) != "null" {
				t.Errorf("node(%s): got %s %+v, want null", id, r.Data, r.Errors)
			}
		}
		if _, many := statements(append(append([]string{}, ids...), ids...)); many != few {
			t.Errorf("twice the IDs: %d statements, want %d as for once", many, few)
		}
	})
}

// jsonField returns data.<name> of r, failing on errors.
func jsonField(t *testing.T, r *graphtest.Response, name string) json.RawMessage {
	t.Helper()
	var data map[string]json.RawMessage
	r.Decode(t, &data)
	return data[name]
}
