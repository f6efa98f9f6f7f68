package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"tenantgraph/graph/graphtest"
)

// A query's response is written into a buffer that an earlier response,
// once written out, handed back (graph.recycleResponse). Under concurrent
// requests of different sizes, every body must still be exactly its own
// query's answer: a buffer handed back while still being written, or handed
// to two responses, would mix them up. Run it under -race as well.
func TestRecycledResponseBuffersAreNotShared(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "recycle")
		c := owner.Caller("recycle")
		for p := 0; p < 6; p++ {
			pid := e.CreateProject(c, fmt.Sprintf("Project %d %s", p, bytes.Repeat([]byte("x"), 30*p)))
			for k := 0; k < 4; k++ {
				e.CreateComment(c, e.CreateTask(c, pid, fmt.Sprintf("Task %d-%d", p, k)), string(bytes.Repeat([]byte{'a' + byte(k)}, 300)))
			}
		}
		queries := []string{
			`{ projects(first: 6) { edges { node { id name tasks(first: 4) { edges { node { id title comments(first: 2) { edges { node { body } } } } } } } } } }`,
			`{ projects(first: 2) { edges { node { name } } } }`,
			`{ projects(first: 6) { totalCount edges { node { id } } } }`,
		}
		header := http.Header{"Content-Type": {"application/json"}}
		body := func(q string) []byte {
			b, _ := json.Marshal(map[string]any{"query": q})
			return b
		}
		want := make([][]byte, len(queries))
		for i, q := range queries {
			r := e.Raw(c, http.MethodPost, "/graphql", header, body(q))
			if r.Status != http.StatusOK || bytes.Contains(r.Body, []byte(`"errors"`)) {
				t.Fatalf("%s: %d %s", q, r.Status, r.Body)
			}
			want[i] = r.Body
		}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; n < 25; n++ {
					i := (g + n) % len(queries)
					if r := e.Raw(c, http.MethodPost, "/graphql", header, body(queries[i])); !bytes.Equal(r.Body, want[i]) {
						t.Errorf("query %d, request %d of worker %d: got %d bytes %.120q…, want %d bytes %.120q…", i, n, g, len(r.Body), r.Body, len(want[i]), want[i])
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}
