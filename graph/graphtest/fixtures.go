package graphtest

import "strings"

// User is a registered account.
type User struct {
	ID    string
	Email string
	Token string
}

// Caller returns the user calling in the tenant with the given slug.
func (u User) Caller(slug string) Caller { return Caller{Token: u.Token, TenantSlug: slug} }

// Register creates an account through the API.
func (e *Env) Register(name string) User {
	e.T.Helper()
	email := strings.ToLower(name) + "@example.test"
	var out struct {
		Register struct {
			Token string
			User  struct{ ID string }
		}
	}
	e.MustDo(Caller{}, `mutation($i: RegisterInput!) { register(input: $i) { token user { id } } }`,
		map[string]any{"i": map[string]any{"email": email, "password": "correct horse battery", "name": name}}, &out)
	return User{ID: out.Register.User.ID, Email: email, Token: out.Register.Token}
}

// CreateTenant creates a tenant owned by owner and returns its ID.
func (e *Env) CreateTenant(owner User, slug string) string {
	e.T.Helper()
	var out struct{ CreateTenant struct{ ID string } }
	e.MustDo(Caller{Token: owner.Token}, `mutation($i: CreateTenantInput!) { createTenant(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": "Tenant " + slug, "slug": slug}}, &out)
	return out.CreateTenant.ID
}

// AddMember adds u to the tenant with the given role and returns the
// membership's ID.
func (e *Env) AddMember(owner User, slug string, u User, role string) string {
	e.T.Helper()
	var out struct{ AddMember struct{ ID string } }
	e.MustDo(owner.Caller(slug), `mutation($i: AddMemberInput!) { addMember(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"email": u.Email, "role": role}}, &out)
	return out.AddMember.ID
}

// CreateProject creates a project as c and returns its ID.
func (e *Env) CreateProject(c Caller, name string) string {
	e.T.Helper()
	var out struct{ CreateProject struct{ ID string } }
	e.MustDo(c, `mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": name}}, &out)
	return out.CreateProject.ID
}

// CreateTask creates a task as c and returns its ID.
func (e *Env) CreateTask(c Caller, projectID, title string) string {
	e.T.Helper()
	var out struct{ CreateTask struct{ ID string } }
	e.MustDo(c, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"projectID": projectID, "title": title}}, &out)
	return out.CreateTask.ID
}

// CreateComment creates a comment as c and returns its ID.
func (e *Env) CreateComment(c Caller, taskID, body string) string {
	e.T.Helper()
	var out struct{ CreateComment struct{ ID string } }
	e.MustDo(c, `mutation($i: CreateCommentInput!) { createComment(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"taskID": taskID, "body": body}}, &out)
	return out.CreateComment.ID
}

// Transition moves a project as c, failing on error.
func (e *Env) Transition(c Caller, projectID, to string) {
	e.T.Helper()
	e.MustDo(c, `mutation($id: ID!, $to: ProjectStatus!) { transitionProject(id: $id, to: $to) { id } }`,
		map[string]any{"id": projectID, "to": to}, nil)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}
