package graph_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"tenantgraph/ent/privacy"
	"tenantgraph/ent/user"
	"tenantgraph/graph/graphtest"
)

const acctRegister = `mutation($i: RegisterInput!) { register(input: $i) { token expiresAt user { id email name } } }`

// acctSystemContext bypasses privacy, for tests that inspect the database
// directly.
func acctSystemContext() context.Context {
	return privacy.DecisionContext(context.Background(), privacy.Allow)
}

// acctCountUsers counts every user in the database.
func acctCountUsers(t *testing.T, e *graphtest.Env) int {
	t.Helper()
	n, err := e.DB.Client.User.Query().Count(acctSystemContext())
	if err != nil {
		t.Fatalf("counting users: %v", err)
	}
	return n
}

func acctRegisterVars(email, password, name string) map[string]any {
	return map[string]any{"i": map[string]any{"email": email, "password": password, "name": name}}
}

func TestRegister(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tests := []struct {
			name, email, password, userName string
			wantEmail                       string
		}{
			{"email lower-cased", "Ada.Lovelace@Example.COM", "password1", "Ada", "ada.lovelace@example.com"},
			{"surrounding spaces trimmed", "  grace@example.com ", "password1", "Grace", "grace@example.com"},
			{"8-byte password", "eight@example.com", "12345678", "Eight", "eight@example.com"},
			{"72-byte password", "seventytwo@example.com", strings.Repeat("p", 72), "Seventy Two", "seventytwo@example.com"},
			{"one-character name", "one@example.com", "password1", "O", "one@example.com"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := acctCountUsers(t, e)
				var out struct {
					Register struct {
						Token     string
						ExpiresAt string
						User      struct{ ID, Email, Name string }
					}
				}
				e.Do(graphtest.Caller{}, acctRegister, acctRegisterVars(tt.email, tt.password, tt.userName)).Decode(t, &out)
				got := out.Register
				if got.User.Email != tt.wantEmail {
					t.Errorf("email: got %q, want %q", got.User.Email, tt.wantEmail)
				}
				if got.User.Name != tt.userName {
					t.Errorf("name: got %q, want %q", got.User.Name, tt.userName)
				}
				if got.Token == "" || got.ExpiresAt == "" {
					t.Errorf("got token %q expiring %q, want both set", got.Token, got.ExpiresAt)
				}
				if after := acctCountUsers(t, e); after != before+1 {
					t.Errorf("users: got %d, want %d", after, before+1)
				}
				// The token works at once.
				var v struct{ Viewer struct{ ID string } }
				e.Do(graphtest.Caller{Token: got.Token}, `{ viewer { id } }`, nil).Decode(t, &v)
				if v.Viewer.ID != got.User.ID {
					t.Errorf("viewer: got %q, want %q", v.Viewer.ID, got.User.ID)
				}
			})
		}
	})
}

// Name lengths count characters, not bytes: 100 multibyte characters (300
// bytes) are a valid name.
func TestRegisterAccepts100CharacterMultibyteName(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		name := strings.Repeat("é", 50) + strings.Repeat("🚀", 50)
		r := e.Do(graphtest.Caller{}, acctRegister, acctRegisterVars("multi@example.com", "password1", name))
		if len(r.Errors) > 0 {
			t.Fatalf("got errors %+v, want the account created", r.Errors)
		}
		var out struct {
			Register struct{ User struct{ Name string } }
		}
		r.Decode(t, &out)
		if out.Register.User.Name != name {
			t.Fatalf("name: got %q, want %q", out.Register.User.Name, name)
		}
	})
}

