// Package auth issues and verifies access tokens and hashes passwords.
// Tokens carry identity only; tenant and role are looked up per request.
package auth

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is returned for any token that fails verification. The
// reason is wrapped for logs; clients see only that the token is invalid.
var ErrInvalidToken = errors.New("invalid or expired token")

// Tokens issues and verifies HS256 JWTs.
type Tokens struct {
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	// parser verifies every token; built once (its options and validator
	// are read-only while it parses, so it is safe for concurrent use).
	parser *jwt.Parser
}

// TokenConfig configures Tokens.
type TokenConfig struct {
	Secret   []byte
	Issuer   string
	Audience string
	TTL      time.Duration
	Now      func() time.Time // defaults to time.Now
}

// NewTokens returns a token issuer and verifier. The secret must be at least
// 32 bytes: HS256 with a short key is guessable.
func NewTokens(c TokenConfig) (*Tokens, error) {
	if len(c.Secret) < 32 {
		return nil, fmt.Errorf("auth: JWT secret must be at least 32 bytes, got %d", len(c.Secret))
	}
	if c.TTL <= 0 {
		return nil, fmt.Errorf("auth: token lifetime must be positive, got %s", c.TTL)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	t := &Tokens{secret: c.Secret, issuer: c.Issuer, audience: c.Audience, ttl: c.TTL, now: c.Now}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
		jwt.WithLeeway(leeway),
		// One spelling per token: no spare base64 bits, no padding variants.
		jwt.WithStrictDecoding(),
	)
	return t, nil
}

// Issue returns a signed token for the user and when it expires.
func (t *Tokens) Issue(userID int) (string, time.Time, error) {
	now := t.now().UTC().Truncate(time.Second)
	exp := now.Add(t.ttl)
	claims := jwt.RegisteredClaims{
		Subject:   strconv.Itoa(userID),
		Issuer:    t.issuer,
		Audience:  jwt.ClaimStrings{t.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: signing token: %w", err)
	}
	return signed, exp, nil
}

// leeway is the clock skew allowed on a token's times.
const leeway = 5 * time.Second

// Verify checks a token strictly (HS256 only, signature, expiry required,
// issuer and audience) and returns the user it names and when it expires.
// Every failure wraps ErrInvalidToken.
func (t *Tokens) Verify(token string) (int, time.Time, error) {
	var claims jwt.RegisteredClaims
	_, err := t.parser.ParseWithClaims(token, &claims, t.key)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	id, err := strconv.Atoi(claims.Subject)
	if err != nil || id <= 0 {
		return 0, time.Time{}, fmt.Errorf("%w: subject %q is not a user", ErrInvalidToken, claims.Subject)
	}
	return id, claims.ExpiresAt.Time, nil
}

// key is the parser's key function: the one secret, whatever the token's
// header says (the parser has already refused any method but HS256).
func (t *Tokens) key(*jwt.Token) (any, error) { return t.secret, nil }

// Unexpired checks that a token Verify accepted, which expires at exp, has
// not expired since (with Verify's leeway). A websocket's operations use it:
// the connection's token was verified once, at connection_init. The error
// wraps ErrInvalidToken.
func (t *Tokens) Unexpired(exp time.Time) error {
	if !t.now().Before(exp.Add(leeway)) {
		return fmt.Errorf("%w: expired at %s", ErrInvalidToken, exp.UTC().Format(time.RFC3339))
	}
	return nil
}
