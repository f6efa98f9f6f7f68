package graph_test

// The query limits and request bounds at their production defaults, over
// HTTP and websocket: each bomb is refused with its documented code before
// any SQL runs.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/account"
	"tenantgraph/internal/ratelimit"
)

// limDefaults are servers with the production limits.
var limDefaults = graphtest.Options{Limits: graph.DefaultLimits}

// limAliases returns n aliased root fields.
func limAliases(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d: projectWorkflow { from }", i)
	}
	return b.String()
}

// limDeep nests project → tasks → project … levels times.
func limDeep(levels int) string {
	q := "id"
	for i := 0; i < levels; i++ {
		q = "project { tasks(first: 1) { edges { node { " + q + " } } } }"
	}
	return "{ tasks(first: 1) { edges { node { " + q + " } } } }"
}

// limFragmentBomb defines fragments F0 … F<levels> on typ: each spreads
// the next twice, and the last selects leaf.
func limFragmentBomb(levels int, typ, leaf string) string {
	var b strings.Builder
	for i := range levels {
		fmt.Fprintf(&b, " fragment F%d on %s { ...F%d ...F%d }", i, typ, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on %s { %s }", levels, typ, leaf)
	return b.String()
}

// limExt returns an extension of the first error as an int.
func limExt(r *graphtest.Response, key string) int {
	if len(r.Errors) == 0 {
		return -1
	}
	f, ok := r.Errors[0].Extensions[key].(float64)
	if !ok {
		return -1
	}
	return int(f)
}

func TestLimitsRefuseBombsBeforeSQL(t *testing.T) {
	graphtest.RunWith(t, limDefaults, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		o := owner.Caller("acme")
		p := e.CreateProject(o, "Rocket")
		hundredIDs := make([]string, 100)
		for i := range hundredIDs {
			hundredIDs[i] = p
		}
		tests := []struct {
			name  string
			query string
			vars  map[string]any
			code  string
			ext   map[string]func(int) bool // extension → check of its value
		}{
			{"depth bomb", limDeep(6), nil, "QUERY_TOO_DEEP", map[string]func(int) bool{
				"depth": func(n int) bool { return n == 28 }, "limit": func(n int) bool { return n == 15 }}},
			{"depth just over", "{" + limFifteen("project { id }") + "}",
				nil, "QUERY_TOO_DEEP", map[string]func(int) bool{"depth": func(n int) bool { return n == 16 }}},
			{"complexity bomb", `{ projects(first: 100) { edges { node { tasks(first: 100) { edges { node { comments(first: 100) { edges { node { id body } } } } } } } } } }`,
				nil, "QUERY_TOO_COMPLEX", map[string]func(int) bool{
					"complexity": func(n int) bool { return n > 250_000 }, "limit": func(n int) bool { return n == 250_000 }}},
			{"complexity bomb in variables", `query($n: Int) { projects(first: $n) { edges { node { tasks(first: $n) { edges { node { comments(first: $n) { edges { node { id } } } } } } } } } }`,
				map[string]any{"n": 100}, "QUERY_TOO_COMPLEX", map[string]func(int) bool{"complexity": func(n int) bool { return n > 250_000 }}},
			{"complexity bomb through nodes", `query($ids: [ID!]!) { nodes(ids: $ids) { ... on Project { tasks(first: 100) { edges { node { comments(first: 100) { edges { node { id } } } } } } } } }`,
				map[string]any{"ids": hundredIDs}, "QUERY_TOO_COMPLEX", map[string]func(int) bool{"complexity": func(n int) bool { return n > 250_000 }}},
			{"alias bomb", "{" + limAliases(51) + " }", nil, "QUERY_TOO_COMPLEX", map[string]func(int) bool{
				"rootFields": func(n int) bool { return n == 51 }, "limit": func(n int) bool { return n == 50 }}},
			{"alias bomb through a fragment", "{ ...F } fragment F on Query {" + limAliases(51) + " }", nil, "QUERY_TOO_COMPLEX", nil},
			{"login twice", `mutation { a: login(input: {email: "owner@example.test", password: "guess one"}) { token } b: login(input: {email: "owner@example.test", password: "guess two"}) { token } }`,
				nil, "QUERY_TOO_COMPLEX", map[string]func(int) bool{"count": func(n int) bool { return n == 2 }}},
			{"register twice", `mutation { a: register(input: {email: "x1@example.test", password: "long enough", name: "x"}) { token } b: register(input: {email: "x2@example.test", password: "long enough", name: "x"}) { token } }`,
				nil, "QUERY_TOO_COMPLEX", nil},
			{"introspection alias bomb", "{ __schema { types {" + introspectionAliases(1000) + " } } }",
				nil, "QUERY_TOO_COMPLEX", map[string]func(int) bool{"complexity": func(n int) bool { return n > 250_000 }}},
			// Each fragment spreads the next twice: 2^40 fields in a
			// document of 2 KB, which the walks must not expand.
			{"fragment bomb at the root", "{ ...F0 }" + limFragmentBomb(40, "Query", "__typename"), nil, "QUERY_TOO_COMPLEX",
				map[string]func(int) bool{"rootFields": func(n int) bool { return n == 1<<40 }}},
			{"fragment bomb below a field", "{ projects(first: 1) { ...F0 } }" + limFragmentBomb(40, "ProjectConnection", "totalCount"), nil, "QUERY_TOO_COMPLEX",
				map[string]func(int) bool{"complexity": func(n int) bool { return n >= 1<<40 }}},
			{"parser token bomb", "{" + strings.Repeat(" __typename", 15_001) + " }", nil, "GRAPHQL_PARSE_FAILED", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.Counter.Reset()
				r := e.Do(o, tt.query, tt.vars)
				if n := e.Counter.Count(); n != 0 {
					t.Errorf("SQL statements: got %d, want 0 (refused before any ran)", n)
				}
				if r.Code() != tt.code || len(r.Errors) != 1 {
					t.Fatalf("got %q %+v, want one %s error", r.Code(), r.Errors, tt.code)
				}
				if string(r.Data) != "" && string(r.Data) != "null" {
					t.Errorf("data: got %s, want none", r.Data)
				}
				for key, ok := range tt.ext {
					if got := limExt(r, key); !ok(got) {
						t.Errorf("extensions.%s: got %d (%v)", key, got, r.Errors[0].Extensions)
					}
				}
			})
		}

		t.Run("batch", func(t *testing.T) {
			body := `[{"query": "{ currentTenant { id } }"}, {"query": "{ projects { totalCount } }"}]`
			e.Counter.Reset()
			got := e.Raw(o, http.MethodPost, "/graphql", http.Header{"Content-Type": {"application/json"}}, []byte(body))
			limCheckRaw(t, got, http.StatusBadRequest, "BAD_USER_INPUT")
			if n := e.Counter.Count(); n != 0 {
				t.Errorf("SQL statements: got %d, want 0", n)
			}
		})
		t.Run("oversized body", func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": `mutation($n: String!) { createProject(input: {name: $n}) { id } }`,
				"variables": map[string]any{"n": strings.Repeat("x", 1<<20)}})
			e.Counter.Reset()
			got := e.Raw(o, http.MethodPost, "/graphql", http.Header{"Content-Type": {"application/json"}}, body)
			limCheckRaw(t, got, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
			if n := e.Counter.Count(); n != 0 {
				t.Errorf("SQL statements: got %d, want 0", n)
			}
		})
		t.Run("at the limits", func(t *testing.T) {
			for _, q := range []string{"{" + limAliases(50) + " }", "{" + limFifteen("id") + "}"} {
				if r := e.Do(o, q, nil); len(r.Errors) > 0 {
					t.Errorf("%.60s…: got %+v, want it served", q, r.Errors)
				}
			}
		})
	})
}

