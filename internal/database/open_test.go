package database_test

import (
	"context"
	"database/sql"
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

// TestSQLiteConnectionsCarryTheirSettings checks the settings SQLiteDSN
// promises on several connections of the pool at once (each is opened with
// them, not only the first): foreign keys, WAL, NORMAL synchronous, the
// busy timeout, and LIKE that respects case.
func TestSQLiteConnectionsCarryTheirSettings(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite:"+t.TempDir()+"/settings.db", database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]string{
		"foreign_keys": "1",
		"journal_mode": "wal",
		"synchronous":  "1", // NORMAL
		"busy_timeout": "10000",
	}
	conns := make([]*sql.Conn, 3) // held together: three distinct connections
	for i := range conns {
		c, err := db.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		for pragma, value := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("connection %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != value {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, pragma, got, value)
			}
		}
		var matches bool // case_sensitive_like has no reading: LIKE must tell
		if err := c.QueryRowContext(ctx, "SELECT 'ABC' LIKE 'abc'").Scan(&matches); err != nil {
			t.Fatal(err)
		}
		if matches {
			t.Errorf("connection %d: 'ABC' LIKE 'abc', want LIKE to respect case", i)
		}
	}
}
