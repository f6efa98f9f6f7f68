// Package tenancy resolves the tenant and the caller's role for each request,
// and administers tenants and their members.
package tenancy

import (
	"context"
	"fmt"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/tenant"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/globalid"
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
	s := &Session{Viewer: &viewer.Viewer{}}
	if cred.Authorization != "" {
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
	t, err := r.findTenant(viewer.NewContext(ctx, s.Viewer), c, cred)
	if err != nil {
		return nil, err
	}
	s.TenantSlug = t.slug
	s.Viewer.TenantID = t.id
	if s.Viewer.Authenticated() {
		m, err := c.Membership.Query().
			Where(membership.TenantID(t.id), membership.UserID(s.Viewer.UserID)).
			Only(viewer.NewContext(ctx, s.Viewer))
		switch {
		case ent.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("tenancy: looking up role: %w", err)
		default:
			s.Viewer.Role = m.Role
		}
	}
	return s, nil
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
