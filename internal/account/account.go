// Package account registers users and logs them in.
package account

import (
	"context"
	"fmt"
	"time"

	"tenantgraph/ent"
	"tenantgraph/ent/user"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/auth"
	"tenantgraph/internal/ratelimit"
	"tenantgraph/internal/validate"
)

// Service registers users and logs them in.
type Service struct {
	tokens    *auth.Tokens
	passwords *auth.Passwords
	limits    LoginLimits
}

// Limiter allows an event for a key, or says how long to wait.
type Limiter interface {
	Allow(key string) (bool, time.Duration)
}

// LoginLimits bound login attempts per account and per client address
// (nil: unbounded). PerAddress also bounds registrations: login attempts
// and registrations from one address take from the same bucket, so that
// neither runs bcrypt for one client faster than the other would.
type LoginLimits struct {
	PerAccount Limiter
	PerAddress Limiter
}

// NewService returns an account service.
func NewService(tokens *auth.Tokens, passwords *auth.Passwords, limits LoginLimits) *Service {
	return &Service{tokens: tokens, passwords: passwords, limits: limits}
}

// Session is a freshly issued token for a user.
type Session struct {
	Token     string
	ExpiresAt time.Time
	User      *ent.User
}

// RegisterInput is what a new user supplies.
type RegisterInput struct {
	Email    string
	Password string
	Name     string
}

// errBadCredentials is the one answer for a wrong email and a wrong password.
var errBadCredentials = apperr.New(apperr.Unauthenticated, "wrong email or password")

// Registration is a validated registration with its password already
// hashed, ready to be written.
type Registration struct {
	email, name, hash string
}

// PrepareRegistration validates the input and hashes the password. It touches
// no database, so the slow hash runs before any transaction is opened.
// Invalid input is an Invalid error naming the field. Valid input takes one
// from the client address's login bucket (LoginLimits.PerAddress; clientAddr
// "" when unknown) before the hash: past the limit the answer is
// RateLimited, and nothing is hashed.
func (s *Service) PrepareRegistration(in RegisterInput, clientAddr string) (Registration, error) {
	email, err := validate.Email("email", in.Email)
	if err != nil {
		return Registration{}, err
	}
	if err := validate.Password("password", in.Password); err != nil {
		return Registration{}, err
	}
	if err := validate.Line("name", in.Name, 1, 100); err != nil {
		return Registration{}, err
	}
	if key := ratelimit.AddressKey(clientAddr); s.limits.PerAddress != nil && key != "" {
		if ok, wait := s.limits.PerAddress.Allow(key); !ok {
			return Registration{}, apperr.TooMany(wait, "too many registrations from this address")
		}
	}
	hash, err := s.passwords.Hash(in.Password)
	if err != nil {
		return Registration{}, err
	}
	return Registration{email: email, name: in.Name, hash: hash}, nil
}

// Register creates the prepared user and returns a session for them. An
// email already taken is an Invalid error naming the field email.
func (s *Service) Register(ctx context.Context, c *ent.Client, r Registration) (*Session, error) {
	email := r.email
	taken, err := c.User.Query().Where(user.Email(email)).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("account: checking email: %w", err)
	}
	if taken {
		return nil, apperr.InvalidField("email", "is already registered")
	}
	u, err := c.User.Create().SetEmail(email).SetName(r.name).SetPasswordHash(r.hash).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.InvalidField("email", "is already registered")
	}
	if err != nil {
		return nil, fmt.Errorf("account: creating user: %w", err)
	}
	return s.session(u)
}

// Login checks an email and password and returns a session. A wrong email
// and a wrong password give the same Unauthenticated error, in the same time.
// It only reads, so it takes the plain client: no transaction is held open
// while bcrypt runs.
//
// Attempts are limited per account and per client address (clientAddr, ""
// when unknown; an IPv6 address counts as its /64, ratelimit.AddressKey):
// past the limit the answer is RateLimited, before any password is checked.
func (s *Service) Login(ctx context.Context, c *ent.Client, email, password, clientAddr string) (*Session, error) {
	norm := normaliseEmail(email)
	for _, l := range []struct {
		limiter Limiter
		key     string
		what    string
	}{
		{s.limits.PerAddress, ratelimit.AddressKey(clientAddr), "from this address"},
		{s.limits.PerAccount, norm, "for this account"},
	} {
		if l.limiter == nil || l.key == "" {
			continue
		}
		if ok, wait := l.limiter.Allow(l.key); !ok {
			return nil, apperr.TooMany(wait, "too many login attempts %s", l.what)
		}
	}
	u, err := c.User.Query().Where(user.Email(norm)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		s.passwords.Match("", password)
		return nil, errBadCredentials
	case err != nil:
		return nil, fmt.Errorf("account: finding user: %w", err)
	}
	if !s.passwords.Match(u.PasswordHash, password) {
		return nil, errBadCredentials
	}
	return s.session(u)
}

func (s *Service) session(u *ent.User) (*Session, error) {
	token, exp, err := s.tokens.Issue(u.ID)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp, User: u}, nil
}

// normaliseEmail returns the stored form of e, or "" (which matches no
// account) when e is not an address.
func normaliseEmail(e string) string {
	n, _ := validate.Email("email", e)
	return n
}
