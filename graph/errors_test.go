package graph_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"tenantgraph/ent/project"
	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
)

// errLeaks are fragments of SQL, driver and runtime text that must never
// reach a client.
var errLeaks = []string{
	"sql", "SELECT", "INSERT", "UPDATE ", "DELETE ", "database", "table", "column", "constraint",
	"pq:", "sqlite", "SQLITE", "postgres", "driver", "goroutine", "panic", ".go:", "tenantgraph/",
	"no such", "closed", "relation",
}

// errsCheckMasked fails unless every error of r is a masked internal error
// that gives nothing away.
func errsCheckMasked(t *testing.T, r *graphtest.Response) {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("got no errors (data %s), want INTERNAL_SERVER_ERROR", r.Data)
	}
	for _, e := range r.Errors {
		if e.Code() != "INTERNAL_SERVER_ERROR" {
			t.Errorf("code: got %q (%q), want INTERNAL_SERVER_ERROR", e.Code(), e.Message)
		}
		if e.Message != "internal server error" {
			t.Errorf("message: got %q, want %q", e.Message, "internal server error")
		}
	}
	raw, err := json.Marshal(r.Errors)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range errLeaks {
		if strings.Contains(string(raw), leak) {
			t.Errorf("errors %s contain %q", raw, leak)
		}
	}
}

// With the database gone, every operation is a masked internal error; the
// detail goes to the server's log.
func TestClosedDatabaseIsMasked(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "acme")
		c := alice.Caller("acme")
		p := e.CreateProject(c, "Rocket")
		if err := e.DB.SQL.Close(); err != nil {
			t.Fatalf("closing the database: %v", err)
		}

		tests := []struct {
			name   string
			caller graphtest.Caller
			query  string
			vars   map[string]any
		}{
			{"anonymous currentTenant", graphtest.Caller{}, `{ currentTenant { id } }`, nil},
			{"projects", c, `{ projects { totalCount edges { node { id name } } } }`, nil},
			{"node", c, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": p}},
			{"viewer", c, `{ viewer { id memberships { role } } }`, nil},
			{"register", graphtest.Caller{}, `mutation { register(input: {email: "bob@example.com", password: "password1", name: "Bob"}) { token } }`, nil},
			{"login", graphtest.Caller{}, `mutation { login(input: {email: "alice@example.test", password: "correct horse battery"}) { token } }`, nil},
			{"createProject", c, `mutation { createProject(input: {name: "Boat"}) { id } }`, nil},
			{"transitionProject", c, `mutation($id: ID!) { transitionProject(id: $id, to: SUBMITTED) { id } }`, map[string]any{"id": p}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(e.Logs())
				r := e.Do(tt.caller, tt.query, tt.vars)
				errsCheckMasked(t, r)
				if logged := e.Logs()[before:]; !strings.Contains(logged, "database is closed") {
					t.Errorf("log: got %q, want the driver's detail (\"database is closed\")", logged)
				}
			})
		}
	})
}

// A failing statement inside a resolver (here: a table gone missing) is
// masked for the client and logged in full, for queries and mutations.
func TestResolverDatabaseErrorIsMasked(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "acme")
		c := alice.Caller("acme")
		p := e.CreateProject(c, "Rocket")
		task := e.CreateTask(c, p, "Fuel")
		if _, err := e.DB.SQL.Exec("DROP TABLE comments"); err != nil {
			t.Fatalf("dropping comments: %v", err)
		}

		tests := []struct {
			name  string
			query string
			vars  map[string]any
		}{
			{"nested connection", `{ tasks { edges { node { title comments { totalCount } } } } }`, nil},
			{"node", `query($id: ID!) { node(id: $id) { ... on Task { comments { edges { node { body } } } } } }`, map[string]any{"id": task}},
			{"createComment", `mutation($id: ID!) { createComment(input: {taskID: $id, body: "hi"}) { id } }`, map[string]any{"id": task}},
			{"deleteProject (cascades to comments)", `mutation($id: ID!) { deleteProject(id: $id) }`, map[string]any{"id": p}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(e.Logs())
				r := e.Do(c, tt.query, tt.vars)
				errsCheckMasked(t, r)
				if logged := e.Logs()[before:]; !strings.Contains(logged, "comments") {
					t.Errorf("log: got %q, want the statement's error naming the comments table", logged)
				}
			})
		}

		// The failed deleteProject wrote nothing: the project is still there.
		var out struct{ Projects struct{ TotalCount int } }
		pgMust(t, e, c, `{ projects { totalCount } }`, nil, &out)
		if out.Projects.TotalCount != 1 {
			t.Fatalf("projects after the failed delete: got %d, want 1", out.Projects.TotalCount)
		}
	})
}

