package database_test

import (
	"context"
	"strings"
	"testing"

	"tenantgraph/internal/database"
)

// TestOpenKeepsThePasswordOutOfErrors opens DATABASE_URLs that lib/pq
// cannot parse: the error, which the server prints at exit, must not carry
// the password.
func TestOpenKeepsThePasswordOutOfErrors(t *testing.T) {
	for _, url := range []string{
		"postgres://app:s3cret%zzpw@127.0.0.1:5432/db?sslmode=disable", // an unescaped % in the password
		"postgres://app:s3cretpw@127.0.0.1:badport/db",
		"mysql://app:s3cretpw@127.0.0.1/db",
	} {
		t.Run(url, func(t *testing.T) {
			db, err := database.Open(context.Background(), url, database.Options{})
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error", url)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open error = %q, want it without the password", err)
			}
		})
	}
}
