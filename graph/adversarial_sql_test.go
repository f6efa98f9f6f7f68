package graph_test

// The adversarial suite: SQL metacharacters in every string argument of
// every mutation and in every string filter. A value is stored verbatim
// when it is valid, or refused with its documented code; filters match
// literally (no wildcard or quote escapes); the tables are intact after.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
)

// advPayloads are the hostile strings. All but the one with NUL are valid
// names, titles and bodies.
var advPayloads = []string{
	`'; DROP TABLE projects; --`,
	`" OR 1=1 --`,
	`' OR '1'='1`,
	`%`,
	`_`,
	`\`,
	`\%\_`,
	`%' OR name LIKE '%`,
	`); DELETE FROM tasks; --`,
	`$1 ? :name @p1`,
	`*/ SELECT 1 /*`,
	`'||(SELECT sqlite_version())||'`,
	`'; SELECT pg_sleep(10); --`,
	`[a-z]* ^$ .*`,
	"Ünïcødé 🚀 \u202etxt\u200b ﷽",
	"line\nbreak\ttab\r\n",
	"a\x00b",
}

func advValid(p string) bool { return !strings.ContainsRune(p, 0) }

// advOneLine reports whether p may be a name or a title: one line, no tab
// (internal/validate's Line).
func advOneLine(p string) bool { return !strings.ContainsAny(p, "\n\r\t") }

// advNamed reports whether the stored use is a name or a title.
func advNamed(use string) bool {
	return strings.HasSuffix(use, " name") || strings.HasSuffix(use, " title")
}

// advStoredUse is a string argument whose value is stored: set puts $v there
// and returns the object's ID at idPath; reread reads the value back by $id.
type advStoredUse struct {
	name, set string
	idPath    []string
	reread    string // its data holds the value as its only string leaf named "v"
}

var advStoredUses = []advStoredUse{
	{"createProject name", `mutation($v: String!) { createProject(input: {name: $v}) { id } }`, []string{"createProject", "id"},
		`query($id: ID!) { node(id: $id) { ... on Project { v: name } } }`},
	{"createProject description", `mutation($v: String) { createProject(input: {name: "d", description: $v}) { id } }`, []string{"createProject", "id"},
		`query($id: ID!) { node(id: $id) { ... on Project { v: description } } }`},
	{"updateProject name", `mutation($v: String, $p: ID!) { updateProject(id: $p, input: {name: $v}) { id } }`, []string{"updateProject", "id"},
		`query($id: ID!) { node(id: $id) { ... on Project { v: name } } }`},
	{"updateProject description", `mutation($v: String, $p: ID!) { updateProject(id: $p, input: {description: $v}) { id } }`, []string{"updateProject", "id"},
		`query($id: ID!) { node(id: $id) { ... on Project { v: description } } }`},
	{"createTask title", `mutation($v: String!, $p: ID!) { createTask(input: {projectID: $p, title: $v}) { id } }`, []string{"createTask", "id"},
		`query($id: ID!) { node(id: $id) { ... on Task { v: title } } }`},
	{"createTask description", `mutation($v: String, $p: ID!) { createTask(input: {projectID: $p, title: "d", description: $v}) { id } }`, []string{"createTask", "id"},
		`query($id: ID!) { node(id: $id) { ... on Task { v: description } } }`},
	{"updateTask title", `mutation($v: String, $t: ID!) { updateTask(id: $t, input: {title: $v}) { id } }`, []string{"updateTask", "id"},
		`query($id: ID!) { node(id: $id) { ... on Task { v: title } } }`},
	{"updateTask description", `mutation($v: String, $t: ID!) { updateTask(id: $t, input: {description: $v}) { id } }`, []string{"updateTask", "id"},
		`query($id: ID!) { node(id: $id) { ... on Task { v: description } } }`},
	{"createComment body", `mutation($v: String!, $t: ID!) { createComment(input: {taskID: $t, body: $v}) { id } }`, []string{"createComment", "id"},
		`query($id: ID!) { node(id: $id) { ... on Comment { v: body } } }`},
	{"updateComment body", `mutation($v: String!, $c: ID!) { updateComment(id: $c, input: {body: $v}) { id } }`, []string{"updateComment", "id"},
		`query($id: ID!) { node(id: $id) { ... on Comment { v: body } } }`},
	{"createTenant name", `mutation($v: String!, $slug: String!) { createTenant(input: {name: $v, slug: $slug}) { id } }`, []string{"createTenant", "id"},
		`query($id: ID!) { node(id: $id) { ... on Tenant { v: name } } }`},
	{"updateTenantConfig slackWebhookURL", `mutation($v: String) { updateTenantConfig(input: {slackWebhookURL: $v}) { id } }`, []string{"updateTenantConfig", "id"},
		`{ currentTenant { config { v: slackWebhookURL } } }`},
}

// advPath reads the string at path in data.
func advPath(data json.RawMessage, path ...string) string {
	var v any
	_ = json.Unmarshal(data, &v)
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func TestAdversarialSQLMetacharactersInMutations(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newAdvInputWorld(t, e)
		for i, p := range advPayloads {
			t.Run(fmt.Sprintf("%q", p), func(t *testing.T) {
				for _, use := range advStoredUses {
					value := p
					if use.name == "updateTenantConfig slackWebhookURL" {
						value = "https://127.0.0.1:9/hook?q=" + p
					}
					vars := w.vars(value)
					vars["slug"] = fmt.Sprintf("sql-%d", i)
					r := w.a.do(t, w.o, use.set, vars)
					// A URL may hold anything printable; control characters make
					// it no URL.
					valid := advValid(p) && !(use.name == "updateTenantConfig slackWebhookURL" && strings.ContainsAny(p, "\n\r\t")) &&
						!(advNamed(use.name) && !advOneLine(p)) // a name or a title is one line
					if !valid {
						if r.Code() != "BAD_USER_INPUT" {
							t.Errorf("%s: got %q %s, want BAD_USER_INPUT", use.name, r.Code(), r.Data)
						}
						continue
					}
					if len(r.Errors) > 0 {
						t.Errorf("%s: got %+v, want it stored", use.name, r.Errors)
						continue
					}
					in := w.o
					if use.name == "createTenant name" {
						in = graphtest.Caller{Token: w.owner.Token, TenantSlug: vars["slug"].(string)}
					}
					got := w.a.do(t, in, use.reread, map[string]any{"id": advPath(r.Data, use.idPath...)})
					if stored := advLeaf(t, got.Data); stored != value {
						t.Errorf("%s: stored %q, want %q verbatim", use.name, stored, value)
					}
				}

				// Accounts: the name and the password are kept verbatim, the
				// email is checked; a login with the payload finds nothing.
				email := fmt.Sprintf("sql%d@example.test", i)
				password := p + " (long enough)"
				r := w.a.do(t, graphtest.Caller{}, `mutation($e: String!, $p: String!, $n: String!) { register(input: {email: $e, password: $p, name: $n}) { token } }`,
					map[string]any{"e": email, "p": password, "n": p})
				if !advValid(p) || !advOneLine(p) { // the name is one line
					if r.Code() != "BAD_USER_INPUT" {
						t.Errorf("register: got %q, want BAD_USER_INPUT", r.Code())
					}
				} else if len(r.Errors) > 0 {
					t.Errorf("register: got %+v, want it stored", r.Errors)
				} else {
					login := w.a.do(t, graphtest.Caller{}, `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }`,
						map[string]any{"e": email, "p": password})
					token := advPath(login.Data, "login", "token")
					me := w.a.do(t, graphtest.Caller{Token: token}, `{ viewer { v: name } }`, nil)
					if got := advLeaf(t, me.Data); got != p {
						t.Errorf("register name: stored %q, want %q verbatim (login %+v)", got, p, login.Errors)
					}
				}
				for _, use := range []struct{ name, query string }{
					{"login email", `mutation($v: String!) { login(input: {email: $v, password: "correct horse battery"}) { token } }`},
					{"login password", `mutation($v: String!) { login(input: {email: "owner@example.test", password: $v}) { token } }`},
				} {
					want := "UNAUTHENTICATED"
					if !advValid(p) {
						want = "BAD_USER_INPUT" // NUL is refused before anything runs
					}
					if r := w.a.do(t, graphtest.Caller{}, use.query, map[string]any{"v": p}); r.Code() != want {
						t.Errorf("%s: got %q %s, want %s", use.name, r.Code(), r.Data, want)
					}
				}
				for _, use := range []struct{ name, query string }{
					{"register email", `mutation($v: String!) { register(input: {email: $v, password: "long enough", name: "x"}) { token } }`},
					{"createTenant slug", `mutation($v: String!) { createTenant(input: {name: "x", slug: $v}) { id } }`},
					{"addMember email", `mutation($v: String!) { addMember(input: {email: $v, role: MEMBER}) { id } }`},
					{"updateTenantConfig slackWebhookURL", `mutation($v: String) { updateTenantConfig(input: {slackWebhookURL: $v}) { id } }`},
				} {
					if r := w.a.do(t, w.o, use.query, map[string]any{"v": p}); r.Code() != "BAD_USER_INPUT" {
						t.Errorf("%s: got %q %s, want BAD_USER_INPUT", use.name, r.Code(), r.Data)
					}
				}
			})
		}
		advTablesIntact(t, e, w)
		w.a.finish(t)
	})
}

// advLeaf returns the string named "v" anywhere in data.
func advLeaf(t *testing.T, data json.RawMessage) string {
	t.Helper()
	var found string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				if s, ok := y.(string); ok && k == "v" {
					found = s
				}
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	walk(v)
	return found
}

// advTablesIntact checks that every table answers and that the world's
// objects are all there.
func advTablesIntact(t *testing.T, e *graphtest.Env, w *advInputWorld) {
	t.Helper()
	advRows(t, e) // every table answers
	for _, id := range []string{w.project, w.task, w.comment, w.membership} {
		var out struct{ Node *struct{ ID string } }
		isoMust(t, e, w.o, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}, &out)
		if out.Node == nil {
			t.Errorf("node %s: gone", id)
		}
	}
}

// advStringFilters lists the String fields (and [String!] fields) of a
// where-input type.
func advStringFilters(t *testing.T, e *graphtest.Env, c graphtest.Caller, typ string) (scalars, lists []string) {
	t.Helper()
	var out struct {
		Type struct {
			InputFields []struct {
				Name string
				Type struct {
					Kind, Name string
					OfType     *struct {
						Kind, Name string
						OfType     *struct{ Kind, Name string }
					}
				}
			}
		}
	}
	isoMust(t, e, c, `query($n: String!) { type: __type(name: $n) { inputFields { name type { kind name ofType { kind name ofType { kind name } } } } } }`,
		map[string]any{"n": typ}, &out)
	for _, f := range out.Type.InputFields {
		switch {
		case f.Type.Kind == "SCALAR" && f.Type.Name == "String":
			scalars = append(scalars, f.Name)
		case f.Type.Kind == "LIST" && f.Type.OfType != nil && f.Type.OfType.OfType != nil && f.Type.OfType.OfType.Name == "String":
			lists = append(lists, f.Name)
		}
	}
	if len(scalars) == 0 {
		t.Fatalf("%s: found no string filters", typ)
	}
	return scalars, lists
}

func TestAdversarialSQLMetacharactersInFilters(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newAdvInputWorld(t, e)
		// Projects named after each valid payload (and a few decoys), so
		// that a filter that treats % or _ as a wildcard, or a quote as the
		// end of a string, finds more than it should.
		for _, p := range append(slices.Clone(advPayloads), "100% done", "snake_case", `C:\dir`, "O'Brien", "drop table") {
			if advValid(p) {
				if advOneLine(p) { // a name or a title
					e.CreateProject(w.o, p)
					e.CreateTask(w.o, w.project, p)
				}
				e.CreateComment(w.o, w.task, p)
			}
		}
		var all struct {
			Projects struct {
				Edges []struct{ Node struct{ ID, Name string } }
			}
		}
		isoMust(t, e, w.o, `{ projects(first: 100) { edges { node { id name } } } }`, nil, &all)
		before := advRows(t, e)

		connections := []struct{ typ, query string }{
			{"ProjectWhereInput", `query($w: ProjectWhereInput) { list: projects(first: 100, where: $w) { totalCount edges { node { id } } } }`},
			{"TaskWhereInput", `query($w: TaskWhereInput) { list: tasks(first: 100, where: $w) { totalCount edges { node { id } } } }`},
			{"CommentWhereInput", `query($w: CommentWhereInput, $t: ID!) { node(id: $t) { ... on Task { list: comments(first: 100, where: $w) { totalCount edges { node { id } } } } } }`},
			{"ActivityLogWhereInput", `query($w: ActivityLogWhereInput) { list: activityLogs(first: 100, where: $w) { totalCount edges { node { id } } } }`},
		}
		for _, conn := range connections {
			scalars, lists := advStringFilters(t, e, w.o, conn.typ)
			t.Run(conn.typ, func(t *testing.T) {
				for _, p := range advPayloads {
					filters := map[string]any{}
					for _, f := range scalars {
						filters[f] = p
					}
					for _, f := range lists {
						filters[f] = []string{p, "x"}
					}
					for f, v := range filters {
						r := w.a.do(t, w.o, conn.query, map[string]any{"w": map[string]any{f: v}, "t": w.task})
						if !advValid(p) {
							if r.Code() != "BAD_USER_INPUT" {
								t.Errorf("%s %q: got %q, want BAD_USER_INPUT", f, p, r.Code())
							}
						} else if len(r.Errors) > 0 {
							t.Errorf("%s %q: got %+v, want it served", f, p, r.Errors)
						}
					}
				}
			})
		}

		// Name filters match literally.
		matchers := map[string]func(name, p string) bool{
			"name":          func(n, p string) bool { return n == p },
			"nameContains":  strings.Contains,
			"nameHasPrefix": strings.HasPrefix,
			"nameHasSuffix": strings.HasSuffix,
			"nameNEQ":       func(n, p string) bool { return n != p },
		}
		for f, match := range matchers {
			for _, p := range advPayloads {
				if !advValid(p) {
					continue
				}
				var want []string
				for _, edge := range all.Projects.Edges {
					if match(edge.Node.Name, p) {
						want = append(want, edge.Node.ID)
					}
				}
				slices.Sort(want)
				r := w.a.do(t, w.o, `query($w: ProjectWhereInput) { projects(first: 100, where: $w) { edges { node { id } } } }`,
					map[string]any{"w": map[string]any{f: p}})
				got, _ := isoCollect(t, r.Data)
				if !slices.Equal(got, want) {
					t.Errorf("%s %q: got %d projects %v, want %d %v", f, p, len(got), got, len(want), want)
				}
			}
		}
		if after := advRows(t, e); after != before {
			t.Errorf("rows: got %s after the filters, want %s", after, before)
		}
		advTablesIntact(t, e, w)
		w.a.finish(t)
	})
}
