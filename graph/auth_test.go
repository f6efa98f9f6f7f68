package graph_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/globalid"
)

// authDo sends query with a raw Authorization header (any
// scheme, not only "Bearer <token>") in the tenant of c.
func authDo(t *testing.T, e *graphtest.Env, authorization string, c graphtest.Caller, query string) *graphtest.Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	if c.TenantSlug != "" {
		req.Header.Set("X-Tenant-Slug", c.TenantSlug)
	}
	if c.TenantID != "" {
		req.Header.Set("X-Tenant-ID", c.TenantID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := &graphtest.Response{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("response is not JSON (status %d): %s", resp.StatusCode, raw)
	}
	return out
}

// authForgeToken issues a token for userID from a token issuer configured like
// the test server's, changed by edit.
func authForgeToken(t *testing.T, userID int, edit func(*auth.TokenConfig)) string {
	t.Helper()
	c := auth.TokenConfig{Secret: graphtest.Secret, Issuer: graphtest.Issuer, Audience: graphtest.Audience, TTL: time.Hour}
	if edit != nil {
		edit(&c)
	}
	tokens, err := auth.NewTokens(c)
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	token, _, err := tokens.Issue(userID)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return token
}

// authDecodeID returns the integer behind an opaque ID.
func authDecodeID(t *testing.T, id string) int {
	t.Helper()
	n, err := globalid.Decode(id)
	if err != nil {
		t.Fatalf("decoding ID %q: %v", id, err)
	}
	return n
}

// authNoneToken is an unsigned token ("alg": "none") with otherwise valid claims.
func authNoneToken(t *testing.T, userID int) string {
	t.Helper()
	seg := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now()
	claims := map[string]any{
		"sub": strconv.Itoa(userID), "iss": graphtest.Issuer, "aud": []string{graphtest.Audience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	return seg(map[string]string{"alg": "none", "typ": "JWT"}) + "." + seg(claims) + "."
}

// Every forged or malformed credential is refused outright on public and
// scoped fields alike: a bad token never degrades to an anonymous request.
func TestForgedTokensAreUnauthenticated(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "acme")
		e.CreateProject(alice.Caller("acme"), "Secret plans")
		uid := authDecodeID(t, alice.ID)

		jwtNone, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
			"sub": strconv.Itoa(uid), "iss": graphtest.Issuer, "aud": graphtest.Audience,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{
			"sub": strconv.Itoa(uid), "iss": graphtest.Issuer, "aud": graphtest.Audience,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString(graphtest.Secret)
		if err != nil {
			t.Fatal(err)
		}
		authorizations := []struct{ name, header string }{
			{"alg none", "Bearer " + authNoneToken(t, uid)},
			{"alg none via jwt", "Bearer " + jwtNone},
			{"HS512 with the server's key", "Bearer " + hs512},
			{"wrong key", "Bearer " + authForgeToken(t, uid, func(c *auth.TokenConfig) {
				c.Secret = []byte("not-the-server-secret-not-the-server-secret")
			})},
			{"expired", "Bearer " + authForgeToken(t, uid, func(c *auth.TokenConfig) {
				c.Now = func() time.Time { return time.Now().Add(-3 * time.Hour) }
			})},
			{"wrong audience", "Bearer " + authForgeToken(t, uid, func(c *auth.TokenConfig) { c.Audience = "another-api" })},
			{"wrong issuer", "Bearer " + authForgeToken(t, uid, func(c *auth.TokenConfig) { c.Issuer = "evil-issuer" })},
			{"malformed", "Bearer not.a.token"},
			{"garbage", "Bearer !!!"},
			{"token with a flipped signature", "Bearer " + authFlipLast(alice.Token)},
			{"Basic scheme", "Basic YWxpY2U6cGFzc3dvcmQ="},
			{"Basic scheme with a valid token", "Basic " + alice.Token},
			{"token without a scheme", alice.Token},
			{"Bearer with an empty token", "Bearer "},
			{"Bearer alone", "Bearer"},
			{"two tokens", "Bearer " + alice.Token + " " + alice.Token},
		}
		queries := []struct{ name, query, field string }{
			{"public currentTenant", `{ currentTenant { id slug } }`, "currentTenant"},
			{"public projectWorkflow", `{ projectWorkflow { from to } }`, "projectWorkflow"},
			{"scoped projects", `{ projects { totalCount edges { node { name } } } }`, "projects"},
			{"mutation createProject", `mutation { createProject(input: {name: "Forged"}) { id } }`, "createProject"},
		}
		for _, a := range authorizations {
			for _, q := range queries {
				t.Run(a.name+"/"+q.name, func(t *testing.T) {
					r := authDo(t, e, a.header, graphtest.Caller{TenantSlug: "acme"}, q.query)
					if got := r.Code(); got != "UNAUTHENTICATED" {
						t.Fatalf("code: got %q (errors %+v, data %s), want UNAUTHENTICATED", got, r.Errors, r.Data)
					}
					if leaked := authHasData(t, r, q.field); leaked {
						t.Fatalf("got data %s alongside the error, want no %s", r.Data, q.field)
					}
				})
			}
		}

		// Nothing forged was written.
		var out struct{ Projects struct{ TotalCount int } }
		e.MustDo(alice.Caller("acme"), `{ projects { totalCount } }`, nil, &out)
		if out.Projects.TotalCount != 1 {
			t.Fatalf("projects: got %d, want 1 (a forged createProject went through)", out.Projects.TotalCount)
		}
	})
}

// authHasData reports whether the response's data holds a non-null field.
func authHasData(t *testing.T, r *graphtest.Response, field string) bool {
	t.Helper()
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &m); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
	v, ok := m[field]
	return ok && string(v) != "null"
}

