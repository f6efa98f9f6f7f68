package graph_test

// Races between owner changes and between transitions, free and writes held.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tenantgraph/graph/graphtest"
)

// TestConcurrentOwnerChanges: the two OWNERs of a tenant demote (or remove)
// each other at the same moment. Exactly one wins and the tenant keeps
// exactly one OWNER.
//
// In a free race the loser gets CONFLICT, or FORBIDDEN when its request
// began after the winner had committed (roles are read per request). With
// writes held (see holdWrites) both requests have resolved their callers as
// OWNERs before either can write, so the loser must get FORBIDDEN: under
// the tenant's lock it reads its own role again and finds that the winner
// demoted or removed it (tenancy.LockAsOwner). Were it to go on as the
// OWNER it was, the last-OWNER check would still refuse it (CONFLICT), but
// a change that removes no OWNER (adding one) would pass.
func TestConcurrentOwnerChanges(t *testing.T) {
	const rounds = 5
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		base := newPermTeam(t, e, "duel")
		ops := []struct{ name, query string }{
			{"demote", `mutation($id: ID!) { updateMemberRole(id: $id, role: MEMBER) { id } }`},
			{"remove", permRemove},
		}
		for _, op := range ops {
			for _, held := range []bool{false, true} {
				name, losing := op.name+"/free", []string{"CONFLICT", forbidden}
				if held {
					name, losing = op.name+"/held", []string{forbidden}
				}
				t.Run(name, func(t *testing.T) {
					losers := map[string]int{}
					for round := range rounds {
						e := envFor(t, e)
						tm := base.in(t, e, fmt.Sprintf("duel-%s-%d", strings.ReplaceAll(name, "/", "-"), round))
						e.MustDo(tm.caller("OWNER"), permUpdateRole, map[string]any{"id": tm.memberships["MANAGER"], "role": "OWNER"}, nil)
						targets := map[string]string{"OWNER": tm.memberships["MANAGER"], "MANAGER": tm.ownMembership(t, e, "OWNER")} // each the other
						release := func() {}
						if held {
							release = holdWrites(t, e, "memberships")
						}
						codes := map[string]string{}
						var mu sync.Mutex
						var wg sync.WaitGroup
						start := make(chan struct{})
						for who, target := range targets {
							wg.Add(1)
							go func() {
								defer wg.Done()
								<-start
								r := e.Do(tm.caller(who), op.query, map[string]any{"id": target})
								mu.Lock()
								codes[who] = r.Code()
								mu.Unlock()
							}()
						}
						close(start)
						if held {
							awaitLockWaiters(t, e, len(targets))
							release()
						}
						wg.Wait()

						winners := 0
						for who, code := range codes {
							switch {
							case code == allowed:
								winners++
							case slices.Contains(losing, code):
								losers[code]++
							default:
								t.Errorf("round %d: %s got %q, want success or one of %v", round, who, code, losing)
							}
						}
						if winners != 1 {
							t.Errorf("round %d: got %d winners (%v), want exactly 1", round, winners, codes)
						}
						owners := 0
						for _, r := range tm.membersByUser(t, e, "VIEWER") {
							if r == "OWNER" {
								owners++
							}
						}
						if owners != 1 {
							t.Errorf("round %d: got %d OWNERs after the race (%v), want 1", round, owners, codes)
						}
					}
					t.Logf("losers' codes over %d rounds: %v", rounds, losers)
				})
			}
		}
	})
}

