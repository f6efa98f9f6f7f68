package auth_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"tenantgraph/internal/auth"
)

func newTestPasswords(t *testing.T, cost int) *auth.Passwords {
	t.Helper()
	p, err := auth.NewPasswords(cost)
	if err != nil {
		t.Fatalf("NewPasswords(%d): %v", cost, err)
	}
	return p
}

func TestPasswordHashAndMatch(t *testing.T) {
	p := newTestPasswords(t, bcrypt.MinCost)
	const password = "correct horse battery staple"
	hash, err := p.Hash(password)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if strings.Contains(hash, password) {
		t.Fatalf("hash %q contains the password", hash)
	}
	if !strings.HasPrefix(hash, "$2") {
		t.Errorf("hash %q: want a bcrypt hash ($2…)", hash)
	}

	tests := []struct {
		name     string
		hash     string
		password string
		want     bool
	}{
		{"right password", hash, password, true},
		{"wrong password", hash, "correct horse battery stapler", false},
		{"different case", hash, strings.ToUpper(password), false},
		{"empty password", hash, "", false},
		{"unknown account (empty hash)", "", password, false},
		{"unknown account, empty password", "", "", false},
		{"not a bcrypt hash", "plain", "plain", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Match(tt.hash, tt.password); got != tt.want {
				t.Fatalf("Match: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPasswordHashIsSalted(t *testing.T) {
	p := newTestPasswords(t, bcrypt.MinCost)
	a, err := p.Hash("same password")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Hash("same password")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two hashes of one password are equal (%q): want a fresh salt each time", a)
	}
}

func TestPasswordCost(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, bcrypt.MinCost + 1} {
		p := newTestPasswords(t, cost)
		hash, err := p.Hash("password123")
		if err != nil {
			t.Fatal(err)
		}
		got, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			t.Fatalf("bcrypt.Cost(%q): %v", hash, err)
		}
		if got != cost {
			t.Errorf("cost: got %d, want %d", got, cost)
		}
	}
}

func TestNewPasswordsRejectsBadCost(t *testing.T) {
	// Below MinCost bcrypt would hash at DefaultCost instead, silently.
	for _, cost := range []int{bcrypt.MaxCost + 1, bcrypt.MinCost - 1, 0, -1} {
		if _, err := auth.NewPasswords(cost); err == nil {
			t.Errorf("NewPasswords(%d): got no error, want one", cost)
		}
	}
}
