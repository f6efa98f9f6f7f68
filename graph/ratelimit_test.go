package graph_test

// Rate limits over HTTP: login attempts per account and per client address,
// and the per-user request budget. Each answer past a limit is RATE_LIMITED
// with extensions.retryAfter, and only the key over its limit is refused.

import (
	"fmt"
	"net/http"
	"testing"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/account"
	"tenantgraph/internal/ratelimit"
	"tenantgraph/internal/server"
)

// rlRun runs fn on each database with a server configured by options,
// called afresh for each (limiters hold state).
func rlRun(t *testing.T, options func() graphtest.Options, fn func(t *testing.T, e *graphtest.Env)) {
	t.Helper()
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, graphtest.NewWithOptions(t, d, options())) })
	}
}

// rlLimiter allows burst events, then one a minute.
func rlLimiter(burst int) *ratelimit.Limiter {
	return ratelimit.New(ratelimit.Config{PerMinute: 1, Burst: burst})
}

const rlLogin = `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }`

// rlWant checks a response's code, and for RATE_LIMITED its retryAfter.
func rlWant(t *testing.T, what string, r *graphtest.Response, code string) {
	t.Helper()
	if r.Code() != code {
		t.Errorf("%s: got %q %+v, want %q", what, r.Code(), r.Errors, code)
		return
	}
	if code != "RATE_LIMITED" {
		return
	}
	retry, _ := r.Errors[0].Extensions["retryAfter"].(float64)
	if retry < 1 || retry > 60 {
		t.Errorf("%s: retryAfter got %v, want 1 to 60 seconds", what, r.Errors[0].Extensions["retryAfter"])
	}
	if string(r.Data) != "null" {
		t.Errorf("%s: data got %s, want null", what, r.Data)
	}
}

func TestLoginRateLimitPerAccount(t *testing.T) {
	options := func() graphtest.Options {
		return graphtest.Options{LoginLimits: account.LoginLimits{PerAccount: rlLimiter(3), PerAddress: ratelimit.New(ratelimit.Config{PerMinute: 1000, Burst: 1000})}}
	}
	rlRun(t, options, func(t *testing.T, e *graphtest.Env) {
		alice, bob := e.Register("Alice"), e.Register("Bob")
		anon := graphtest.Caller{}
		for i := 1; i <= 3; i++ {
			rlWant(t, fmt.Sprint("wrong password ", i), e.Do(anon, rlLogin, map[string]any{"e": alice.Email, "p": "wrong password"}), "UNAUTHENTICATED")
		}
		rlWant(t, "the right password past the limit", e.Do(anon, rlLogin, map[string]any{"e": alice.Email, "p": "correct horse battery"}), "RATE_LIMITED")
		rlWant(t, "the same account in capitals", e.Do(anon, rlLogin, map[string]any{"e": "  ALICE@Example.TEST ", "p": "correct horse battery"}), "RATE_LIMITED")

		// A refused attempt does not even look the account up.
		e.Counter.Reset()
		e.Do(anon, rlLogin, map[string]any{"e": alice.Email, "p": "correct horse battery"})
		refused := e.Counter.Count()
		e.Counter.Reset()
		rlWant(t, "another account", e.Do(anon, rlLogin, map[string]any{"e": bob.Email, "p": "correct horse battery"}), "")
		if served := e.Counter.Count(); refused >= served {
			t.Errorf("statements: got %d for a refused login and %d for a served one, want fewer (no lookup)", refused, served)
		}

		// An unknown account is limited the same way: the answers do not
		// tell which accounts exist.
		for i := 1; i <= 3; i++ {
			rlWant(t, "unknown account", e.Do(anon, rlLogin, map[string]any{"e": "ghost@example.test", "p": "whatever1"}), "UNAUTHENTICATED")
		}
		ghost := e.Do(anon, rlLogin, map[string]any{"e": "ghost@example.test", "p": "whatever1"})
		known := e.Do(anon, rlLogin, map[string]any{"e": alice.Email, "p": "whatever1"})
		rlWant(t, "unknown account past the limit", ghost, "RATE_LIMITED")
		if len(ghost.Errors) > 0 && len(known.Errors) > 0 && ghost.Errors[0].Message != known.Errors[0].Message {
			t.Errorf("messages: got %q for an unknown account and %q for a known one, want the same", ghost.Errors[0].Message, known.Errors[0].Message)
		}
		// Tokens already issued keep working.
		rlWant(t, "alice's existing token", e.Do(graphtest.Caller{Token: alice.Token}, `{ viewer { id } }`, nil), "")
	})
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	options := func() graphtest.Options {
		return graphtest.Options{
			LoginLimits: account.LoginLimits{PerAddress: rlLimiter(3), PerAccount: ratelimit.New(ratelimit.Config{PerMinute: 1000, Burst: 1000})},
			Server:      func(c *server.Config) { c.TrustProxy = true }, // so that tests can speak from several addresses
		}
	}
	rlRun(t, options, func(t *testing.T, e *graphtest.Env) {
		// What the client claimed, then what the proxy saw: the server
		// believes only the proxy's entry.
		from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {"198.51.100.99, " + addr}} }
		// Registrations take from the same bucket: each from an address
		// of its own.
		var users []graphtest.User
		for i, name := range []string{"A", "B", "C", "D"} {
			users = append(users, rlRegister(t, e, from(fmt.Sprintf("192.0.2.%d", i+1)), name))
		}
		for i, u := range users[:3] {
			rlWant(t, fmt.Sprint("attempt ", i+1, " from the address"), e.DoWith(graphtest.Caller{}, from("203.0.113.7"), rlLogin, map[string]any{"e": u.Email, "p": "wrong password"}), "UNAUTHENTICATED")
		}
		rlWant(t, "a fourth account from the same address", e.DoWith(graphtest.Caller{}, from("203.0.113.7"), rlLogin, map[string]any{"e": users[3].Email, "p": "correct horse battery"}), "RATE_LIMITED")
		rlWant(t, "the same account from another address", e.DoWith(graphtest.Caller{}, from("203.0.113.8"), rlLogin, map[string]any{"e": users[3].Email, "p": "correct horse battery"}), "")
		rlWant(t, "from the peer address", e.Do(graphtest.Caller{}, rlLogin, map[string]any{"e": users[0].Email, "p": "correct horse battery"}), "")
	})
}

