package database

import (
	"context"
	"sync/atomic"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// Counter wraps a driver and counts the SQL statements sent through it,
// including those inside transactions, and the rows their queries returned.
// Tests and benchmarks use it to prove that a query's statement count does
// not grow with its page size, and that it reads no more rows than it needs.
type Counter struct {
	dialect.Driver
	counts
}

// counts are a Counter's, shared with its transactions.
type counts struct {
	statements, rows atomic.Int64
	countRows        atomic.Bool
}

// NewCounter wraps drv.
func NewCounter(drv dialect.Driver) *Counter { return &Counter{Driver: drv} }

// Count returns the number of statements so far.
func (c *Counter) Count() int64 { return c.statements.Load() }

// Rows returns the number of rows queries have returned so far (those their
// callers read: a row is counted when Next reaches it), while CountRows was
// on.
func (c *Counter) Rows() int64 { return c.rows.Load() }

// CountRows turns the counting of rows on or off; it starts off. Counting
// wraps every query's rows, and ent's schema migration (Atlas inspecting
// the database) needs them unwrapped: turn it on after migrating.
func (c *Counter) CountRows(on bool) { c.countRows.Store(on) }

// Reset sets both counts to zero.
func (c *Counter) Reset() {
	c.statements.Store(0)
	c.rows.Store(0)
}

// Exec counts and runs a statement.
func (c *Counter) Exec(ctx context.Context, query string, args, v any) error {
	c.statements.Add(1)
	return c.Driver.Exec(ctx, query, args, v)
}

// Query counts and runs a query, whose rows it counts as they are read.
func (c *Counter) Query(ctx context.Context, query string, args, v any) error {
	return c.query(c.Driver.Query(ctx, query, args, v), v)
}

// Tx starts a transaction whose statements are counted too.
func (c *Counter) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := c.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, counts: &c.counts}, nil
}

type countingTx struct {
	dialect.Tx
	*counts
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.statements.Add(1)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	return t.query(t.Tx.Query(ctx, query, args, v), v)
}

// query counts a query that returned err and filled v.
func (c *counts) query(err error, v any) error {
	c.statements.Add(1)
	if rows, ok := v.(*entsql.Rows); ok && err == nil && rows.ColumnScanner != nil && c.countRows.Load() {
		rows.ColumnScanner = rowCounter{rows.ColumnScanner, &c.rows}
	}
	return err
}

// rowCounter counts the rows Next reaches.
type rowCounter struct {
	entsql.ColumnScanner
	n *atomic.Int64
}

func (r rowCounter) Next() bool {
	if r.ColumnScanner.Next() {
		r.n.Add(1)
		return true
	}
	return false
}