func TestRegisterStoresOnlyABcryptHash(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		const password = "correct horse battery"
		e.MustDo(graphtest.Caller{}, acctRegister, acctRegisterVars("Hash@Example.com", password, "Hash"), nil)
		u, err := e.DB.Client.User.Query().Where(user.Email("hash@example.com")).Only(acctSystemContext())
		if err != nil {
			t.Fatalf("loading the user: %v", err)
		}
		if u.PasswordHash == password || strings.Contains(u.PasswordHash, password) {
			t.Fatalf("password_hash %q holds the password", u.PasswordHash)
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			t.Fatalf("password_hash %q is not a bcrypt hash: %v", u.PasswordHash, err)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)); err != nil {
			t.Fatalf("password_hash does not match the password: %v", err)
		}
	})
}

func TestRegisterRejects(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		e.MustDo(graphtest.Caller{}, acctRegister, acctRegisterVars("taken@example.com", "password1", "Taken"), nil)

		const okEmail, okPassword, okName = "new@example.com", "password1", "New"
		tests := []struct {
			name, email, password, userName string
			wantField                       string
		}{
			{"taken email", "taken@example.com", okPassword, okName, "email"},
			{"taken email in upper case", "TAKEN@EXAMPLE.COM", okPassword, okName, "email"},
			{"taken email in mixed case with spaces", " Taken@Example.com ", okPassword, okName, "email"},
			{"empty email", "", okPassword, okName, "email"},
			{"email without @", "new.example.com", okPassword, okName, "email"},
			{"email without domain", "new@", okPassword, okName, "email"},
			{"email without local part", "@example.com", okPassword, okName, "email"},
			{"email with two @", "new@@example.com", okPassword, okName, "email"},
			{"email with display name", "New <new@example.com>", okPassword, okName, "email"},
			{"email with a space", "new user@example.com", okPassword, okName, "email"},
			{"two emails", "new@example.com, other@example.com", okPassword, okName, "email"},
			{"email too long", strings.Repeat("a", 250) + "@example.com", okPassword, okName, "email"},
			{"empty password", okEmail, "", okName, "password"},
			{"7-byte password", okEmail, "1234567", okName, "password"},
			{"73-byte password", okEmail, strings.Repeat("p", 73), okName, "password"},
			{"password of 37 two-byte characters (74 bytes)", okEmail, strings.Repeat("é", 37), okName, "password"},
			{"empty name", okEmail, okPassword, "", "name"},
			{"blank name", okEmail, okPassword, "   ", "name"},
			{"tab-and-newline name", okEmail, okPassword, "\t\n", "name"},
			{"101-character name", okEmail, okPassword, strings.Repeat("n", 101), "name"},
			{"101 multibyte characters", okEmail, okPassword, strings.Repeat("é", 101), "name"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := acctCountUsers(t, e)
				r := e.Do(graphtest.Caller{}, acctRegister, acctRegisterVars(tt.email, tt.password, tt.userName))
				if got := r.Code(); got != "BAD_USER_INPUT" {
					t.Fatalf("code: got %q (errors %+v), want BAD_USER_INPUT", got, r.Errors)
				}
				if got := r.Errors[0].Extensions["field"]; got != tt.wantField {
					t.Errorf("extensions.field: got %v, want %q", got, tt.wantField)
				}
				if strings.Contains(r.Errors[0].Message, tt.password) && tt.password != "" {
					t.Errorf("message %q echoes the password", r.Errors[0].Message)
				}
				if authHasData(t, r, "register") {
					t.Errorf("got data %s, want none", r.Data)
				}
				if after := acctCountUsers(t, e); after != before {
					t.Errorf("users: got %d after the rejection, want %d (nothing written)", after, before)
				}
			})
		}
	})
}

const acctLogin = `mutation($i: LoginInput!) { login(input: $i) { token expiresAt user { id email } } }`

