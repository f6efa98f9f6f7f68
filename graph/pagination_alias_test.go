package graph_test

import (
	"encoding/json"
	"testing"

	"tenantgraph/graph/graphtest"
)

// A client's aliases on a connection's own fields change nothing of the
// answer but its keys: { n: totalCount } counts, { items: edges } pages,
// { pi: pageInfo } tells, top-level and nested alike. (The page's
// collection matched these fields by alias: an aliased totalCount answered
// the page's length, aliased edges an empty page, an aliased pageInfo
// without edges hasNextPage false.)
func TestConnectionFieldsUnderAliases(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newPgWorld(t, e, 5) // 5 projects; the big one has 5 tasks
		type conn struct {
			N     int `json:"n"`
			Items []struct {
				Node struct{ ID string } `json:"node"`
			} `json:"items"`
			PI struct{ HasNextPage bool } `json:"pi"`
		}
		var out struct {
			Projects conn `json:"projects"`
			Bare     struct {
				PI struct{ HasNextPage bool } `json:"pi"`
			} `json:"bare"`
			Node struct {
				Tasks conn `json:"tasks"`
			} `json:"node"`
			All struct {
				Edges []struct {
					Node struct {
						Tasks conn `json:"t"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"all"`
		}
		r := e.Do(w.c, `query($big: ID!) {
			projects(first: 2) { n: totalCount items: edges { node { id } } pi: pageInfo { hasNextPage } }
			bare: projects(first: 2) { pi: pageInfo { hasNextPage } }
			node(id: $big) { ... on Project { tasks(first: 2) { n: totalCount items: edges { node { id } } pi: pageInfo { hasNextPage } } } }
			all: projects(first: 10) { edges { node { t: tasks(first: 2) { n: totalCount items: edges { node { id } } } } } }
		}`, map[string]any{"big": w.big})
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %+v", r.Errors)
		}
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatal(err)
		}
		if p := out.Projects; p.N != 5 || len(p.Items) != 2 || !p.PI.HasNextPage {
			t.Errorf("projects: n %d, %d items, hasNextPage %v; want 5, 2, true", p.N, len(p.Items), p.PI.HasNextPage)
		}
		if !out.Bare.PI.HasNextPage {
			t.Errorf("projects with only an aliased pageInfo: hasNextPage false, want true")
		}
		if tk := out.Node.Tasks; tk.N != 5 || len(tk.Items) != 2 || !tk.PI.HasNextPage {
			t.Errorf("the big project's tasks: n %d, %d items, hasNextPage %v; want 5, 2, true", tk.N, len(tk.Items), tk.PI.HasNextPage)
		}
		counts := map[int]int{}
		for _, edge := range out.All.Edges {
			counts[edge.Node.Tasks.N]++
			if want := min(edge.Node.Tasks.N, 2); len(edge.Node.Tasks.Items) != want {
				t.Errorf("a nested page of %d tasks: %d items, want %d", edge.Node.Tasks.N, len(edge.Node.Tasks.Items), want)
			}
		}
		if counts[5] != 1 || counts[0] != 4 {
			t.Errorf("nested totalCounts: got %v, want one project of 5 tasks and four of none", counts)
		}
	})
}
