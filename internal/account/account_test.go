package account

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"tenantgraph/internal/apperr"
	"tenantgraph/internal/auth"
)

// refusingLimiter refuses every event and records the keys it was asked
// about.
type refusingLimiter struct{ keys []string }

func (l *refusingLimiter) Allow(key string) (bool, time.Duration) {
	l.keys = append(l.keys, key)
	return false, 30 * time.Second
}

func newTestService(t *testing.T, limits LoginLimits) *Service {
	t.Helper()
	tokens, err := auth.NewTokens(auth.TokenConfig{Secret: []byte(strings.Repeat("k", 32)), Issuer: "i", Audience: "a", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := auth.NewPasswords(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return NewService(tokens, passwords, limits)
}

// TestLoginAddressKey: login attempts are counted per IPv4 address and per
// IPv6 /64, so a client cannot take a fresh bucket with each address of its
// /64. A refused attempt touches no database (the client here is nil).
func TestLoginAddressKey(t *testing.T) {
	tests := []struct{ addr, wantKey string }{
		{"203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:dead:beef:0:1", "2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			limiter := &refusingLimiter{}
			s := newTestService(t, LoginLimits{PerAddress: limiter})
			_, err := s.Login(context.Background(), nil, "ada@example.test", "correct horse", tt.addr)
			if apperr.KindOf(err) != apperr.RateLimited {
				t.Fatalf("got %v, want a RATE_LIMITED error", err)
			}
			if len(limiter.keys) != 1 || limiter.keys[0] != tt.wantKey {
				t.Errorf("keys: got %q, want [%q]", limiter.keys, tt.wantKey)
			}
		})
	}
}

// TestRegisterTakesFromTheAddressBucket: a registration with valid input
// takes from the client address's login bucket (an IPv6 client's /64)
// before its password is hashed; past the limit it is RATE_LIMITED with a
// retry time. Invalid input is refused before, and takes nothing.
func TestRegisterTakesFromTheAddressBucket(t *testing.T) {
	valid := RegisterInput{Email: "ada@example.test", Password: "correct horse", Name: "Ada"}
	tests := []struct {
		name     string
		in       RegisterInput
		addr     string
		wantKind apperr.Kind
		wantKeys []string
	}{
		{"IPv4", valid, "203.0.113.7", apperr.RateLimited, []string{"203.0.113.7"}},
		{"IPv6", valid, "2001:db8:1:2::9", apperr.RateLimited, []string{"2001:db8:1:2::/64"}},
		{"invalid input", RegisterInput{Email: "not an address", Password: "correct horse", Name: "Ada"}, "203.0.113.7", apperr.Invalid, nil},
		{"unknown address", valid, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limiter := &refusingLimiter{}
			s := newTestService(t, LoginLimits{PerAddress: limiter})
			reg, err := s.PrepareRegistration(tt.in, tt.addr)
			var gotKind apperr.Kind // "": no error
			if err != nil {
				gotKind = apperr.KindOf(err)
			}
			if gotKind != tt.wantKind {
				t.Fatalf("got %v (kind %q), want kind %q", err, gotKind, tt.wantKind)
			}
			if tt.wantKind == apperr.RateLimited {
				var e *apperr.Error
				if !errors.As(err, &e) || e.RetryAfterSeconds() != 30 {
					t.Errorf("got %v, want a retry in 30s", err)
				}
				if reg.hash != "" {
					t.Error("a refused registration's password was hashed")
				}
			}
			if strings.Join(limiter.keys, ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("keys: got %q, want %q", limiter.keys, tt.wantKeys)
			}
		})
	}
}
