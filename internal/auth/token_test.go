package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"tenantgraph/internal/auth"
)

var (
	testSecret   = []byte("token-test-secret-token-test-secret-0123")
	testIssuer   = "tenantgraph"
	testAudience = "tenantgraph-api"
)

// newTestTokens returns Tokens with the test settings, changed by edit.
func newTestTokens(t *testing.T, edit func(*auth.TokenConfig)) *auth.Tokens {
	t.Helper()
	c := auth.TokenConfig{Secret: testSecret, Issuer: testIssuer, Audience: testAudience, TTL: time.Hour}
	if edit != nil {
		edit(&c)
	}
	tokens, err := auth.NewTokens(c)
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	return tokens
}

// validClaims are claims Verify accepts, for tests that change one of them.
func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": "42",
		"iss": testIssuer,
		"aud": []string{testAudience},
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// mustSign signs claims with method and key.
func mustSign(t *testing.T, method jwt.SigningMethod, claims jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing with %s: %v", method.Alg(), err)
	}
	return s
}

func segment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestTokenRoundTrip(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tokens := newTestTokens(t, func(c *auth.TokenConfig) { c.Now = func() time.Time { return now } })

	token, exp, err := tokens.Issue(42)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if want := now.Add(time.Hour); !exp.Equal(want) {
		t.Errorf("expiry: got %s, want %s", exp, want)
	}

	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("got %d segments, want 3", len(parts))
	}
	var header map[string]any
	decodeSegment(t, parts[0], &header)
	if header["alg"] != "HS256" {
		t.Errorf("alg: got %v, want HS256", header["alg"])
	}
	var claims map[string]any
	decodeSegment(t, parts[1], &claims)
	want := map[string]any{
		"sub": "42",
		"iss": testIssuer,
		"aud": []any{testAudience},
		"iat": float64(now.Unix()),
		"exp": float64(now.Add(time.Hour).Unix()),
	}
	for k, v := range want {
		got, ok := claims[k]
		if !ok {
			t.Errorf("claim %s: missing, want %v", k, v)
			continue
		}
		if gb, wb := mustJSON(t, got), mustJSON(t, v); gb != wb {
			t.Errorf("claim %s: got %s, want %s", k, gb, wb)
		}
	}

	id, gotExp, err := tokens.Verify(token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id != 42 {
		t.Errorf("user: got %d, want 42", id)
	}
	if !gotExp.Equal(exp) {
		t.Errorf("Verify expiry: got %s, want %s", gotExp, exp)
	}
}

func TestTokenRoundTripRealClock(t *testing.T) {
	tokens := newTestTokens(t, nil)
	token, _, err := tokens.Issue(7)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	id, _, err := tokens.Verify(token)
	if err != nil || id != 7 {
		t.Fatalf("got (%d, %v), want (7, nil)", id, err)
	}
}

func decodeSegment(t *testing.T, s string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("segment %q is not base64url: %v", s, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %s is not JSON: %v", b, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerifyRejects(t *testing.T) {
	tokens := newTestTokens(t, nil)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	issueWith := func(edit func(*auth.TokenConfig)) string {
		token, _, err := newTestTokens(t, edit).Issue(42)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		return token
	}
	// A genuine token, to build tampered variants of.
	genuine, _, err := tokens.Issue(42)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(genuine, ".")
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := validClaims()
		edit(c)
		return c
	}

	tests := []struct {
		name  string
		token string
	}{
		{"alg none by hand", segment(t, map[string]string{"alg": "none", "typ": "JWT"}) + "." + segment(t, validClaims()) + "."},
		{"alg none by hand with the genuine payload", segment(t, map[string]string{"alg": "none", "typ": "JWT"}) + "." + parts[1] + "."},
		{"alg None capitalised", segment(t, map[string]string{"alg": "None", "typ": "JWT"}) + "." + parts[1] + "."},
		{"alg none via jwt", mustSign(t, jwt.SigningMethodNone, validClaims(), jwt.UnsafeAllowNoneSignatureType)},
		{"alg none header keeping the HS256 signature", segment(t, map[string]string{"alg": "none", "typ": "JWT"}) + "." + parts[1] + "." + parts[2]},
		{"HS384 with the same key", mustSign(t, jwt.SigningMethodHS384, validClaims(), testSecret)},
		{"HS512 with the same key", mustSign(t, jwt.SigningMethodHS512, validClaims(), testSecret)},
		{"RS256", mustSign(t, jwt.SigningMethodRS256, validClaims(), rsaKey)},
		{"wrong key", issueWith(func(c *auth.TokenConfig) { c.Secret = []byte("another-secret-another-secret-0123456789") })},
		{"wrong key, same length", mustSign(t, jwt.SigningMethodHS256, validClaims(), append([]byte("X"), testSecret[1:]...))},
		{"tampered payload", parts[0] + "." + segment(t, with(func(c jwt.MapClaims) { c["sub"] = "1" })) + "." + parts[2]},
		{"stripped signature", parts[0] + "." + parts[1] + "."},
		{"expired", issueWith(func(c *auth.TokenConfig) {
			c.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
		})},
		{"expired by a minute", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) {
			c["iat"] = time.Now().Add(-time.Hour).Unix()
			c["nbf"] = time.Now().Add(-time.Hour).Unix()
			c["exp"] = time.Now().Add(-time.Minute).Unix()
		}), testSecret)},
		{"missing exp", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { delete(c, "exp") }), testSecret)},
		{"wrong issuer", issueWith(func(c *auth.TokenConfig) { c.Issuer = "someone-else" })},
		{"missing issuer", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { delete(c, "iss") }), testSecret)},
		{"wrong audience", issueWith(func(c *auth.TokenConfig) { c.Audience = "another-api" })},
		{"missing audience", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { delete(c, "aud") }), testSecret)},
		{"not before in the future", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) {
			c["nbf"] = time.Now().Add(10 * time.Minute).Unix()
		}), testSecret)},
		{"issued in the future", issueWith(func(c *auth.TokenConfig) {
			c.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
		})},
		{"subject zero", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["sub"] = "0" }), testSecret)},
		{"subject negative", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["sub"] = "-3" }), testSecret)},
		{"subject not a number", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["sub"] = "alice" }), testSecret)},
		{"subject empty", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["sub"] = "" }), testSecret)},
		{"subject missing", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { delete(c, "sub") }), testSecret)},
		{"subject fractional", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["sub"] = "4.2" }), testSecret)},
		{"subject overflowing", mustSign(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["sub"] = "99999999999999999999999" }), testSecret)},
		{"empty string", ""},
		{"garbage", "not a token"},
		{"three dots", "..."},
		{"three empty-ish segments", "a.b.c"},
		{"header only", parts[0]},
		{"two segments", parts[0] + "." + parts[1]},
		{"four segments", genuine + ".x"},
		{"Bearer prefix inside the token", "Bearer " + genuine},
		{"non-JSON header", base64.RawURLEncoding.EncodeToString([]byte("{{{")) + "." + parts[1] + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, _, err := tokens.Verify(tt.token)
			if err == nil {
				t.Fatalf("got user %d and no error, want ErrInvalidToken", id)
			}
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("got %v, want an error wrapping ErrInvalidToken", err)
			}
			if id != 0 {
				t.Errorf("got user %d with the error, want 0", id)
			}
		})
	}
}