// authFlipLast changes the last character of a token's signature.
func authFlipLast(token string) string {
	// The first character of the signature carries six real bits (the last
	// one carries spare bits too, so changing it may not change the bytes).
	i := strings.LastIndexByte(token, '.') + 1
	repl := byte('A')
	if token[i] == 'A' {
		repl = 'B'
	}
	return token[:i] + string(repl) + token[i+1:]
}

func TestValidTokenIsAccepted(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		e.CreateTenant(alice, "acme")
		tests := []struct{ name, header string }{
			{"Bearer", "Bearer " + alice.Token},
			{"lower-case scheme", "bearer " + alice.Token},
			{"surrounding spaces", "  Bearer " + alice.Token + "  "},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := authDo(t, e, tt.header, graphtest.Caller{TenantSlug: "acme"}, `{ viewer { id } projects { totalCount } }`)
				var out struct{ Viewer struct{ ID string } }
				r.Decode(t, &out)
				if out.Viewer.ID != alice.ID {
					t.Fatalf("viewer: got %q, want %q", out.Viewer.ID, alice.ID)
				}
			})
		}
	})
}

// A well-signed token naming no account authenticates nobody.
func TestTokenForUnknownUser(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		ghost, _, err := e.Tokens.Issue(authDecodeID(t, alice.ID) + 1000)
		if err != nil {
			t.Fatal(err)
		}
		r := e.Do(graphtest.Caller{Token: ghost}, `{ viewer { id email } }`, nil)
		if got := r.Code(); got != "UNAUTHENTICATED" {
			t.Fatalf("viewer: got code %q (data %s), want UNAUTHENTICATED", got, r.Data)
		}
		if authHasData(t, r, "viewer") {
			t.Fatalf("viewer: got data %s, want none", r.Data)
		}
	})
}

func TestAnonymousAccess(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		tests := []struct {
			name, query string
			wantCode    string
		}{
			{"currentTenant is public", `{ currentTenant { slug } }`, ""},
			{"projectWorkflow is public", `{ projectWorkflow { from to minRole } }`, ""},
			{"viewer needs a token", `{ viewer { id } }`, "UNAUTHENTICATED"},
			{"projects need a token", `{ projects { totalCount } }`, "UNAUTHENTICATED"},
			{"tasks need a token", `{ tasks { totalCount } }`, "UNAUTHENTICATED"},
			{"members need a token", `{ members { totalCount } }`, "UNAUTHENTICATED"},
			{"createProject needs a token", `mutation { createProject(input: {name: "x"}) { id } }`, "UNAUTHENTICATED"},
			{"createTenant needs a token", `mutation { createTenant(input: {name: "x", slug: "xx"}) { id } }`, "UNAUTHENTICATED"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(graphtest.Caller{}, tt.query, nil)
				if got := r.Code(); got != tt.wantCode {
					t.Fatalf("code: got %q (errors %+v), want %q", got, r.Errors, tt.wantCode)
				}
			})
		}
	})
}