func TestLogin(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice") // password "correct horse battery"

		tests := []struct{ name, email string }{
			{"as registered", alice.Email},
			{"email in another case", strings.ToUpper(alice.Email)},
			{"email with spaces", "  " + alice.Email + " "},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var out struct {
					Login struct {
						Token, ExpiresAt string
						User             struct{ ID, Email string }
					}
				}
				e.Do(graphtest.Caller{}, acctLogin, map[string]any{"i": map[string]any{"email": tt.email, "password": "correct horse battery"}}).Decode(t, &out)
				if out.Login.User.ID != alice.ID {
					t.Fatalf("user: got %q, want %q", out.Login.User.ID, alice.ID)
				}
				if out.Login.ExpiresAt == "" {
					t.Errorf("expiresAt: got empty, want a time")
				}
				var v struct{ Viewer struct{ ID, Email string } }
				e.Do(graphtest.Caller{Token: out.Login.Token}, `{ viewer { id email } }`, nil).Decode(t, &v)
				if v.Viewer.ID != alice.ID || v.Viewer.Email != alice.Email {
					t.Fatalf("viewer: got %+v, want %s %s", v.Viewer, alice.ID, alice.Email)
				}
			})
		}
	})
}

// A wrong password and an unknown email are indistinguishable: same code,
// same message, no field, no data.
func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		tests := []struct{ name, email, password string }{
			{"wrong password", alice.Email, "wrong horse battery"},
			{"password in another case", alice.Email, "CORRECT HORSE BATTERY"},
			{"empty password", alice.Email, ""},
			{"unknown email", "nobody@example.test", "correct horse battery"},
			{"not an email", "not-an-email", "correct horse battery"},
			{"empty email", "", "correct horse battery"},
		}
		var first *graphtest.Error
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(graphtest.Caller{}, acctLogin, map[string]any{"i": map[string]any{"email": tt.email, "password": tt.password}})
				if got := r.Code(); got != "UNAUTHENTICATED" {
					t.Fatalf("code: got %q (errors %+v), want UNAUTHENTICATED", got, r.Errors)
				}
				if authHasData(t, r, "login") {
					t.Fatalf("got data %s, want none", r.Data)
				}
				got := r.Errors[0]
				if first == nil {
					first = &got
					return
				}
				if got.Message != first.Message {
					t.Errorf("message: got %q, want %q (the same for every failure)", got.Message, first.Message)
				}
				if len(got.Extensions) != len(first.Extensions) {
					t.Errorf("extensions: got %v, want %v", got.Extensions, first.Extensions)
				}
			})
		}
	})
}

func TestViewerListsMembershipsInEveryTenant(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		bob := e.Register("Bob")
		e.CreateTenant(alice, "acme")
		e.CreateTenant(bob, "beta")
		e.AddMember(bob, "beta", alice, "VIEWER")
		e.AddMember(alice, "acme", bob, "MANAGER")

		type membership struct {
			Role   string
			Tenant struct{ Slug string }
			User   struct{ ID string }
		}
		query := `{ viewer { id email memberships { role tenant { slug } user { id } } } }`
		tests := []struct {
			name   string
			caller graphtest.Caller
			who    graphtest.User
			want   map[string]string // slug → role
		}{
			{"alice in the default tenant", graphtest.Caller{Token: alice.Token}, alice, map[string]string{"acme": "OWNER", "beta": "VIEWER"}},
			{"alice in acme", alice.Caller("acme"), alice, map[string]string{"acme": "OWNER", "beta": "VIEWER"}},
			{"bob in beta", bob.Caller("beta"), bob, map[string]string{"acme": "MANAGER", "beta": "OWNER"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var out struct {
					Viewer struct {
						ID, Email   string
						Memberships []membership
					}
				}
				e.Do(tt.caller, query, nil).Decode(t, &out)
				if out.Viewer.ID != tt.who.ID || out.Viewer.Email != tt.who.Email {
					t.Fatalf("viewer: got %s %s, want %s %s", out.Viewer.ID, out.Viewer.Email, tt.who.ID, tt.who.Email)
				}
				got := map[string]string{}
				for _, m := range out.Viewer.Memberships {
					got[m.Tenant.Slug] = m.Role
					if m.User.ID != tt.who.ID {
						t.Errorf("membership in %s: user %q, want %q", m.Tenant.Slug, m.User.ID, tt.who.ID)
					}
				}
				if len(got) != len(tt.want) || len(out.Viewer.Memberships) != len(tt.want) {
					t.Fatalf("memberships: got %v, want %v", out.Viewer.Memberships, tt.want)
				}
				for slug, role := range tt.want {
					if got[slug] != role {
						t.Errorf("role in %s: got %q, want %q", slug, got[slug], role)
					}
				}
			})
		}

		// A fresh account belongs nowhere.
		carol := e.Register("Carol")
		var out struct {
			Viewer struct{ Memberships []membership }
		}
		e.MustDo(graphtest.Caller{Token: carol.Token}, query, nil, &out)
		if len(out.Viewer.Memberships) != 0 {
			t.Fatalf("new user's memberships: got %+v, want none", out.Viewer.Memberships)
		}
	})
}