// TestConcurrentTransitions: racers move one project from the same status at
// the same moment. Exactly one wins; every other gets CONFLICT or
// INVALID_TRANSITION; the project ends in the winner's status. Each race is
// repeated on fresh projects, free and with writes held (see holdWrites):
// held, on PostgreSQL every racer has read the old status and passed the
// table check before any can write, so the losers must all get CONFLICT from
// the conditional update (SQLite serialises whole transactions, so there a
// loser reads the new status and gets INVALID_TRANSITION).
func TestConcurrentTransitions(t *testing.T) {
	const (
		racers = 8
		rounds = 4
	)
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "race")
		races := []struct {
			name, from, as string
			to             func(i int) string
		}{
			{"DRAFT to SUBMITTED", "DRAFT", "MEMBER", func(int) string { return "SUBMITTED" }},
			{"SUBMITTED to APPROVED or REJECTED", "SUBMITTED", "MANAGER", func(i int) string { return []string{"APPROVED", "REJECTED"}[i%2] }},
			{"DRAFT to SUBMITTED or ARCHIVED", "DRAFT", "OWNER", func(i int) string { return []string{"SUBMITTED", "ARCHIVED"}[i%2] }},
		}
		for _, race := range races {
			for _, held := range []bool{false, true} {
				name, losing := race.name+"/free", []string{"CONFLICT", "INVALID_TRANSITION"}
				if held {
					name = race.name + "/held"
					if e.Dialect == "postgres" {
						losing = []string{"CONFLICT"}
					}
				}
				t.Run(name, func(t *testing.T) {
					e := envFor(t, e)
					from := make([]string, rounds)
					for i := range from {
						from[i] = race.from
					}
					projects := wfProjectsIn(t, e, tm.caller("OWNER"), from)
					losers := map[string]int{}
					for round, p := range projects {
						type result struct{ to, code, status string }
						results := make([]result, racers)
						release := func() {}
						if held {
							release = holdWrites(t, e, "projects")
						}
						var wg sync.WaitGroup
						start := make(chan struct{})
						for i := range racers {
							wg.Add(1)
							go func() {
								defer wg.Done()
								<-start
								to := race.to(i)
								r := e.Do(tm.caller(race.as), wfTransition, map[string]any{"id": p, "to": to})
								res := result{to: to, code: r.Code()}
								if res.code == allowed {
									var out struct{ TransitionProject struct{ Status string } }
									if err := json.Unmarshal(r.Data, &out); err == nil {
										res.status = out.TransitionProject.Status
									}
								}
								results[i] = res
							}()
						}
						close(start)
						if held {
							awaitLockWaiters(t, e, racers)
							release()
						}
						wg.Wait()

						var winner *result
						for i, res := range results {
							switch {
							case res.code == allowed:
								if winner != nil {
									t.Errorf("round %d: two winners: %+v and %+v", round, *winner, res)
								}
								winner = &results[i]
							case slices.Contains(losing, res.code):
								losers[res.code]++
							default:
								t.Errorf("round %d: racer %d got %q, want success or one of %v", round, i, res.code, losing)
							}
						}
						if winner == nil {
							t.Errorf("round %d: no racer won: %+v", round, results)
							continue
						}
						if winner.status != winner.to {
							t.Errorf("round %d: winner's response status got %q, want %q", round, winner.status, winner.to)
						}
						if got := wfStatusesOf(t, e, tm.caller("OWNER"), []string{p})[0]; got != winner.to {
							t.Errorf("round %d: final status got %s, want the winner's %s", round, got, winner.to)
						}
					}
					t.Logf("losers' codes over %d rounds: %v", rounds, losers)
				})
			}
		}
	})
}

// holdWrites blocks writes to table from other connections until release is
// called, while reads go on: on SQLite a write transaction (which locks the
// whole database), on PostgreSQL LOCK TABLE … IN EXCLUSIVE MODE. Requests
// sent meanwhile resolve their session and read, then wait at their first
// write, so a race between them is no longer decided by who started first.
func holdWrites(t *testing.T, e *graphtest.Env, table string) (release func()) {
	t.Helper()
	ctx := t.Context()
	tx, err := e.DB.SQL.BeginTx(ctx, nil) // BEGIN IMMEDIATE on SQLite (see database.SQLiteDSN)
	if err != nil {
		t.Fatalf("holding writes: %v", err)
	}
	if e.Dialect == "postgres" {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE "+table+" IN EXCLUSIVE MODE"); err != nil {
			tx.Rollback()
			t.Fatalf("locking %s: %v", table, err)
		}
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback() }) }
	t.Cleanup(release)
	return release
}

// awaitLockWaiters waits until n requests wait on the lock of holdWrites. On
// PostgreSQL pg_stat_activity shows them. On SQLite a request waiting to
// begin its write transaction holds a pooled connection while it waits, so
// n of them are there once n connections beyond the holder's stay in use
// (a session lookup holds one for well under a millisecond).
func awaitLockWaiters(t *testing.T, e *graphtest.Env, n int) {
	t.Helper()
	waiting := func() int {
		if e.Dialect != "postgres" {
			return e.DB.SQL.Stats().InUse - 1
		}
		return e.LockWaiters(t)
	}
	deadline := time.Now().Add(10 * time.Second)
	for steady := 0; steady < 3; time.Sleep(10 * time.Millisecond) {
		w := waiting()
		if w < n {
			steady = 0
		} else {
			steady++
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d requests waiting on a lock after 10s, want %d", w, n)
		}
	}
}
