package graph_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// A page reads one row more than it returns only when the selection asks
// whether another page follows (ent/template/page_limit.tmpl): the extra row
// is what answers pageInfo.hasNextPage after first and hasPreviousPage after
// last. The test counts the rows every query returned, and checks that the
// answers are the same whichever way pageInfo is asked for: directly,
// aliased, in inline and named fragments, under @include, or not at all.
func TestPagesReadTheExtraRowOnlyWhenAsked(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "rows")
		c := owner.Caller("rows")
		// Three projects, three tasks each, three comments on each task, all
		// the owner's; the caller reads two of each.
		createTree(e, c, 3, 3, 3)
		// Rows of every request: the session reads the caller's membership
		// (1); the comments' authors are one user (1); the nested totalCounts
		// come with their pages (ent/template/total_in_page.tmpl). Statements:
		// those two, and the three pages.
		const session, authors, statements = 1, 1, 5
		tree := func(projects, tasks, comments string) string {
			q := `{ projects(first: 2) { ` + projects + ` edges { node { name
				tasks(first: 2) { totalCount ` + tasks + ` edges { node { title
					comments(first: 2) { totalCount ` + comments + ` edges { node { body author { name } } } }
				} } }
			} } } }`
			for name, fragment := range map[string]string{
				"more": `fragment more on TaskConnection { pageInfo { hasNextPage } }`,
				"none": `fragment none on CommentConnection { pageInfo { endCursor } }`,
			} {
				if strings.Contains(q, "..."+name) {
					q += "\n" + fragment
				}
			}
			var params []string
			for _, v := range []string{"$yes", "$no"} {
				if strings.Contains(q, v) {
					params = append(params, v+": Boolean!")
				}
			}
			if params != nil {
				q = "query(" + strings.Join(params, ", ") + ") " + q
			}
			return q
		}
		cases := []struct {
			name                      string
			projects, tasks, comments string
			rows, count               int64
			projectMore, taskMore     bool
		}{
			{name: "no pageInfo", rows: session + 2 + 4 + 8 + authors},
			{name: "hasNextPage on projects", projects: `pageInfo { hasNextPage }`,
				// The third project, its two tasks and their four comments.
				rows: session + 3 + 6 + 12 + authors, projectMore: true},
			{name: "aliased, on tasks", tasks: `more: pageInfo { next: hasNextPage }`,
				// A third task in each project, and its two comments.
				rows: session + 2 + 6 + 12 + authors, taskMore: true},
			{name: "named fragment, on tasks", tasks: `...more`,
				rows: session + 2 + 6 + 12 + authors, taskMore: true},
			{name: "inline fragment, on comments", comments: `... on CommentConnection { pageInfo { hasNextPage } }`,
				rows: session + 2 + 4 + 12 + authors},
			{name: "included", projects: `pageInfo @include(if: $yes) { hasNextPage }`,
				rows: session + 3 + 6 + 12 + authors, projectMore: true},
			{name: "not included", projects: `pageInfo { hasNextPage @include(if: $no) }`,
				rows: session + 2 + 4 + 8 + authors},
			{name: "skipped", tasks: `pageInfo @skip(if: $yes) { hasNextPage }`,
				rows: session + 2 + 4 + 8 + authors},
			{name: "other pageInfo fields only", projects: `pageInfo { hasPreviousPage startCursor endCursor }`, comments: `...none`,
				rows: session + 2 + 4 + 8 + authors},
			// totalCount of the top-level connection is a count of its own.
			{name: "totalCount on projects", projects: `totalCount pageInfo { hasNextPage }`,
				rows: session + 1 + 3 + 6 + 12 + authors, count: 1, projectMore: true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.Counter.Reset()
				q := tree(tc.projects, tc.tasks, tc.comments)
				vars := map[string]any{}
				if strings.Contains(q, "$yes") {
					vars["yes"] = true
				}
				if strings.Contains(q, "$no") {
					vars["no"] = false
				}
				r := e.Do(c, q, vars)
				rows, sent := e.Counter.Rows(), e.Counter.Count()
				if len(r.Errors) > 0 {
					t.Fatalf("errors: %v", r.Errors)
				}
				var out struct {
					Projects struct {
						TotalCount *int
						PageInfo   *struct{ HasNextPage *bool }
						Edges      []struct {
							Node struct {
								Tasks struct {
									TotalCount int
									More       *struct{ Next *bool }
									PageInfo   *struct{ HasNextPage *bool }
									Edges      []struct {
										Node struct {
											Comments struct {
												TotalCount int
												PageInfo   *struct{ HasNextPage *bool }
												Edges      []struct {
													Node struct {
														Body   string
														Author struct{ Name string }
													}
												}
											}
										}
									}
								}
							}
						}
					}
				}
				if err := json.Unmarshal(r.Data, &out); err != nil {
					t.Fatal(err)
				}
				if rows != tc.rows || sent != statements+tc.count {
					t.Errorf("read %d rows in %d statements, want %d in %d", rows, sent, tc.rows, statements+tc.count)
				}
				// The pages are the same whatever was asked.
				if len(out.Projects.Edges) != 2 {
					t.Fatalf("%d projects, want 2", len(out.Projects.Edges))
				}
				for _, p := range out.Projects.Edges {
					tasks := p.Node.Tasks
					if tasks.TotalCount != 3 || len(tasks.Edges) != 2 {
						t.Fatalf("tasks: total %d, %d edges; want 3 and 2", tasks.TotalCount, len(tasks.Edges))
					}
					for _, task := range tasks.Edges {
						cs := task.Node.Comments
						if cs.TotalCount != 3 || len(cs.Edges) != 2 || cs.Edges[1].Node.Author.Name != "Owner" {
							t.Fatalf("comments: total %d, %d edges; want 3 and 2 by Owner", cs.TotalCount, len(cs.Edges))
						}
						if pi := cs.PageInfo; pi != nil && pi.HasNextPage != nil && !*pi.HasNextPage {
							t.Error("comments: hasNextPage false, want true")
						}
					}
					if tc.taskMore {
						var next *bool
						if tasks.More != nil {
							next = tasks.More.Next
						} else if tasks.PageInfo != nil {
							next = tasks.PageInfo.HasNextPage
						}
						if next == nil || !*next {
							t.Errorf("tasks: hasNextPage %v, want true", next)
						}
					}
				}
				if n := out.Projects.TotalCount; n != nil && *n != 3 {
					t.Errorf("projects: totalCount %d, want 3", *n)
				}
				if pi := out.Projects.PageInfo; tc.projectMore && (pi == nil || pi.HasNextPage == nil || !*pi.HasNextPage) {
					t.Errorf("projects: hasNextPage %v, want true", pi)
				}
			})
		}
	})
}