// The leeway tolerates clock skew of a few seconds, no more.
func TestVerifyLeeway(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	issuer := newTestTokens(t, func(c *auth.TokenConfig) { c.Now = func() time.Time { return base } })
	token, _, err := issuer.Issue(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"just before expiry", base.Add(time.Hour - time.Second), true},
		{"within leeway after expiry", base.Add(time.Hour + 2*time.Second), true},
		{"past leeway after expiry", base.Add(time.Hour + time.Minute), false},
		{"slightly before issue (skew)", base.Add(-2 * time.Second), true},
		{"well before issue", base.Add(-time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestTokens(t, func(c *auth.TokenConfig) { c.Now = func() time.Time { return tt.at } })
			_, _, err := v.Verify(token)
			if got := err == nil; got != tt.ok {
				t.Fatalf("accepted: got %v, want %v (err %v)", got, tt.ok, err)
			}
		})
	}
}

// Unexpired, which a websocket's operations use after connection_init
// verified the token, draws the line where Verify does, to the nanosecond.
func TestUnexpiredAgreesWithVerify(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	issuer := newTestTokens(t, func(c *auth.TokenConfig) { c.Now = func() time.Time { return base } })
	token, exp, err := issuer.Issue(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{-time.Minute, -time.Nanosecond, 0, 5*time.Second - time.Nanosecond, 5 * time.Second, 5*time.Second + time.Nanosecond, time.Hour} {
		at := exp.Add(after)
		v := newTestTokens(t, func(c *auth.TokenConfig) { c.Now = func() time.Time { return at } })
		_, _, verr := v.Verify(token)
		uerr := v.Unexpired(exp)
		if (verr == nil) != (uerr == nil) {
			t.Errorf("%s after expiry: Verify says %v, Unexpired says %v", after, verr, uerr)
		}
		if uerr != nil && !errors.Is(uerr, auth.ErrInvalidToken) {
			t.Errorf("%s after expiry: Unexpired's error %v does not wrap ErrInvalidToken", after, uerr)
		}
	}
	if err := newTestTokens(t, func(c *auth.TokenConfig) { c.Now = func() time.Time { return exp.Add(time.Minute) } }).Unexpired(exp); err == nil {
		t.Error("Unexpired accepted a token a minute past its expiry")
	}
}

func TestNewTokensConfig(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		ttl    time.Duration
		ok     bool
	}{
		{"empty secret", nil, time.Hour, false},
		{"31-byte secret", []byte(strings.Repeat("s", 31)), time.Hour, false},
		{"32-byte secret", []byte(strings.Repeat("s", 32)), time.Hour, true},
		{"zero lifetime", testSecret, 0, false},
		{"negative lifetime", testSecret, -time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewTokens(auth.TokenConfig{Secret: tt.secret, Issuer: testIssuer, Audience: testAudience, TTL: tt.ttl})
			if got := err == nil; got != tt.ok {
				t.Fatalf("accepted: got %v, want %v (err %v)", got, tt.ok, err)
			}
		})
	}
}

// TestVerifyRejectsNonCanonicalSignature: the last character of an HS256
// signature carries two spare bits; a lenient decoder maps four spellings to
// the same bytes. Only the canonical one is accepted.
func TestVerifyRejectsNonCanonicalSignature(t *testing.T) {
	tokens := newTestTokens(t, nil)
	token, _, err := tokens.Issue(42)
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, token[len(token)-1])
	variant := token[:len(token)-1] + string(alphabet[last^1])
	if _, _, err := tokens.Verify(variant); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("non-canonical signature: got %v, want ErrInvalidToken", err)
	}
	if _, _, err := tokens.Verify(token); err != nil {
		t.Errorf("canonical token: got %v, want nil", err)
	}
}
