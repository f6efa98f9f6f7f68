package database

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/lib/pq"
)

// preparedConnector opens lib/pq connections that prepare each statement
// with parameters the first time they run it, and keep the keep most
// recently used ones prepared.
//
// By itself lib/pq runs a statement with parameters as an unnamed one: a
// round trip to parse and describe it, another to bind and execute it, and
// PostgreSQL parses and plans it each time. A statement prepared on the
// connection runs in one round trip, and PostgreSQL keeps its parse tree
// and, after five runs, may keep a generic plan. ent sends the same
// statement texts over and over, so nearly every one is found prepared:
// measured in process (docs/BENCHMARKS.md, twenty-second round), createTask
// took 2.9–3.3 ms instead of 4.1, updateTask 3.2–3.5 instead of 4.6–5.1,
// and ProjectTree 8.9–10.5 ms instead of 11.2–12.9.
//
// A prepared statement belongs to its connection, and a connection serves
// one caller at a time, so the cache needs no lock; it goes with the
// connection. Statements without parameters keep lib/pq's simple query
// protocol (one round trip already).
type preparedConnector struct {
	driver.Connector
	keep int
}

func (c preparedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(pqConn)
	if !ok { // lib/pq's connection implements all of pqConn
		conn.Close()
		return nil, errors.New("database: the PostgreSQL driver's connection cannot prepare statements")
	}
	stmts, err := simplelru.NewLRU[string, driver.Stmt](c.keep, func(_ string, st driver.Stmt) {
		_ = st.Close() // pushed out by a newer one: the server forgets it
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &preparedConn{pqConn: pc, stmts: stmts}, nil
}

// pqConn is what lib/pq's connection implements of database/sql/driver;
// preparedConn passes it all on but running statements.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.NamedValueChecker
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type preparedConn struct {
	pqConn
	stmts *simplelru.LRU[string, driver.Stmt]
}

// QueryContext runs query as the connection's statement for it.
func (c *preparedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	return rows, c.check(query, err)
}

// ExecContext runs query as the connection's statement for it.
func (c *preparedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
	return res, c.check(query, err)
}

// prepared returns the connection's statement for query, preparing it the
// first time. A statement that fails to prepare (a syntax error, an
// aborted transaction) is not kept.
func (c *preparedConn) prepared(ctx context.Context, query string) (driver.Stmt, error) {
	if st, ok := c.stmts.Get(query); ok {
		return st, nil
	}
	st, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts.Add(query, st)
	return st, nil
}

// check forgets query's statement when PostgreSQL refuses to run it as
// prepared: a migration changed the type of a column it returns ("cached
// plan must not change result type", SQLSTATE 0A000). That run fails; the
// next one prepares it anew.
func (c *preparedConn) check(query string, err error) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "0A000" {
		c.stmts.Remove(query)
	}
	return err
}