func TestRequestBudgetPerUser(t *testing.T) {
	options := func() graphtest.Options {
		return graphtest.Options{Limits: graph.DefaultLimits, Deps: func(d *graph.Deps) { d.RequestBudget = rlLimiter(6) }}
	}
	rlRun(t, options, func(t *testing.T, e *graphtest.Env) {
		alice, bob := e.Register("Alice"), e.Register("Bob") // two anonymous operations
		e.CreateTenant(alice, "acme")                        // alice: 1
		a := alice.Caller("acme")
		for i := 2; i <= 6; i++ {
			rlWant(t, fmt.Sprint("alice's operation ", i), e.Do(a, `{ projects { totalCount } }`, nil), "")
		}
		rlWant(t, "alice's seventh operation", e.Do(a, `{ projects { totalCount } }`, nil), "RATE_LIMITED")
		rlWant(t, "alice's mutation", e.Do(a, `mutation { createProject(input: {name: "x"}) { id } }`, nil), "RATE_LIMITED")
		rlWant(t, "alice in another tenant", e.Do(alice.Caller(""), `{ currentTenant { id } }`, nil), "RATE_LIMITED")
		for i := 1; i <= 6; i++ {
			rlWant(t, fmt.Sprint("bob's operation ", i), e.Do(graphtest.Caller{Token: bob.Token}, `{ viewer { email } }`, nil), "")
		}
		for i := 3; i <= 6; i++ {
			rlWant(t, fmt.Sprint("anonymous operation ", i), e.Do(graphtest.Caller{}, `{ currentTenant { id } }`, nil), "")
		}
		rlWant(t, "seventh anonymous operation", e.Do(graphtest.Caller{}, `{ currentTenant { id } }`, nil), "RATE_LIMITED")
		// Nothing alice sent past her budget ran.
		if n, err := e.DB.Client.Project.Query().Count(acctSystemContext()); err != nil || n != 0 {
			t.Errorf("projects: got %d (%v), want 0", n, err)
		}
	})
}

// TestRequestBudgetPerIPv6Prefix: anonymous operations are counted per
// IPv6 /64, so a client does not get a fresh budget from each address of
// its /64; another /64 is another client.
func TestRequestBudgetPerIPv6Prefix(t *testing.T) {
	options := func() graphtest.Options {
		return graphtest.Options{
			Deps:   func(d *graph.Deps) { d.RequestBudget = rlLimiter(2) },
			Server: func(c *server.Config) { c.TrustProxy = true },
		}
	}
	rlRun(t, options, func(t *testing.T, e *graphtest.Env) {
		from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
		const q = `{ currentTenant { id } }`
		rlWant(t, "first address of the /64", e.DoWith(graphtest.Caller{}, from("2001:db8:1:2::1"), q, nil), "")
		rlWant(t, "second address of the /64", e.DoWith(graphtest.Caller{}, from("2001:db8:1:2::2"), q, nil), "")
		rlWant(t, "third address of the /64", e.DoWith(graphtest.Caller{}, from("2001:db8:1:2:ffff::3"), q, nil), "RATE_LIMITED")
		rlWant(t, "another /64", e.DoWith(graphtest.Caller{}, from("2001:db8:1:3::1"), q, nil), "")
	})
}