// limCheckRaw checks a raw response's status and that it is a GraphQL error
// with the code.
func limCheckRaw(t *testing.T, got graphtest.RawResponse, status int, code string) {
	t.Helper()
	var r graphtest.Response
	if err := json.Unmarshal(got.Body, &r); err != nil {
		t.Fatalf("body: got %s, want a GraphQL error (%v)", got.Body, err)
	}
	if got.Status != status || r.Code() != code {
		t.Errorf("got %d %s, want %d with %s", got.Status, got.Body, status, code)
	}
}

// TestLoginAliasesCheckNoPassword: two logins in one operation are refused
// before either runs: the account's attempt budget is untouched.
func TestLoginAliasesCheckNoPassword(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			o := limDefaults
			o.LoginLimits = account.LoginLimits{PerAccount: ratelimit.New(ratelimit.Config{PerMinute: 0.01, Burst: 1})}
			testLoginAliases(t, graphtest.NewWithOptions(t, d, o))
		})
	}
}

func testLoginAliases(t *testing.T, e *graphtest.Env) {
	u := e.Register("Ada")
	login := fmt.Sprintf(`login(input: {email: %q, password: "correct horse battery"}) { token }`, u.Email)
	e.Counter.Reset()
	r := e.Do(graphtest.Caller{}, "mutation { a: "+login+" b: "+login+" }", nil)
	if r.Code() != "QUERY_TOO_COMPLEX" || e.Counter.Count() != 0 {
		t.Fatalf("two logins: got %q with %d statements, want QUERY_TOO_COMPLEX with none", r.Code(), e.Counter.Count())
	}
	// The one attempt of the budget is still there…
	var out struct{ Login struct{ Token string } }
	e.MustDo(graphtest.Caller{}, "mutation { "+login+" }", nil, &out)
	if out.Login.Token == "" {
		t.Fatal("login: got no token")
	}
	// … and now spent.
	if r := e.Do(graphtest.Caller{}, "mutation { "+login+" }", nil); r.Code() != "RATE_LIMITED" {
		t.Errorf("second login: got %q, want RATE_LIMITED (the budget holds one attempt)", r.Code())
	}
}

