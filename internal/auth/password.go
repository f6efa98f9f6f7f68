package auth

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// Passwords hashes and checks passwords with bcrypt.
type Passwords struct {
	cost  int
	dummy []byte // hash compared against for unknown accounts, to even out timing
}

// NewPasswords returns a hasher with the given bcrypt cost (bcrypt.DefaultCost
// in production; tests use bcrypt.MinCost).
func NewPasswords(cost int) (*Passwords, error) {
	if cost < bcrypt.MinCost { // bcrypt would quietly use DefaultCost instead
		return nil, fmt.Errorf("auth: bcrypt cost %d is outside the range %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("timing-equaliser"), cost)
	if err != nil {
		return nil, fmt.Errorf("auth: bcrypt cost %d: %w", cost, err)
	}
	return &Passwords{cost: cost, dummy: dummy}, nil
}

// Hash returns the bcrypt hash of password (at most 72 bytes).
func (p *Passwords) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	if err != nil {
		return "", fmt.Errorf("auth: hashing password: %w", err)
	}
	return string(h), nil
}

// Match reports whether password matches hash. With an empty hash (no such
// account) it still spends a bcrypt comparison, so that a wrong email and a
// wrong password take the same time.
func (p *Passwords) Match(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password))
		return false
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	return err == nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword)
}
