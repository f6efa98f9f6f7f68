package graph_test

import (
	"encoding/json"
	"testing"

	"tenantgraph/graph/graphtest"
)

// The executor remembers the fields it collects from a selection set across
// requests (graph.collectFields). What it remembers must never outlive what
// it depends on: the type of the object (one selection set, two types), and
// the variables of a directive (one document, other variables). Each query
// runs three times, so that the later runs are answered from what the first
// remembered.
func TestCollectedFieldsFollowTypesAndVariables(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "collect")
		c := owner.Caller("collect")
		pid := e.CreateProject(c, "Apollo")
		tid := e.CreateTask(c, pid, "Launch")

		// One selection set for the elements of one list: a Project and a Task.
		const byType = `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Project { name } ... on Task { title } } }`
		for run := 0; run < 3; run++ {
			var out struct{ Nodes []map[string]any }
			e.MustDo(c, byType, map[string]any{"ids": []string{pid, tid}}, &out)
			if len(out.Nodes) != 2 || out.Nodes[0]["name"] != "Apollo" || out.Nodes[0]["title"] != nil ||
				out.Nodes[1]["title"] != "Launch" || out.Nodes[1]["name"] != nil {
				t.Fatalf("run %d: %v; want a project's name and a task's title", run, out.Nodes)
			}
		}

		// One document, its directives' variables changing between requests.
		const byVariables = `query($all: Boolean!) { projects(first: 5) { edges { node {
			id name @include(if: $all) ...more } } } }
			fragment more on Project { status @skip(if: $all) ... @include(if: $all) { description } }`
		for run, all := range []bool{true, false, true, false, false, true} {
			r := e.Do(c, byVariables, map[string]any{"all": all})
			if len(r.Errors) > 0 {
				t.Fatalf("run %d: %v", run, r.Errors)
			}
			var out struct {
				Projects struct {
					Edges []struct{ Node map[string]json.RawMessage }
				}
			}
			if err := json.Unmarshal(r.Data, &out); err != nil {
				t.Fatal(err)
			}
			node := out.Projects.Edges[0].Node
			_, name := node["name"]
			_, status := node["status"]
			_, description := node["description"]
			if name != all || description != all || status == all {
				t.Fatalf("run %d (all %v): fields %v; want name and description only with all, status only without", run, all, keys(node))
			}
		}

		// The same selection fixed (no variables) still collects as written.
		for run := 0; run < 3; run++ {
			var out struct {
				Projects struct {
					Edges []struct{ Node map[string]any }
				}
			}
			e.MustDo(c, `{ projects(first: 5) { edges { node { id name @include(if: true) status @skip(if: true) } } } }`, nil, &out)
			node := out.Projects.Edges[0].Node
			if _, ok := node["status"]; ok || node["name"] != "Apollo" {
				t.Fatalf("run %d: %v; want name and no status", run, node)
			}
		}
	})
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