// IDs that this server never issued are bad input wherever they appear.
func TestMalformedIDs(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "acme")
		c := alice.Caller("acme")
		p := e.CreateProject(c, "Rocket")

		bad := []struct{ name, id string }{
			{"punctuation", "!!!"},
			{"empty", ""},
			{"base64 of other text", base64.RawURLEncoding.EncodeToString([]byte("hello world"))},
			{"base64 of a bare number", base64.RawURLEncoding.EncodeToString([]byte("1"))},
			{"raw integer", "1"},
			{"zero", errsGlobalIDOf("gid:0")},
			{"negative", errsGlobalIDOf("gid:-1")},
			{"padded", base64.URLEncoding.EncodeToString([]byte("gid:1"))},
			// The base64 decoder skips newlines: a second spelling of a real ID.
			{"real ID with an embedded newline", p[:4] + "\n" + p[4:]},
		}
		uses := []struct {
			name, query string
			vars        func(id string) map[string]any
		}{
			{"node", `query($id: ID!) { node(id: $id) { id } }`, func(id string) map[string]any { return map[string]any{"id": id} }},
			{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id } }`, func(id string) map[string]any { return map[string]any{"id": id} }},
			{"where id", `query($id: ID!) { projects(where: {id: $id}) { totalCount } }`, func(id string) map[string]any { return map[string]any{"id": id} }},
			{"updateProject", `mutation($id: ID!) { updateProject(id: $id, input: {name: "x"}) { id } }`, func(id string) map[string]any { return map[string]any{"id": id} }},
			{"transitionProject", `mutation($id: ID!) { transitionProject(id: $id, to: SUBMITTED) { id } }`, func(id string) map[string]any { return map[string]any{"id": id} }},
			{"deleteProject", `mutation($id: ID!) { deleteProject(id: $id) }`, func(id string) map[string]any { return map[string]any{"id": id} }},
			{"createTask projectID", `mutation($id: ID!) { createTask(input: {projectID: $id, title: "x"}) { id } }`, func(id string) map[string]any { return map[string]any{"id": id} }},
			{"createTask assigneeID", `mutation($p: ID!, $id: ID!) { createTask(input: {projectID: $p, title: "x", assigneeID: $id}) { id } }`,
				func(id string) map[string]any { return map[string]any{"p": p, "id": id} }},
			{"createComment taskID", `mutation($id: ID!) { createComment(input: {taskID: $id, body: "x"}) { id } }`, func(id string) map[string]any { return map[string]any{"id": id} }},
			{"removeMember", `mutation($id: ID!) { removeMember(id: $id) }`, func(id string) map[string]any { return map[string]any{"id": id} }},
		}
		for _, b := range bad {
			for _, u := range uses {
				t.Run(b.name+"/"+u.name, func(t *testing.T) {
					r := e.Do(c, u.query, u.vars(b.id))
					if got := r.Code(); got != "BAD_USER_INPUT" {
						t.Fatalf("code: got %q (errors %+v, data %s), want BAD_USER_INPUT", got, r.Errors, r.Data)
					}
				})
			}
		}
		t.Run("inline literal", func(t *testing.T) {
			r := e.Do(c, `{ node(id: "!!!") { id } }`, nil)
			if got := r.Code(); got != "BAD_USER_INPUT" {
				t.Fatalf("code: got %q (errors %+v), want BAD_USER_INPUT", got, r.Errors)
			}
		})

		// Nothing was written by any of them.
		var out struct {
			Projects struct {
				TotalCount int
				Edges      []struct{ Node struct{ Name, Status string } }
			}
			Tasks struct{ TotalCount int }
		}
		pgMust(t, e, c, `{ projects { totalCount edges { node { name status } } } tasks { totalCount } }`, nil, &out)
		if out.Projects.TotalCount != 1 || out.Projects.Edges[0].Node.Name != "Rocket" || out.Projects.Edges[0].Node.Status != "DRAFT" || out.Tasks.TotalCount != 0 {
			t.Fatalf("got %+v, want the one untouched DRAFT project Rocket and no tasks", out)
		}
	})
}

func errsGlobalIDOf(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }

// The parser's and the validator's own codes stay as they are.
func TestParseAndValidationCodes(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "acme")
		c := alice.Caller("acme")
		p := e.CreateProject(c, "Rocket")

		tests := []struct {
			name, query string
			vars        map[string]any
			want        string
		}{
			{"unclosed brace", `{ projects {`, nil, "GRAPHQL_PARSE_FAILED"},
			{"stray token", `{ projects } }`, nil, "GRAPHQL_PARSE_FAILED"},
			{"bad string", `{ node(id: "abc) { id } }`, nil, "GRAPHQL_PARSE_FAILED"},
			{"empty document (gqlgen: no operation provided)", ``, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown field", `{ projects { bogus } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown root field", `{ secrets }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown argument", `{ projects(limit: 5) { totalCount } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown input field", `mutation { createProject(input: {name: "x", owner: "me"}) { id } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"invalid enum literal", `mutation($id: ID!) { transitionProject(id: $id, to: DONE) { id } }`, map[string]any{"id": p}, "GRAPHQL_VALIDATION_FAILED"},
			{"enum as a string literal", `mutation($id: ID!) { transitionProject(id: $id, to: "APPROVED") { id } }`, map[string]any{"id": p}, "GRAPHQL_VALIDATION_FAILED"},
			{"invalid enum variable", `mutation($id: ID!, $to: ProjectStatus!) { transitionProject(id: $id, to: $to) { id } }`, map[string]any{"id": p, "to": "DONE"}, "GRAPHQL_VALIDATION_FAILED"},
			{"invalid enum in where", `{ tasks(where: {priority: CRITICAL}) { totalCount } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"invalid orderBy field", `{ projects(orderBy: {field: PRIORITY}) { totalCount } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"missing required argument", `mutation { transitionProject(to: APPROVED) { id } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"missing required variable", `mutation($id: ID!) { deleteProject(id: $id) }`, nil, "GRAPHQL_VALIDATION_FAILED"},
			{"wrong variable type", `query($n: Int) { projects(first: $n) { totalCount } }`, map[string]any{"n": "ten"}, "GRAPHQL_VALIDATION_FAILED"},
			{"first as a string literal", `{ projects(first: "10") { totalCount } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(c, tt.query, tt.vars)
				if got := r.Code(); got != tt.want {
					t.Fatalf("code: got %q (errors %+v), want %s", got, r.Errors, tt.want)
				}
				if string(r.Data) != "" && string(r.Data) != "null" {
					t.Errorf("data: got %s, want none", r.Data)
				}
			})
		}

		// A document of several operations says which to name, or that
		// the one named is not in it (gqlgen said "operation  not found").
		const two = `query A { viewer { id } } query B { viewer { id } }`
		for _, tc := range []struct{ name, want string }{
			{"", "the document has 2 operations: name the one to run in operationName"},
			{"C", `the document has no operation named "C"`},
		} {
			r := e.DoOperation(c, two, tc.name, nil)
			if r.Code() != "GRAPHQL_VALIDATION_FAILED" || r.Errors[0].Message != tc.want {
				t.Errorf("operationName %q: got %s %+v, want GRAPHQL_VALIDATION_FAILED %q", tc.name, r.Code(), r.Errors, tc.want)
			}
		}

		// The project is untouched by the refused mutations.
		var out struct{ Node struct{ Status string } }
		pgMust(t, e, c, `query($id: ID!) { node(id: $id) { ... on Project { status } } }`, map[string]any{"id": p}, &out)
		if out.Node.Status != "DRAFT" {
			t.Fatalf("status: got %q, want DRAFT", out.Node.Status)
		}
	})
}

// A value of the wrong type is refused without being quoted back: a
// password or webhook URL sent unquoted, in a list or as an object, an enum
// value misspelt, a variable outside its enum. The message still says what
// the value had to be (and, with suggestions on, which enum value was
// meant).
func TestValidationErrorsQuoteNoValue(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, viewer := e.Register("Owner"), e.Register("Viewer")
		e.CreateTenant(owner, "acme")
		membership := e.AddMember(owner, "acme", viewer, "VIEWER")
		c := owner.Caller("acme")
		const secret = "SECRET"
		tests := []struct {
			name, query string
			vars        map[string]any
			want        string // the whole message
		}{
			{"unquoted password", `mutation { login(input: {email: "x", password: hunter2SECRET}) { token } }`, nil,
				"String cannot represent a non string value"},
			{"password in a list", `mutation { login(input: {email: "x", password: ["pw4SECRETabc"]}) { token } }`, nil,
				"String cannot represent a non string value"},
			{"password as an object", `mutation { login(input: {email: "x", password: {p: "SECRET"}}) { token } }`, nil,
				`Field "p" is not defined by type "String".`},
			{"password as a number", `mutation { login(input: {email: "x", password: 12345}) { token } }`, nil,
				"String cannot represent a non string value"},
			{"unquoted webhook", `mutation { updateTenantConfig(input: {slackWebhookURL: https_SECRETHOOK}) { id } }`, nil,
				"String cannot represent a non string value"},
			{"an input given as a string", `mutation { login(input: "SECRET") { token } }`, nil,
				`Expected value of type "LoginInput!".`},
			{"a string for an Int", `{ projects(first: "SECRET") { totalCount } }`, nil,
				"Int cannot represent non-integer value"},
			{"a string for a Boolean", `{ projects(where: {descriptionIsNil: "SECRET"}) { totalCount } }`, nil,
				"Boolean cannot represent a non boolean value"},
			{"a string for an enum", `mutation($id: ID!) { updateMemberRole(id: $id, role: "SECRET") { id } }`, map[string]any{"id": membership},
				`Enum "Role!" cannot represent non-enum value.`},
			{"a string for an enum, suggested", `mutation($id: ID!) { updateMemberRole(id: $id, role: "OWNER SECRET Did you mean the enum value \"X\"?") { id } }`,
				map[string]any{"id": membership}, `Enum "Role!" cannot represent non-enum value.`},
			{"no such enum value", `mutation($id: ID!) { updateMemberRole(id: $id, role: SECRET) { id } }`, map[string]any{"id": membership},
				`Value does not exist in "Role!" enum.`},
			{"no such enum value, suggested", `mutation($id: ID!) { updateMemberRole(id: $id, role: OWNERS) { id } }`, map[string]any{"id": membership},
				`Value does not exist in "Role!" enum. Did you mean the enum value "OWNER"?`},
			{"a variable outside its enum", `mutation($id: ID!, $r: Role!) { updateMemberRole(id: $id, role: $r) { id } }`,
				map[string]any{"id": membership, "r": "hunter2SECRET"}, "not a valid Role"},
			{"null for a non-null input (no value to hide)", `mutation { login(input: null) { token } }`, nil,
				`Expected value of type "LoginInput!", found null.`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(c, tt.query, tt.vars)
				if len(r.Errors) != 1 || r.Code() != "GRAPHQL_VALIDATION_FAILED" {
					t.Fatalf("got %+v, want one GRAPHQL_VALIDATION_FAILED", r.Errors)
				}
				if got := r.Errors[0].Message; got != tt.want {
					t.Errorf("message: got %q, want %q", got, tt.want)
				}
				if raw, _ := json.Marshal(r.Errors); strings.Contains(string(raw), secret) {
					t.Errorf("errors %s quote the value", raw)
				}
			})
		}
	})
}