const rlRegisterMutation = `mutation($e: String!) { register(input: {email: $e, password: "correct horse battery", name: "N"}) { token } }`

// rlRegister registers name from the address in header.
func rlRegister(t *testing.T, e *graphtest.Env, header http.Header, name string) graphtest.User {
	t.Helper()
	email := name + "@example.test"
	r := e.DoWith(graphtest.Caller{}, header, rlRegisterMutation, map[string]any{"e": email})
	rlWant(t, "registering "+name, r, "")
	return graphtest.User{Email: email}
}

// TestRegisterRateLimitPerAddress: registrations take from the login
// bucket of their address (LOGIN_RATE_PER_ADDRESS), so one client cannot
// keep bcrypt busy or mass-create accounts; past it, register answers
// RATE_LIMITED with retryAfter and creates nothing, and login from the
// address is limited too. Invalid input takes nothing.
func TestRegisterRateLimitPerAddress(t *testing.T) {
	options := func() graphtest.Options {
		return graphtest.Options{
			LoginLimits: account.LoginLimits{PerAddress: rlLimiter(3)},
			Server:      func(c *server.Config) { c.TrustProxy = true },
		}
	}
	rlRun(t, options, func(t *testing.T, e *graphtest.Env) {
		from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
		rlWant(t, "invalid input", e.DoWith(graphtest.Caller{}, from("203.0.113.7"), rlRegisterMutation, map[string]any{"e": "not an address"}), "BAD_USER_INPUT")
		rlRegister(t, e, from("203.0.113.7"), "a")
		rlRegister(t, e, from("203.0.113.7"), "b")
		rlWant(t, "a login from the address", e.DoWith(graphtest.Caller{}, from("203.0.113.7"), rlLogin, map[string]any{"e": "a@example.test", "p": "correct horse battery"}), "")
		rlWant(t, "a third registration from the address", e.DoWith(graphtest.Caller{}, from("203.0.113.7"), rlRegisterMutation, map[string]any{"e": "c@example.test"}), "RATE_LIMITED")
		rlWant(t, "a login from the address past the limit", e.DoWith(graphtest.Caller{}, from("203.0.113.7"), rlLogin, map[string]any{"e": "a@example.test", "p": "correct horse battery"}), "RATE_LIMITED")
		rlRegister(t, e, from("203.0.113.8"), "c") // another address
		if n, err := e.DB.Client.User.Query().Count(acctSystemContext()); err != nil || n != 3 {
			t.Errorf("users: got %d (%v), want 3", n, err)
		}
	})
}

// TestRequestBudgetBeforeTheDatabase: the budget is charged before the
// tenant and role are read. Requests that fail (an unknown tenant, a bad
// token) spend their address's budget like any other, and once it is
// spent, a request runs no statement at all, so a client cannot keep the
// database busy with lookups the budget never sees.
func TestRequestBudgetBeforeTheDatabase(t *testing.T) {
	options := func() graphtest.Options {
		return graphtest.Options{
			Deps:   func(d *graph.Deps) { d.RequestBudget = rlLimiter(4) },
			Server: func(c *server.Config) { c.TrustProxy = true },
		}
	}
	rlRun(t, options, func(t *testing.T, e *graphtest.Env) {
		from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
		const q = `{ currentTenant { id } }`
		unknown := graphtest.Caller{TenantSlug: "no-such-tenant"}
		badToken := graphtest.Caller{Token: "not.a.token"}
		rlWant(t, "an unknown tenant", e.DoWith(unknown, from("203.0.113.7"), q, nil), "NOT_FOUND")
		rlWant(t, "an unknown tenant again", e.DoWith(unknown, from("203.0.113.7"), q, nil), "NOT_FOUND")
		rlWant(t, "a bad token", e.DoWith(badToken, from("203.0.113.7"), q, nil), "UNAUTHENTICATED")
		rlWant(t, "a bad token again", e.DoWith(badToken, from("203.0.113.7"), q, nil), "UNAUTHENTICATED")
		e.Counter.Reset()
		rlWant(t, "an unknown tenant past the budget", e.DoWith(unknown, from("203.0.113.7"), q, nil), "RATE_LIMITED")
		rlWant(t, "a bad token past the budget", e.DoWith(badToken, from("203.0.113.7"), q, nil), "RATE_LIMITED")
		rlWant(t, "a good request past the budget", e.DoWith(graphtest.Caller{}, from("203.0.113.7"), q, nil), "RATE_LIMITED")
		if n := e.Counter.Count(); n != 0 {
			t.Errorf("statements past the budget: got %d, want 0", n)
		}
		rlWant(t, "another address", e.DoWith(unknown, from("203.0.113.8"), q, nil), "NOT_FOUND")
	})
}
