// Package tenancy resolves the tenant and the caller's role for each request,
// and administers tenants and their members.
package tenancy

import (
	"context"
	"fmt"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/tenant"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/role"
	"tenantgraph/internal/validate"
	"tenantgraph/internal/viewer"
)

// DefaultSlug names the tenant used when a request names none.
const DefaultSlug = "default"

// Credentials are what a request presents: the Authorization header and the
// tenant headers over HTTP, or the same keys of a websocket's connection_init
// payload.
type Credentials struct {
	Authorization string // "Bearer <token>", or empty
	TenantID      string // X-Tenant-ID: a Tenant's GraphQL ID
	TenantSlug    string // X-Tenant-Slug
	// ClientAddr is the client's IP address, for rate limits.
	ClientAddr string

	// user and expiry are what a token verified earlier on the same
	// connection proved (Verified); Resolve then needs no token.
	user   int
	expiry time.Time
}

// Verified returns c for the later operations of the websocket whose
// connection_init presented c and was resolved to s: the token's user and
// expiry in place of the token, so that each operation checks only that
// the token has not expired since (and still reads the role afresh), and
// the connection keeps no token.
func (c Credentials) Verified(s *Session) Credentials {
	if !s.Viewer.Authenticated() {
		return c
	}
	c.Authorization = ""
	c.user, c.expiry = s.Viewer.UserID, s.TokenExpiry
	return c
}

// Session is a resolved request: who calls, in which tenant, with which role.
// The tenant's ID is Viewer.TenantID; load the row itself only when a
// resolver needs more than its ID and slug (currentTenant does).
type Session struct {
	Viewer     *viewer.Viewer
	TenantSlug string
	// TokenExpiry is when the presented token expires (zero if anonymous).
	TokenExpiry time.Time
}

// Resolver turns credentials into a session.
type Resolver struct {
	tokens *auth.Tokens
	// tenants remembers tenant IDs and slugs, so that a request costs one
	// statement (the membership) instead of two. It is safe to keep them:
	// a slug is immutable (ent/schema: Immutable) and unique, IDs are never
	// reused, and tenants are never deleted. Unknown tenants are not
	// remembered, so a tenant created on another instance is found at once.
	tenants *lru.Cache[tenantRef, tenantRef]
}

// tenantRef is a tenant's ID and slug. As a cache key it holds one of them,
// the one the request named.
type tenantRef struct {
	id   int
	slug string
}

// tenantCacheSize bounds the remembered tenants (two entries each, by ID
// and by slug; about 100 bytes an entry).
const tenantCacheSize = 20_000