func TestTenantResolution(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		acmeID := e.CreateTenant(alice, "acme")
		betaID := e.CreateTenant(alice, "beta")
		unknownID := globalid.Encode(authDecodeID(t, betaID) + 1000)

		tests := []struct {
			name     string
			caller   graphtest.Caller
			wantSlug string // "" when an error is expected
			wantCode string
		}{
			{"no header is the default tenant", graphtest.Caller{}, "default", ""},
			{"slug", graphtest.Caller{TenantSlug: "acme"}, "acme", ""},
			{"slug default", graphtest.Caller{TenantSlug: "default"}, "default", ""},
			{"ID", graphtest.Caller{TenantID: acmeID}, "acme", ""},
			{"ID and matching slug", graphtest.Caller{TenantID: betaID, TenantSlug: "beta"}, "beta", ""},
			{"unknown slug", graphtest.Caller{TenantSlug: "nope"}, "", "NOT_FOUND"},
			{"slug in another case", graphtest.Caller{TenantSlug: "ACME"}, "", "NOT_FOUND"},
			{"malformed ID", graphtest.Caller{TenantID: "!!!"}, "", "NOT_FOUND"},
			{"ID of base64 text", graphtest.Caller{TenantID: base64.RawURLEncoding.EncodeToString([]byte("acme"))}, "", "NOT_FOUND"},
			{"raw integer ID", graphtest.Caller{TenantID: "1"}, "", "NOT_FOUND"},
			{"unknown ID", graphtest.Caller{TenantID: unknownID}, "", "NOT_FOUND"},
			{"ID of a user, not a tenant", graphtest.Caller{TenantID: alice.ID}, "", "NOT_FOUND"},
			{"ID and slug naming different tenants", graphtest.Caller{TenantID: acmeID, TenantSlug: "beta"}, "", "NOT_FOUND"},
			{"valid ID with unknown slug", graphtest.Caller{TenantID: acmeID, TenantSlug: "nope"}, "", "NOT_FOUND"},
		}
		for _, tt := range tests {
			for _, who := range []struct {
				name  string
				token string
			}{{"anonymous", ""}, {"authenticated", alice.Token}} {
				t.Run(tt.name+"/"+who.name, func(t *testing.T) {
					c := tt.caller
					c.Token = who.token
					r := e.Do(c, `{ currentTenant { id slug } }`, nil)
					if tt.wantCode != "" {
						if got := r.Code(); got != tt.wantCode {
							t.Fatalf("code: got %q (data %s), want %q", got, r.Data, tt.wantCode)
						}
						if authHasData(t, r, "currentTenant") {
							t.Fatalf("got data %s, want none", r.Data)
						}
						return
					}
					var out struct{ CurrentTenant struct{ ID, Slug string } }
					r.Decode(t, &out)
					if out.CurrentTenant.Slug != tt.wantSlug {
						t.Fatalf("slug: got %q, want %q", out.CurrentTenant.Slug, tt.wantSlug)
					}
					if tt.caller.TenantID != "" && out.CurrentTenant.ID != tt.caller.TenantID {
						t.Fatalf("id: got %q, want %q", out.CurrentTenant.ID, tt.caller.TenantID)
					}
				})
			}
		}
	})
}

// The resolved tenant decides what a scoped field sees: the same token in
// two tenants sees each tenant's own projects.
func TestTenantHeaderScopesData(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		alice := e.Register("Alice")
		acmeID := e.CreateTenant(alice, "acme")
		e.CreateTenant(alice, "beta")
		e.CreateProject(alice.Caller("acme"), "Acme rocket")
		e.CreateProject(alice.Caller("beta"), "Beta boat")

		tests := []struct {
			name   string
			caller graphtest.Caller
			want   string
		}{
			{"by slug", alice.Caller("acme"), "Acme rocket"},
			{"by ID", graphtest.Caller{Token: alice.Token, TenantID: acmeID}, "Acme rocket"},
			{"other tenant", alice.Caller("beta"), "Beta boat"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var out struct {
					Projects struct {
						Edges []struct{ Node struct{ Name string } }
					}
				}
				e.Do(tt.caller, `{ projects { edges { node { name } } } }`, nil).Decode(t, &out)
				if len(out.Projects.Edges) != 1 || out.Projects.Edges[0].Node.Name != tt.want {
					t.Fatalf("got %+v, want exactly %q", out.Projects.Edges, tt.want)
				}
			})
		}
		// Alice is no member of the default tenant.
		r := e.Do(graphtest.Caller{Token: alice.Token}, `{ projects { totalCount } }`, nil)
		if got := r.Code(); got != "FORBIDDEN" {
			t.Fatalf("default tenant, non-member: got %q, want FORBIDDEN", got)
		}
	})
}