// TestWebsocketLimits: a websocket message over 64 KiB closes the
// connection; an eleventh subscription on one connection is refused while
// the first ten keep delivering.
func TestWebsocketLimits(t *testing.T) {
	graphtest.RunWith(t, limDefaults, func(t *testing.T, e *graphtest.Env) {
		owner, mia := e.Register("Owner"), e.Register("Mia")
		e.CreateTenant(owner, "acme")
		e.AddMember(owner, "acme", mia, "MEMBER")
		p := e.CreateProject(owner.Caller("acme"), "Rocket")
		idle := subscribers(t, e)

		t.Run("message over 64 KiB", func(t *testing.T) {
			conn := wsDial(t, e, initPayload(mia.Token, "acme"))
			if m, err := wsRead(t, conn); err != nil || m.Type != "connection_ack" {
				t.Fatalf("got %+v %v, want connection_ack", m, err)
			}
			big := map[string]any{"id": "big", "type": "subscribe", "payload": map[string]any{
				"query": "{ currentTenant { id } }", "variables": map[string]any{"pad": strings.Repeat("x", 65<<10)}}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = wsjson.Write(ctx, conn, big) // the server may close before reading it all
			for {
				m, err := wsRead(t, conn)
				if err != nil {
					if status := websocket.CloseStatus(err); status != websocket.StatusMessageTooBig && status != -1 {
						t.Errorf("close status: got %d (%v), want %d", status, err, websocket.StatusMessageTooBig)
					}
					break
				}
				if m.Type == "next" {
					t.Fatalf("got %+v, want the connection closed", m)
				}
			}
			// A message just under the limit is served.
			conn = wsDial(t, e, initPayload(mia.Token, "acme"))
			if m, err := wsRead(t, conn); err != nil || m.Type != "connection_ack" {
				t.Fatalf("got %+v %v, want connection_ack", m, err)
			}
			small := map[string]any{"id": "ok", "type": "subscribe", "payload": map[string]any{
				"query": "# " + strings.Repeat("x", 60<<10) + "\n{ currentTenant { slug } }"}}
			if err := wsjson.Write(ctx, conn, small); err != nil {
				t.Fatal(err)
			}
			if m, err := wsRead(t, conn); err != nil || m.Type != "next" || !strings.Contains(string(m.Payload), `"acme"`) {
				t.Errorf("60 KiB message: got %+v %v, want it served", m, err)
			}
		})

		t.Run("eleventh subscription", func(t *testing.T) {
			conn := wsDial(t, e, initPayload(mia.Token, "acme"))
			if m, err := wsRead(t, conn); err != nil || m.Type != "connection_ack" {
				t.Fatalf("got %+v %v, want connection_ack", m, err)
			}
			before := subscribers(t, e)
			ctx := context.Background()
			for i := 1; i <= 11; i++ {
				if err := wsjson.Write(ctx, conn, map[string]any{"id": fmt.Sprint(i), "type": "subscribe", "payload": map[string]any{"query": feedQuery}}); err != nil {
					t.Fatal(err)
				}
				if i <= 10 {
					waitSubscribers(t, e, before+i, 5*time.Second)
				}
			}
			// The eleventh is refused…
			limRefused(t, conn, "11")
			// … and the ten deliver.
			createAssignedTask(t, e, owner.Caller("acme"), p, "Fuel", mia.ID)
			got := map[string]bool{}
			for len(got) < 10 {
				m, err := wsRead(t, conn)
				if err != nil {
					t.Fatalf("after %d deliveries: %v", len(got), err)
				}
				if m.Type != "next" || !strings.Contains(string(m.Payload), "Fuel") {
					t.Fatalf("got %+v, want the notification", m)
				}
				got[m.ID] = true
			}
			for i := 1; i <= 10; i++ {
				if !got[fmt.Sprint(i)] {
					t.Errorf("subscription %d: got nothing", i)
				}
			}
			// Ending one frees its slot for another.
			if err := wsjson.Write(ctx, conn, map[string]any{"id": "3", "type": "complete"}); err != nil {
				t.Fatal(err)
			}
			waitSubscribers(t, e, before+9, 5*time.Second)
			if err := wsjson.Write(ctx, conn, map[string]any{"id": "12", "type": "subscribe", "payload": map[string]any{"query": feedQuery}}); err != nil {
				t.Fatal(err)
			}
			waitSubscribers(t, e, before+10, 5*time.Second)
		})

		t.Run("eleven at once", func(t *testing.T) {
			// The previous subtest's connection closes in its cleanup, and
			// its subscriptions end asynchronously: wait for them to go, or
			// they would be counted here.
			waitSubscribers(t, e, idle, 5*time.Second)
			conn := wsDial(t, e, initPayload(mia.Token, "acme"))
			if m, err := wsRead(t, conn); err != nil || m.Type != "connection_ack" {
				t.Fatalf("got %+v %v, want connection_ack", m, err)
			}
			before := subscribers(t, e)
			for i := 1; i <= 11; i++ {
				if err := wsjson.Write(context.Background(), conn, map[string]any{"id": fmt.Sprint(i), "type": "subscribe", "payload": map[string]any{"query": feedQuery}}); err != nil {
					t.Fatal(err)
				}
			}
			// Sent back to back they start concurrently: one of them, not
			// necessarily the last, is refused; the cap holds.
			limRefused(t, conn, "")
			waitSubscribers(t, e, before+10, 5*time.Second)
		})
	})
}

// limRefused reads the refusal of subscription id ("": any) with
// RATE_LIMITED, then its completion.
func limRefused(t *testing.T, conn *websocket.Conn, id string) {
	t.Helper()
	m, err := wsRead(t, conn)
	if err != nil || (id != "" && m.ID != id) || (m.Type != "error" && m.Type != "next") || !strings.Contains(string(m.Payload), "RATE_LIMITED") {
		t.Fatalf("got %+v %v, want subscription %q refused with RATE_LIMITED", m, err, id)
	}
	if c, err := wsRead(t, conn); err != nil || c.Type != "complete" || c.ID != m.ID {
		t.Fatalf("got %+v %v, want subscription %s completed", c, err, m.ID)
	}
}

// limFifteen is a selection 15 levels deep when leaf is one level.
func limFifteen(leaf string) string {
	return "projects(first: 1) { edges { node { tasks(first: 1) { edges { node { comments(first: 1) { edges { node { task { project { " +
		"tasks(first: 1) { edges { node { " + leaf + " } } } } } } } } } } } } } }"
}

// introspectionAliases is n aliased `fields { name }` for a __Type.
func introspectionAliases(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " f%d: fields { name }", i)
	}
	return b.String()
}

