package graph_test

import (
	"fmt"
	"testing"

	"tenantgraph/graph/graphtest"
)

// BenchmarkMutations times ordinary writes through the API (in process,
// over HTTP): createTask, createComment and updateTask, each one
// transaction with its activity entry, in a project of 200 tasks, with
// the statements each sends (stmts/op, BEGIN and COMMIT not counted); on
// SQLite, and on PostgreSQL when TEST_DATABASE_URL is set. With
// SQLITE_PAGE_SIZE the SQLite database is created with that page size
// (graphtest.NewDatabaseURL): docs/BENCHMARKS.md, twenty-second round,
// measured with it what larger pages cost every such write.
//
//	go test ./graph -run '^$' -bench Mutations -benchtime 2000x
func BenchmarkMutations(b *testing.B) {
	for _, d := range graphtest.Dialects(b) {
		b.Run(d, func(b *testing.B) {
			e := graphtest.New(b, d)
			owner := e.Register("Owner")
			e.CreateTenant(owner, "acme")
			c := owner.Caller("acme")
			project := e.CreateProject(c, "Benchmarks")
			tasks := make([]string, 200)
			for i := range tasks {
				tasks[i] = e.CreateTask(c, project, fmt.Sprintf("Task %d", i))
			}
			run := func(name string, do func(i int)) {
				b.Run(name, func(b *testing.B) {
					e.Counter.Reset()
					for i := range b.N {
						do(i)
					}
					b.ReportMetric(float64(e.Counter.Count())/float64(b.N), "stmts/op")
				})
			}
			run("createTask", func(i int) { e.CreateTask(c, project, fmt.Sprintf("Another task %d", i)) })
			run("createComment", func(i int) {
				e.CreateComment(c, tasks[i%len(tasks)], "A comment of some length, as people write them: a line or two.")
			})
			run("updateTask", func(i int) {
				e.MustDo(c, `mutation($id: ID!, $title: String!) { updateTask(id: $id, input: {title: $title}) { id } }`,
					map[string]any{"id": tasks[i%len(tasks)], "title": fmt.Sprintf("Task %d, renamed", i)}, nil)
			})
		})
	}
}
