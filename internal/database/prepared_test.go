package database_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lib/pq"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/database"
)

// preparedConn opens a fresh PostgreSQL database keeping keep statements
// prepared per connection, and pins one of its connections: prepared
// statements are a connection's own.
func preparedConn(t *testing.T, keep int) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, graphtest.PostgresURL(t), database.Options{PreparedStatements: keep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// preparedOn lists the statements prepared on c, oldest first
// (pg_prepared_statements is the session's own).
func preparedOn(t *testing.T, c *sql.Conn) []string {
	t.Helper()
	return queryStrings(t, c, "SELECT statement FROM pg_prepared_statements ORDER BY prepare_time")
}

// queryInt runs query with arg on c and returns its one integer.
func queryInt(c interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, arg int) (int, error) {
	var n int
	err := c.QueryRowContext(context.Background(), query, arg).Scan(&n)
	return n, err
}

// A statement with parameters is prepared on its connection the first
// time and run as prepared after; the least recently used is let go (the
// server forgets it) when more are kept than asked; with 0, nothing is
// prepared, as lib/pq does by itself.
func TestPreparedStatementsAreKeptPerConnection(t *testing.T) {
	const a, b, c3 = "SELECT $1::int + 1", "SELECT $1::int + 2", "SELECT $1::int + 3"
	c := preparedConn(t, 2)
	for i := range 3 {
		if n, err := queryInt(c, a, i); err != nil || n != i+1 {
			t.Fatalf("%s with %d: got %d, %v", a, i, n, err)
		}
	}
	if got := preparedOn(t, c); !slices.Equal(got, []string{a}) {
		t.Fatalf("after three runs of one statement: prepared %q, want it once", got)
	}
	for _, q := range []string{b, c3} {
		if _, err := queryInt(c, q, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := preparedOn(t, c); !slices.Equal(got, []string{b, c3}) {
		t.Errorf("three statements, two kept: prepared %q, want the two last used", got)
	}
	if n, err := queryInt(c, a, 41); err != nil || n != 42 {
		t.Errorf("the statement let go, run again: got %d, %v; want 42", n, err)
	}

	off := preparedConn(t, 0)
	if _, err := queryInt(off, a, 1); err != nil {
		t.Fatal(err)
	}
	if got := preparedOn(t, off); len(got) != 0 {
		t.Errorf("PreparedStatements 0: prepared %q, want none", got)
	}
}

// A statement prepared in a transaction that rolls back stays prepared
// (a prepared statement belongs to the session, not the transaction),
// one that fails to prepare is not kept, and after an aborted
// transaction the connection and its statements serve again.
func TestPreparedStatementsOutliveTransactions(t *testing.T) {
	ctx := context.Background()
	const q = "SELECT $1::int * 2"
	c := preparedConn(t, 8)
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := queryInt(tx, q, 4); err != nil || n != 8 {
		t.Fatalf("in the transaction: got %d, %v", n, err)
	}
	if _, err := queryInt(tx, "SELEC $1::int", 1); err == nil {
		t.Fatal("a syntax error ran")
	}
	if _, err := queryInt(tx, q, 1); err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Fatalf("after an error in the transaction: got %v, want PostgreSQL's refusal (transaction aborted)", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := preparedOn(t, c); !slices.Equal(got, []string{q}) {
		t.Errorf("after the rollback: prepared %q, want %q alone (not the one that failed to prepare)", got, q)
	}
	if n, err := queryInt(c, q, 21); err != nil || n != 42 {
		t.Errorf("after the rollback: got %d, %v; want 42", n, err)
	}
}

// When a migration changes the type of a column a prepared statement
// returns, PostgreSQL refuses to run it as prepared; that run fails, the
// statement is let go, and the next run prepares it again and succeeds.
func TestPreparedStatementAfterAColumnChangesType(t *testing.T) {
	ctx := context.Background()
	const q = "SELECT v FROM changing WHERE v = $1"
	c := preparedConn(t, 8)
	if _, err := c.ExecContext(ctx, "CREATE TABLE changing (v int); INSERT INTO changing VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if n, err := queryInt(c, q, 7); err != nil || n != 7 {
		t.Fatalf("before: got %d, %v", n, err)
	}
	if _, err := c.ExecContext(ctx, "ALTER TABLE changing ALTER COLUMN v TYPE bigint"); err != nil {
		t.Fatal(err)
	}
	var pqErr *pq.Error
	if _, err := queryInt(c, q, 7); !errors.As(err, &pqErr) || pqErr.Code != "0A000" {
		t.Fatalf("first run after the change: got %v, want PostgreSQL's 0A000 (cached plan must not change result type)", err)
	}
	if n, err := queryInt(c, q, 7); err != nil || n != 7 {
		t.Errorf("second run after the change: got %d, %v; want 7", n, err)
	}
}
