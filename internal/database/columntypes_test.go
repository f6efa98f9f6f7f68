package database

import (
	"context"
	stdsql "database/sql"
	"database/sql/driver"
	"path/filepath"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// countingRows counts how often its column types are asked for.
type countingRows struct {
	entsql.ColumnScanner
	described int
}

func (c *countingRows) ColumnTypes() ([]*stdsql.ColumnType, error) {
	c.described++
	return c.ColumnScanner.ColumnTypes()
}

// TestColumnTypesOnce: the rows of a query selecting total_in_page describe
// their columns once per result set, however many rows ent scans; the scan
// types and values stay right; other queries keep database/sql's own rows.
func TestColumnTypesOnce(t *testing.T) {
	ctx := context.Background()
	db, err := stdsql.Open("sqlite", SQLiteDSN(filepath.Join(t.TempDir(), "t.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	drv := columnTypesOnce{entsql.OpenDB(dialect.SQLite, db)}

	var plain entsql.Rows
	if err := drv.Query(ctx, "SELECT 1", []any{}, &plain); err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.ColumnScanner.(*stdsql.Rows); !ok {
		t.Errorf("a query without total_in_page: got rows of type %T, want *sql.Rows", plain.ColumnScanner)
	}
	plain.Close()

	var rows entsql.Rows
	q := "SELECT n, COUNT(*) OVER () AS total_in_page FROM (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3)"
	if err := drv.Query(ctx, q, []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	described, ok := rows.ColumnScanner.(*describedRows)
	if !ok {
		t.Fatalf("got rows of type %T, want *describedRows", rows.ColumnScanner)
	}
	counter := &countingRows{ColumnScanner: described.ColumnScanner}
	described.ColumnScanner = counter
	n := 0
	for rows.Next() {
		n++
		total := entsql.ScanTypeOf(&rows, 1) // as ent scans a column it did not generate
		var v int
		if err := rows.Scan(&v, total); err != nil {
			t.Fatal(err)
		}
		if got, err := total.(driver.Valuer).Value(); err != nil || got != int64(3) {
			t.Errorf("row %d: total_in_page scanned as %v (%v), want 3", n, got, err)
		}
	}
	if n != 3 || counter.described != 1 {
		t.Errorf("got %d rows described %d times, want 3 rows described once", n, counter.described)
	}
}

// resultSets stands for rows with several result sets.
type resultSets struct {
	entsql.ColumnScanner
	described int
}

func (r *resultSets) ColumnTypes() ([]*stdsql.ColumnType, error) {
	r.described++
	return nil, nil
}

func (r *resultSets) NextResultSet() bool { return true }

// TestColumnTypesOnceNextResultSet: a new result set is described anew.
func TestColumnTypesOnceNextResultSet(t *testing.T) {
	inner := &resultSets{}
	rows := &describedRows{ColumnScanner: inner}
	rows.ColumnTypes()
	rows.ColumnTypes()
	rows.NextResultSet()
	rows.ColumnTypes()
	if inner.described != 2 {
		t.Errorf("described %d times over two result sets, want 2", inner.described)
	}
}