// A page size past 100, however large, is BAD_USER_INPUT naming it, as the
// README says, not QUERY_TOO_COMPLEX: the complexity limit counts it as 100
// (it never runs). An operation too complex even so is still refused as such.
func TestHugePageSizeIsBadInput(t *testing.T) {
	graphtest.RunWith(t, limDefaults, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		o := owner.Caller("acme")
		for _, tc := range []struct {
			name, query string
			vars        map[string]any
			code, field string
		}{
			{"first 2^31", `{ projects(first: 2147483648) { totalCount } }`, nil, "BAD_USER_INPUT", "projects.first"},
			{"last 10^12", `{ projects(last: 1000000000000) { totalCount } }`, nil, "BAD_USER_INPUT", "projects.last"},
			{"first 100000 through a variable", `query($n: Int) { projects(first: $n) { totalCount } }`, map[string]any{"n": 100000}, "BAD_USER_INPUT", "projects.first"},
			{"as a string of digits", `query($n: Int) { projects(first: $n) { totalCount } }`, map[string]any{"n": "100000"}, "BAD_USER_INPUT", "projects.first"},
			{"nested", `{ projects(first: 100) { edges { node { tasks(first: 100000) { totalCount } } } } }`, nil, "BAD_USER_INPUT", "tasks.first"},
			{"too complex even at 100 each", `{ projects(first: 1000) { edges { node { tasks(first: 1000) { edges { node { comments(first: 1000) { edges { node { id } } } } } } } } } }`,
				nil, "QUERY_TOO_COMPLEX", ""},
		} {
			r := e.Do(o, tc.query, tc.vars)
			var field string
			if len(r.Errors) == 1 {
				field, _ = r.Errors[0].Extensions["field"].(string)
			}
			if len(r.Errors) != 1 || r.Code() != tc.code || (tc.field != "" && field != tc.field) {
				t.Errorf("%s: got %+v, want %s %s", tc.name, r.Errors, tc.code, tc.field)
			}
		}
	})
}
