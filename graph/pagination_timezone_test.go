package graph_test

// Paging through time orders on a server whose local time zone is not UTC.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
)

// A server running in another time zone than UTC pages through the time
// orders (CREATED_AT, UPDATED_AT, DUE_DATE) as one running in UTC does. A
// cursor's time decodes in the process's local zone, and SQLite compares
// times as the text the driver writes them as, offset included, so they
// must be written in UTC like the stored ones. The zone is the process's
// own, so the test runs itself again as a child with TZ set.
func TestTimeCursorsInALocalTimeZone(t *testing.T) {
	const zone = "Asia/Kolkata" // +05:30: no DST, never UTC
	if os.Getenv("TENANTGRAPH_TZ_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTimeCursorsInALocalTimeZone$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TZ="+zone, "TENANTGRAPH_TZ_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("with TZ=%s: %v\n%s", zone, err, out)
		}
		if bytes.Contains(out, []byte("--- SKIP: TestTimeCursorsInALocalTimeZone ")) {
			t.Skipf("with TZ=%s:\n%s", zone, out)
		}
		return
	}
	if _, offset := time.Now().Zone(); offset == 0 {
		t.Skipf("TZ=%s did not take (no time zone database?)", zone)
	}
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		c, tasks := pgTasksForWalk(t, e, true) // in project "Rocket"
		for _, dir := range []string{"ASC", "DESC"} {
			pgCheckOrderedWalk(t, "DUE_DATE", dir, pgWalkTasks(t, e, c, "DUE_DATE", dir), tasks)
		}
		var rocket struct{ Projects pgConn }
		pgMust(t, e, c, `{ projects { edges { node { id } } } }`, nil, &rocket)
		projects := rocket.Projects.ids()
		for i := 1; i < 10; i++ {
			projects = append(projects, e.CreateProject(c, fmt.Sprintf("P%02d", i)))
		}
		for _, field := range []string{"CREATED_AT", "UPDATED_AT"} {
			for _, dir := range []string{"ASC", "DESC"} {
				want := projects
				if dir == "DESC" {
					want = pgReversed(want)
				}
				query := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor) {
					projects(first: $first, after: $after, last: $last, before: $before, orderBy: {field: ` + field + `, direction: ` + dir + `}) { ` + pgConnFields + ` } }`
				for _, forwards := range []bool{true, false} {
					if got := pgWalk(t, e, c, query, "", []string{"projects"}, forwards); !slices.Equal(got, want) {
						t.Errorf("projects by %s %s (forwards %v): got %v, want %v", field, dir, forwards, got, want)
					}
				}
			}
		}
	})
}