// hasNextPage and hasPreviousPage are told right at the ends of the list
// too, with first and with last, at the top level and nested, including
// the single-parent path a page of one takes (a nested page under it is a
// plain LIMIT, not a window per parent).
func TestPageInfoAtTheEnds(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "ends")
		c := owner.Caller("ends")
		createTree(e, c, 3, 3, 0)
		type page struct {
			PageInfo struct{ HasNextPage, HasPreviousPage bool }
			Edges    []struct {
				Node struct {
					Name  string
					Tasks struct {
						TotalCount int
						PageInfo   struct{ HasNextPage, HasPreviousPage bool }
						Edges      []struct{ Node struct{ Title string } }
					}
				}
			}
		}
		for _, tc := range []struct {
			args, taskArgs            string
			projects, tasks           int
			next, previous            bool
			taskNext, taskPrevious    bool
			firstName, firstTaskTitle string
		}{
			{args: "first: 1", taskArgs: "first: 2", projects: 1, tasks: 2, next: true, taskNext: true, firstName: "P0", firstTaskTitle: "T0-0"},
			{args: "first: 1", taskArgs: "first: 3", projects: 1, tasks: 3, next: true, firstName: "P0", firstTaskTitle: "T0-0"},
			{args: "first: 3", taskArgs: "first: 3", projects: 3, tasks: 3, firstName: "P0", firstTaskTitle: "T0-0"},
			{args: "first: 5", taskArgs: "last: 2", projects: 3, tasks: 2, taskPrevious: true, firstName: "P0", firstTaskTitle: "T0-1"},
			{args: "last: 2", taskArgs: "last: 3", projects: 2, tasks: 3, previous: true, firstName: "P1", firstTaskTitle: "T1-0"},
			{args: "last: 3", taskArgs: "first: 1", projects: 3, tasks: 1, taskNext: true, firstName: "P0", firstTaskTitle: "T0-0"},
			{args: "last: 1", taskArgs: "last: 1", projects: 1, tasks: 1, previous: true, taskPrevious: true, firstName: "P2", firstTaskTitle: "T2-2"},
		} {
			t.Run(tc.args+" "+tc.taskArgs, func(t *testing.T) {
				var out struct{ Projects page }
				e.MustDo(c, `{ projects(`+tc.args+`) { pageInfo { hasNextPage hasPreviousPage } edges { node { name
					tasks(`+tc.taskArgs+`) { totalCount pageInfo { hasNextPage hasPreviousPage } edges { node { title } } } } } } }`, nil, &out)
				p := out.Projects
				if len(p.Edges) != tc.projects || p.PageInfo.HasNextPage != tc.next || p.PageInfo.HasPreviousPage != tc.previous {
					t.Fatalf("projects: %d, next %v, previous %v; want %d, %v, %v",
						len(p.Edges), p.PageInfo.HasNextPage, p.PageInfo.HasPreviousPage, tc.projects, tc.next, tc.previous)
				}
				if p.Edges[0].Node.Name != tc.firstName {
					t.Errorf("first project %q, want %q", p.Edges[0].Node.Name, tc.firstName)
				}
				for i, edge := range p.Edges {
					ts := edge.Node.Tasks
					if ts.TotalCount != 3 || len(ts.Edges) != tc.tasks || ts.PageInfo.HasNextPage != tc.taskNext || ts.PageInfo.HasPreviousPage != tc.taskPrevious {
						t.Fatalf("project %d's tasks: total %d, %d, next %v, previous %v; want 3, %d, %v, %v", i,
							ts.TotalCount, len(ts.Edges), ts.PageInfo.HasNextPage, ts.PageInfo.HasPreviousPage, tc.tasks, tc.taskNext, tc.taskPrevious)
					}
				}
				if got := p.Edges[0].Node.Tasks.Edges[0].Node.Title; got != tc.firstTaskTitle {
					t.Errorf("first task %q, want %q", got, tc.firstTaskTitle)
				}
			})
		}
	})
}

// createTree creates projects projects named P0, P1, …, each with tasks
// tasks named T<p>-<k>, each with comments comments named C<p>-<k>-<m>,
// in creation order.
func createTree(e *graphtest.Env, c graphtest.Caller, projects, tasks, comments int) {
	for p := 0; p < projects; p++ {
		pid := e.CreateProject(c, fmt.Sprintf("P%d", p))
		for k := 0; k < tasks; k++ {
			tid := e.CreateTask(c, pid, fmt.Sprintf("T%d-%d", p, k))
			for m := 0; m < comments; m++ {
				e.CreateComment(c, tid, fmt.Sprintf("C%d-%d-%d", p, k, m))
			}
		}
	}
}