// With suggestions off (production), the validator's other rule for values
// quotes none either.
func TestValidationErrorsQuoteNoValueWithoutSuggestions(t *testing.T) {
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.DisableSuggestions = true }}, func(t *testing.T, e *graphtest.Env) {
		for query, want := range map[string]string{
			`mutation { login(input: {email: "x", password: hunter2SECRET}) { token } }`: "String cannot represent a non string value",
			`{ projects(orderBy: {field: SECRET}) { totalCount } }`:                      `Value does not exist in "ProjectOrderField!" enum.`,
		} {
			r := e.Do(graphtest.Caller{}, query, nil)
			if len(r.Errors) != 1 || r.Code() != "GRAPHQL_VALIDATION_FAILED" || r.Errors[0].Message != want {
				t.Errorf("%s: got %+v, want GRAPHQL_VALIDATION_FAILED %q", query, r.Errors, want)
			}
		}
	})
}

// A JSON number in the variables is checked against the variable's type,
// at any depth: a String, Boolean, enum or input object takes none (a
// number was taken for the String "1e300" inside an input object), and an
// Int says what is wrong with one it does not take (a fraction, past 64
// bits, an exponent) rather than "cannot use value 0 as Int". Integers keep
// every digit.
func TestVariableNumbersAreCheckedAgainstTheirTypes(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		c := owner.Caller("acme")
		const (
			createProject = `mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }`
			page          = `query($n: Int) { projects(first: $n) { totalCount } }`
		)
		n := func(s string) json.Number { return json.Number(s) }
		tests := []struct {
			name, query string
			vars        map[string]any
			want        string // the message
		}{
			{"a number for a String in an input", createProject, map[string]any{"i": map[string]any{"name": n("1e300")}},
				"variable.i.name must be a String, not a number: send it as a JSON string"},
			{"an integer for a String in an input", `mutation($i: RegisterInput!) { register(input: $i) { token } }`,
				map[string]any{"i": map[string]any{"email": "n@example.test", "name": "N", "password": n("12345678")}},
				"variable.i.password must be a String, not a number: send it as a JSON string"},
			{"a number in a list of Strings", `query($w: ProjectWhereInput) { projects(where: $w) { totalCount } }`,
				map[string]any{"w": map[string]any{"nameIn": []any{"a", n("2")}}}, "variable.w.nameIn[1] must be a String, not a number: send it as a JSON string"},
			{"a number for a Boolean", `query($u: Boolean) { projects(where: {descriptionIsNil: $u}) { totalCount } }`, map[string]any{"u": n("1")},
				"variable.u must be a Boolean (true or false), not a number"},
			{"a number for an enum", `mutation($id: ID!, $r: Role!) { updateMemberRole(id: $id, role: $r) { id } }`, map[string]any{"id": "x", "r": n("1")},
				"variable.r must be a Role value, not a number"},
			{"a number for an input", createProject, map[string]any{"i": n("5")}, "variable.i must be a CreateProjectInput object, not a number"},
			{"a fraction for an Int", page, map[string]any{"n": n("1.5")}, "variable.n must be a whole number for an Int, not a fraction"},
			{"past 64 bits for an Int", page, map[string]any{"n": n("99999999999999999999")}, "variable.n is out of range for an Int (-2^63 to 2^63-1)"},
			{"an exponent for an Int", page, map[string]any{"n": n("1e2")}, "variable.n must be an Int written as an integer, without a decimal point or exponent"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(c, tt.query, tt.vars)
				if r.Status != 422 || len(r.Errors) != 1 || r.Code() != "GRAPHQL_VALIDATION_FAILED" || r.Errors[0].Message != tt.want {
					t.Errorf("got %d %+v, want 422 GRAPHQL_VALIDATION_FAILED %q", r.Status, r.Errors, tt.want)
				}
			})
		}
		var got struct{ Projects struct{ TotalCount int } }
		e.MustDo(c, `{ projects { totalCount } }`, nil, &got)
		if got.Projects.TotalCount != 0 {
			t.Errorf("projects: got %d, want none created", got.Projects.TotalCount)
		}
		if r := e.Do(graphtest.Caller{}, `mutation { login(input: {email: "n@example.test", password: "12345678"}) { token } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("login as the refused registration: got %+v, want UNAUTHENTICATED (no such account)", r.Errors)
		}

		// What an Int or ID takes is taken, every digit kept.
		if r := e.Do(c, page, map[string]any{"n": n("9007199254740993")}); r.Code() != "BAD_USER_INPUT" ||
			r.Errors[0].Message != "projects.first must be between 0 and 100, got 9007199254740993" {
			t.Errorf("first 2^53+1: got %+v, want BAD_USER_INPUT quoting it exactly", r.Errors)
		}
		e.MustDo(c, page, map[string]any{"n": n("5")}, nil)
		if r := e.Do(c, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": n("12345")}); r.Code() == "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("an integer ID: got %+v, want it past validation", r.Errors)
		}
	})
}

// Each mutation operation is one transaction: when any root field fails,
// the writes of the others are rolled back, the answer's data is null, and
// the fields after the failed one do not run (only its error is reported).
func TestMutationIsOneTransaction(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "acme")
		c := alice.Caller("acme")
		existing := e.CreateProject(c, "Existing")

		gone := globalid.Encode(authDecodeID(t, existing) + 1000)
		tests := []struct {
			name   string
			query  string
			vars   map[string]any
			failed string // the alias of the field that fails
		}{
			{"second createProject invalid", `mutation {
				a: createProject(input: {name: "First"}) { id }
				b: createProject(input: {name: ""}) { id } }`, nil, "b"},
			{"first createProject invalid", `mutation {
				a: createProject(input: {name: ""}) { id }
				b: createProject(input: {name: "Second"}) { id } }`, nil, "a"},
			{"three fields, last invalid", `mutation {
				a: createProject(input: {name: "One"}) { id }
				b: createProject(input: {name: "Two"}) { id }
				c: createProject(input: {name: "` + strings.Repeat("x", 201) + `"}) { id } }`, nil, "c"},
			{"three fields, first invalid", `mutation {
				a: createProject(input: {name: "` + strings.Repeat("x", 201) + `"}) { id }
				b: createProject(input: {name: "Two"}) { id }
				c: createProject(input: {name: ""}) { id } }`, nil, "a"},
			{"create then a bad transition", `mutation($id: ID!) {
				a: createProject(input: {name: "Created"}) { id }
				b: transitionProject(id: $id, to: COMPLETED) { id } }`, map[string]any{"id": existing}, "b"},
			{"update then not found", `mutation($id: ID!, $gone: ID!) {
				a: updateProject(id: $id, input: {name: "Renamed"}) { id }
				b: deleteProject(id: $gone) }`, map[string]any{"id": existing, "gone": gone}, "b"},
			{"transition then invalid task", `mutation($id: ID!) {
				a: transitionProject(id: $id, to: SUBMITTED) { id }
				b: createTask(input: {projectID: $id, title: ""}) { id } }`, map[string]any{"id": existing}, "b"},
			{"task then comment on a missing task", `mutation($id: ID!, $gone: ID!) {
				a: createTask(input: {projectID: $id, title: "Task"}) { id }
				b: createComment(input: {taskID: $gone, body: "hi"}) { id } }`, map[string]any{"id": existing, "gone": gone}, "b"},
			// A taken slug fails a statement: on PostgreSQL the transaction
			// is aborted, and the fields after it used to answer
			// INTERNAL_SERVER_ERROR ("current transaction is aborted").
			{"taken slug then a tenant", `mutation {
				a: createTenant(input: {name: "Again", slug: "acme"}) { id }
				b: createTenant(input: {name: "Fresh", slug: "fresh"}) { id } }`, nil, "a"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := envFor(t, e)
				r := e.Do(c, tt.query, tt.vars)
				if len(r.Errors) != 1 || len(r.Errors[0].Path) != 1 || r.Errors[0].Path[0] != tt.failed {
					t.Fatalf("errors: got %+v, want one, at [%s] (the fields after it do not run)", r.Errors, tt.failed)
				}
				if string(r.Data) != "null" {
					t.Errorf("data: got %s, want null (nothing answered was kept)", r.Data)
				}
				errsCheckStoredProjects(t, e, []string{"Existing"}, "DRAFT", 0)
				if n := e.DB.Client.Tenant.Query().CountX(acctSystemContext()); n != 2 { // default and acme
					t.Errorf("tenants: got %d, want 2", n)
				}
				if logs := e.Logs(); strings.Contains(logs, `"level":"ERROR"`) {
					t.Errorf("a refused mutation logged an error:\n%s", logs)
				}
			})
		}

		t.Run("register then a refused field", func(t *testing.T) {
			before := acctCountUsers(t, e)
			r := e.Do(graphtest.Caller{}, `mutation {
				a: register(input: {email: "one@example.com", password: "password1", name: "One"}) { token }
				b: createTenant(input: {name: "Two", slug: "two"}) { id } }`, nil)
			if got := r.Code(); got != "UNAUTHENTICATED" {
				t.Fatalf("code: got %q, want UNAUTHENTICATED", got)
			}
			if after := acctCountUsers(t, e); after != before {
				t.Fatalf("users: got %d, want %d (the first register rolled back)", after, before)
			}
		})

		t.Run("register twice in one operation is refused whole", func(t *testing.T) {
			before := acctCountUsers(t, e)
			r := e.Do(graphtest.Caller{}, `mutation {
				a: register(input: {email: "three@example.com", password: "password1", name: "Three"}) { token }
				b: register(input: {email: "four@example.com", password: "password1", name: "Four"}) { token } }`, nil)
			if got := r.Code(); got != "QUERY_TOO_COMPLEX" {
				t.Fatalf("code: got %q, want QUERY_TOO_COMPLEX", got)
			}
			if after := acctCountUsers(t, e); after != before {
				t.Fatalf("users: got %d, want %d", after, before)
			}
		})

		t.Run("all fields valid are all written", func(t *testing.T) {
			var out struct{ A, B struct{ ID string } }
			pgMust(t, e, c, `mutation {
				a: createProject(input: {name: "Alpha"}) { id }
				b: createProject(input: {name: "Beta"}) { id } }`, nil, &out)
			if out.A.ID == "" || out.B.ID == "" || out.A.ID == out.B.ID {
				t.Fatalf("got %+v, want two distinct projects", out)
			}
			errsCheckStoredProjects(t, e, []string{"Alpha", "Beta", "Existing"}, "", 0)
		})
	})
}

// errsCheckStoredProjects reads the projects table directly and fails
// unless it holds exactly the named projects (sorted), all in status when
// status is set, and the tasks table holds tasks rows.
func errsCheckStoredProjects(t *testing.T, e *graphtest.Env, names []string, status string, tasks int) {
	t.Helper()
	ctx := acctSystemContext()
	ps, err := e.DB.Client.Project.Query().Order(project.ByName()).All(ctx)
	if err != nil {
		t.Fatalf("reading projects: %v", err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Name)
		if status != "" && string(p.Status) != status {
			t.Errorf("project %s: status %s, want %s", p.Name, p.Status, status)
		}
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("projects: got %v, want %v", got, names)
	}
	n, err := e.DB.Client.Task.Query().Count(ctx)
	if err != nil {
		t.Fatalf("counting tasks: %v", err)
	}
	if n != tasks {
		t.Errorf("tasks: got %d, want %d", n, tasks)
	}
}

// A value an argument cannot take is BAD_USER_INPUT with extensions.field
// naming the argument's path, and a message that says what the value must
// be: an enum's values (in the case the schema spells them; gqlparser lets
// a wrong-case one through validation), a time's format, a well-formed ID.
func TestArgumentErrorsNameTheirField(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner, viewer := e.Register("Owner"), e.Register("Viewer")
		e.CreateTenant(owner, "acme")
		membership := e.AddMember(owner, "acme", viewer, "VIEWER")
		project := e.CreateProject(owner.Caller("acme"), "Anvil")
		const createTask = `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`
		for _, tc := range []struct {
			name, query       string
			vars              map[string]any
			field, wantPrefix string
		}{
			{"wrong-case enum", `mutation($id: ID!, $role: Role!) { updateMemberRole(id: $id, role: $role) { id } }`,
				map[string]any{"id": membership, "role": "viewer"}, "updateMemberRole.role", "updateMemberRole.role: must be one of OWNER, MANAGER, MEMBER, VIEWER"},
			{"enum in an input", createTask, map[string]any{"i": map[string]any{"projectID": project, "title": "t", "status": "done"}},
				"createTask.input.status", "createTask.input.status: must be one of TODO, IN_PROGRESS, DONE"},
			{"time", createTask, map[string]any{"i": map[string]any{"projectID": project, "title": "t", "dueDate": "tomorrow"}},
				"createTask.input.dueDate", "createTask.input.dueDate: must be an RFC 3339 time"},
			{"malformed ID in an input", createTask, map[string]any{"i": map[string]any{"projectID": "garbage", "title": "t"}},
				"createTask.input.projectID", "createTask.input.projectID: malformed ID"},
			{"malformed ID in a filter list", `{ projects(where: {idIn: ["garbage"]}) { totalCount } }`, nil,
				"projects.where.idIn[0]", "projects.where.idIn[0]: malformed ID"},
		} {
			r := e.Do(owner.Caller("acme"), tc.query, tc.vars)
			if len(r.Errors) != 1 || r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != tc.field ||
				!strings.HasPrefix(r.Errors[0].Message, tc.wantPrefix) {
				t.Errorf("%s: got %+v, want BAD_USER_INPUT with field %s and a message starting %q", tc.name, r.Errors, tc.field, tc.wantPrefix)
			}
		}
	})
}

// With suggestions off (production), a refused enum value's message names
// the enum, not its values, as the validator's messages then suggest none.
func TestArgumentErrorsListNoValuesWithoutSuggestions(t *testing.T) {
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.DisableSuggestions = true }}, func(t *testing.T, e *graphtest.Env) {
		owner, viewer := e.Register("Owner"), e.Register("Viewer")
		e.CreateTenant(owner, "acme")
		membership := e.AddMember(owner, "acme", viewer, "VIEWER")
		r := e.Do(owner.Caller("acme"), `mutation($id: ID!, $role: Role!) { updateMemberRole(id: $id, role: $role) { id } }`,
			map[string]any{"id": membership, "role": "viewer"})
		if r.Code() != "BAD_USER_INPUT" || len(r.Errors) != 1 ||
			r.Errors[0].Message != "updateMemberRole.role: must be a Role value, as the schema spells it" {
			t.Errorf("got %+v, want BAD_USER_INPUT naming Role without its values", r.Errors)
		}
	})
}

// A nested field's error rolls a mutation back too, and its answer must not
// show what was undone: a MEMBER's comment whose selection also asks for
// the tenant's Slack webhook URL (OWNER only) is not kept, and the answer
// carries no comment ID for a client to cache (on SQLite the next comment
// would be given that same ID).
func TestRolledBackMutationAnswersNoData(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tm := newPermTeam(t, e, "ghosts")
		member := tm.caller("MEMBER")
		task := e.CreateTask(member, e.CreateProject(member, "Project"), "Task")
		r := e.Do(member, `mutation($t: ID!) {
			createComment(input: {taskID: $t, body: "ghost"}) {
				id
				author { memberships { tenant { config { slackWebhookURL } } } }
			} }`, map[string]any{"t": task})
		if got := r.Code(); got != forbidden {
			t.Fatalf("code: got %q (%+v), want %s", got, r.Errors, forbidden)
		}
		if len(r.Errors) != 1 || len(r.Errors[0].Path) != 7 {
			t.Errorf("errors: got %+v, want one, at the webhook URL's path", r.Errors)
		}
		if string(r.Data) != "null" {
			t.Errorf("data: got %s, want null: the comment was rolled back", r.Data)
		}
		var out struct {
			Node struct{ Comments struct{ TotalCount int } }
		}
		e.MustDo(member, `query($t: ID!) { node(id: $t) { ... on Task { comments { totalCount } } } }`, map[string]any{"t": task}, &out)
		if out.Node.Comments.TotalCount != 0 {
			t.Errorf("comments: got %d, want 0", out.Node.Comments.TotalCount)
		}

		// The same selection without the refused field is written.
		r = e.Do(member, `mutation($t: ID!) {
			createComment(input: {taskID: $t, body: "kept"}) { id author { memberships { tenant { slug } } } } }`,
			map[string]any{"t": task})
		if len(r.Errors) > 0 || field(t, r, "createComment") == "" {
			t.Fatalf("got %+v (data %s), want the comment", r.Errors, r.Data)
		}
	})
}
