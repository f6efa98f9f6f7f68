package database

import (
	"context"
	stdsql "database/sql"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// columnTypesOnce wraps a driver so that the rows of each query describe
// their columns once, not once per row. ent scans a column it did not
// generate (such as total_in_page, which ent/template/total_in_page.tmpl
// adds to a page's query) by asking the rows for all their column types on
// every row, and database/sql builds them afresh from the driver each time:
// for a page of 1,000 comments that was 1,000 descriptions of 6 columns and
// about 13,000 allocations per request. The types of a result set do not
// change from row to row; on SQLite, whose columns are typed per value, the
// scan type of a computed column is that of its first row.
//
// Only the queries that select total_in_page are wrapped: they are the ones
// with a column ent did not generate, and other readers of the rows (ent's
// schema migration, through Atlas) need database/sql's own *sql.Rows.
type columnTypesOnce struct {
	dialect.Driver
}

func (d columnTypesOnce) Query(ctx context.Context, query string, args, v any) error {
	return describeOnce(query, v, d.Driver.Query(ctx, query, args, v))
}

func (d columnTypesOnce) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return columnTypesOnceTx{tx}, nil
}

type columnTypesOnceTx struct {
	dialect.Tx
}

func (t columnTypesOnceTx) Query(ctx context.Context, query string, args, v any) error {
	return describeOnce(query, v, t.Tx.Query(ctx, query, args, v))
}

// totalInPage is the column ent/template/total_in_page.tmpl adds.
const totalInPage = "total_in_page"

// describeOnce wraps the rows a query that selects total_in_page filled in
// v, unless the query failed (err).
func describeOnce(query string, v any, err error) error {
	if err != nil || !strings.Contains(query, totalInPage) {
		return err
	}
	if rows, ok := v.(*entsql.Rows); ok && rows.ColumnScanner != nil {
		rows.ColumnScanner = &describedRows{ColumnScanner: rows.ColumnScanner}
	}
	return nil
}

// describedRows remembers the column types of its current result set.
type describedRows struct {
	entsql.ColumnScanner
	types []*stdsql.ColumnType
	err   error
	known bool
}

func (r *describedRows) ColumnTypes() ([]*stdsql.ColumnType, error) {
	if !r.known {
		r.types, r.err = r.ColumnScanner.ColumnTypes()
		r.known = r.err == nil
	}
	return r.types, r.err
}

func (r *describedRows) NextResultSet() bool {
	r.types, r.err, r.known = nil, nil, false
	return r.ColumnScanner.NextResultSet()
}