// The user that login and register answer with may be asked for their
// memberships, as the viewer may: the request is anonymous (or another
// user's), but the answer's token is theirs. Only theirs are read: in every
// tenant, none of another member's, whoever sends the request. Before, the
// privacy layer refused the anonymous read, which failed the whole call
// (and rolled the registration back).
func TestAuthPayloadUserListsOwnMemberships(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		ada, bob := e.Register("Ada"), e.Register("Bob")
		e.CreateTenant(ada, "acme")
		e.CreateTenant(bob, "bobco")
		e.AddMember(ada, "acme", bob, "MEMBER")
		e.AddMember(bob, "bobco", ada, "VIEWER")

		type memberships struct {
			Token string
			User  struct {
				Email       string
				Memberships []struct {
					Role   string
					Tenant struct{ Slug string }
					User   struct{ Email string }
				}
			}
		}
		got := func(m memberships) []string {
			var out []string
			for _, ms := range m.User.Memberships {
				out = append(out, ms.Tenant.Slug+":"+ms.Role+":"+ms.User.Email)
			}
			return out
		}
		const login = `mutation($i: LoginInput!) { login(input: $i) { token user { email memberships { role tenant { slug } user { email } } } } }`
		for _, c := range []struct {
			name   string
			caller graphtest.Caller
		}{
			{"anonymous", graphtest.Caller{}},
			{"in a tenant", graphtest.Caller{TenantSlug: "acme"}},
			{"with another user's token", bob.Caller("acme")},
		} {
			t.Run("login "+c.name, func(t *testing.T) {
				var out struct{ Login memberships }
				e.MustDo(c.caller, login, map[string]any{"i": map[string]any{"email": ada.Email, "password": "correct horse battery"}}, &out)
				want := []string{"acme:OWNER:" + ada.Email, "bobco:VIEWER:" + ada.Email}
				if g := got(out.Login); strings.Join(g, ",") != strings.Join(want, ",") || out.Login.Token == "" {
					t.Errorf("got token %q and memberships %v, want a token and %v", out.Login.Token, g, want)
				}
			})
		}
		t.Run("register", func(t *testing.T) {
			var out struct{ Register memberships }
			e.MustDo(graphtest.Caller{}, `mutation($i: RegisterInput!) { register(input: $i) { token user { email memberships { role tenant { slug } user { email } } } } }`,
				map[string]any{"i": map[string]any{"email": "cy@example.test", "password": "correct horse battery", "name": "Cy"}}, &out)
			if out.Register.Token == "" || len(out.Register.User.Memberships) != 0 {
				t.Errorf("got token %q and memberships %v, want a token and none", out.Register.Token, got(out.Register))
			}
			if r := e.Do(graphtest.Caller{}, login, map[string]any{"i": map[string]any{"email": "cy@example.test", "password": "correct horse battery"}}); len(r.Errors) > 0 {
				t.Errorf("logging in as the registered user: %+v", r.Errors)
			}
		})
	})
}