// NewResolver returns a Resolver verifying tokens with t.
func NewResolver(t *auth.Tokens) *Resolver {
	c, err := lru.New[tenantRef, tenantRef](tenantCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &Resolver{tokens: t, tenants: c}
}

// Resolve verifies the token (a bad one is Unauthenticated, never anonymous),
// finds the tenant (X-Tenant-ID, else X-Tenant-Slug, else "default"; unknown
// is NotFound) and looks up the caller's role in it (none for a non-member).
// The role is read from the database every time, never from the token.
func (r *Resolver) Resolve(ctx context.Context, c *ent.Client, cred Credentials) (*Session, error) {
	s, err := r.Authenticate(cred)
	if err != nil {
		return nil, err
	}
	if err := r.Scope(ctx, c, cred, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Authenticate is Resolve's first half, which reads no database: it
// verifies the token and returns a session holding only the caller (none
// for an anonymous one). A rate limit keyed by the caller is charged
// between the two halves, so that a request it refuses, or one naming an
// unknown tenant, costs no statement.
func (r *Resolver) Authenticate(cred Credentials) (*Session, error) {
	s := &Session{Viewer: &viewer.Viewer{}}
	switch {
	case cred.user != 0:
		if err := r.tokens.Unexpired(cred.expiry); err != nil {
			return nil, apperr.New(apperr.Unauthenticated, "invalid or expired token")
		}
		s.Viewer.UserID, s.TokenExpiry = cred.user, cred.expiry
	case cred.Authorization != "":
		scheme, token, ok := strings.Cut(strings.TrimSpace(cred.Authorization), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return nil, apperr.New(apperr.Unauthenticated, `the Authorization header must be "Bearer <token>"`)
		}
		uid, exp, err := r.tokens.Verify(strings.TrimSpace(token))
		if err != nil {
			return nil, apperr.New(apperr.Unauthenticated, "invalid or expired token")
		}
		s.Viewer.UserID, s.TokenExpiry = uid, exp
	}
	return s, nil
}

// Scope is Resolve's second half: it finds the tenant cred names and the
// role in it of s's caller (from Authenticate), and records both in s.
func (r *Resolver) Scope(ctx context.Context, c *ent.Client, cred Credentials, s *Session) error {
	t, err := r.findTenant(viewer.NewContext(ctx, s.Viewer), c, cred)
	if err != nil {
		return err
	}
	s.TenantSlug = t.slug
	s.Viewer.TenantID = t.id
	if s.Viewer.Authenticated() {
		if s.Viewer.Role, err = RoleIn(viewer.NewContext(ctx, s.Viewer), c, t.id, s.Viewer.UserID); err != nil {
			return fmt.Errorf("tenancy: looking up role: %w", err)
		}
	}
	return nil
}

// roleStatements is, by dialect, the statement that reads the caller's role
// in a tenant: its membership row, found by the (tenant_id, user_id) unique
// index. Every operation runs it, so it is built once rather than by ent's
// query builders, which spent about 9 KB of allocations on each lookup.
var roleStatements = map[string]string{
	dialect.SQLite:   roleStatement(dialect.SQLite),
	dialect.Postgres: roleStatement(dialect.Postgres),
}

// roleForShare is PostgreSQL's statement locking the row it reads
// (ConfirmRole).
var roleForShare = roleStatements[dialect.Postgres] + " FOR SHARE"

func roleStatement(d string) string {
	q, _ := entsql.Dialect(d).Select(membership.FieldRole).From(entsql.Table(membership.Table)).
		Where(entsql.And(entsql.EQ(membership.FieldTenantID, 0), entsql.EQ(membership.FieldUserID, 0))).
		Query()
	return q
}

// RoleIn reads userID's role in tenantID: "" when they are not a
// member. The statement names the tenant itself, as the Membership
// interceptor would add it, and runs on c's driver (in its transaction,
// counted and traced).
func RoleIn(ctx context.Context, c *ent.Client, tenantID, userID int) (role.Role, error) {
	return roleIn(ctx, c, tenantID, userID, false)
}

// roleIn is RoleIn, locking the row FOR SHARE when forShare is set and the
// database is PostgreSQL (SQLite has no row locks).
func roleIn(ctx context.Context, c *ent.Client, tenantID, userID int, forShare bool) (role.Role, error) {
	q, ok := roleStatements[c.Dialect()]
	if !ok {
		return "", fmt.Errorf("no role statement for dialect %q", c.Dialect())
	}
	if forShare && c.Dialect() == dialect.Postgres {
		q = roleForShare
	}
	var rows entsql.Rows
	if err := c.RawQuery(ctx, q, []any{tenantID, userID}, &rows); err != nil {
		return "", err
	}
	defer rows.Close()
	var r role.Role
	if rows.Next() {
		if err := rows.Scan(&r); err != nil {
			return "", err
		}
	}
	return r, rows.Err()
}

// findTenant finds the tenant the credentials name: by X-Tenant-ID (and,
// when both are sent, the slug must match it), else by X-Tenant-Slug, else
// the default tenant.
func (r *Resolver) findTenant(ctx context.Context, c *ent.Client, cred Credentials) (tenantRef, error) {
	key := tenantRef{slug: cred.TenantSlug}
	if cred.TenantID != "" {
		id, err := globalid.Decode(cred.TenantID)
		if err != nil {
			return tenantRef{}, apperr.New(apperr.NotFound, "no tenant with ID %q", cred.TenantID)
		}
		key = tenantRef{id: id}
	} else if key.slug == "" {
		key.slug = DefaultSlug
	}
	if key.id == 0 && validate.Slug("", key.slug) != nil {
		// No tenant has it; nor is it sent to the database, where bytes
		// that are not UTF-8, or a NUL (a header's 0x80–0xFF, a
		// connection_init's \u0000), fail PostgreSQL's text comparison.
		return tenantRef{}, apperr.New(apperr.NotFound, "no such tenant")
	}
	t, ok := r.tenants.Get(key)
	if !ok {
		q := c.Tenant.Query()
		if key.id != 0 {
			q = q.Where(tenant.ID(key.id))
		} else {
			q = q.Where(tenant.Slug(key.slug))
		}
		row, err := q.Select(tenant.FieldSlug).Only(ctx)
		if ent.IsNotFound(err) {
			return tenantRef{}, apperr.New(apperr.NotFound, "no such tenant")
		}
		if err != nil {
			return tenantRef{}, fmt.Errorf("tenancy: finding tenant: %w", err)
		}
		t = tenantRef{id: row.ID, slug: row.Slug}
		r.tenants.Add(tenantRef{id: t.id}, t)
		r.tenants.Add(tenantRef{slug: t.slug}, t)
	}
	if cred.TenantID != "" && cred.TenantSlug != "" && cred.TenantSlug != t.slug {
		return tenantRef{}, apperr.New(apperr.NotFound, "no such tenant")
	}
	return t, nil
}

type sessionKey struct{}

// NewContext returns ctx carrying the session s and its viewer.
func NewContext(ctx context.Context, s *Session) context.Context {
	return viewer.NewContext(context.WithValue(ctx, sessionKey{}, s), s.Viewer)
}

// FromContext returns the session of ctx, or nil.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

type credentialsKey struct{}

// WithCredentials returns ctx carrying what the request presented (HTTP
// headers or a websocket's connection_init payload).
func WithCredentials(ctx context.Context, c Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// CredentialsFrom returns the credentials of ctx (empty when none).
func CredentialsFrom(ctx context.Context) Credentials {
	c, _ := ctx.Value(credentialsKey{}).(Credentials)
	return c
}
