package notify

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tenantgraph/ent/notification"
	"tenantgraph/internal/benchdata"
	"tenantgraph/internal/database"
)

// BenchmarkWriteShare writes what a broadcast's share writes, on SQLite: the
// IN_APP rows of 1,000 of a tenant's 10,000 members in one transaction
// (share), and, beside it, one member's row in a transaction of its own
// (row), the shares going round the members as a broadcast's do. Each
// member already has SHARE_BACKLOG notifications: 3 unless set, 100 for a
// tenant that has broadcast a hundred times and keeps them. With
// SQLITE_PAGE_SIZE the database is created with that page size
// (benchdata.SQLiteURL). docs/BENCHMARKS.md, twenty-second round:
//
//	SHARE_BACKLOG=100 go test ./internal/notify -run '^$' -bench WriteShare -benchtime 100x
func BenchmarkWriteShare(b *testing.B) {
	backlog := 3
	if s := os.Getenv("SHARE_BACKLOG"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			b.Fatalf("SHARE_BACKLOG=%q: want a number of notifications per member", s)
		}
		backlog = n
	}
	db := shareBenchDB(b, backlog)
	b.Run("share", func(b *testing.B) { benchWriteInApp(b, db, shareRows) })
	b.Run("row", func(b *testing.B) { benchWriteInApp(b, db, 1) })
}

const shareBenchMembers = 10_000

// shareBenchDB is a new SQLite database with one tenant of
// shareBenchMembers members, each with backlog notifications.
func shareBenchDB(b *testing.B, backlog int) *database.DB {
	ctx := context.Background()
	url, err := benchdata.SQLiteURL(filepath.Join(b.TempDir(), "share.db"))
	if err != nil {
		b.Fatal(err)
	}
	db, err := database.Open(ctx, url, database.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	var got int
	if err := db.SQL.QueryRowContext(ctx, "PRAGMA page_size").Scan(&got); err != nil {
		b.Fatal(err)
	}
	b.Logf("page_size %d, %d notifications per member", got, backlog)
	// The members, and their notifications, written by SQL: the rows of
	// backlog broadcasts, oldest first, as they would have been written.
	stmts := []string{
		`INSERT INTO tenants (id, created_at, updated_at, name, slug, notification_channels)
			VALUES (1, datetime('now'), datetime('now'), 'Bench', 'bench', '[]')`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + strconv.Itoa(shareBenchMembers) + `)
			INSERT INTO users (id, created_at, updated_at, email, name, password_hash)
			SELECT i, datetime('now'), datetime('now'), 'member' || i || '@example.com', 'Member ' || i, 'x' FROM n`,
		`INSERT INTO memberships (created_at, updated_at, role, tenant_id, user_id)
			SELECT datetime('now'), datetime('now'), 'MANAGER', 1, id FROM users ORDER BY id`,
		`WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k WHERE x < ` + strconv.Itoa(backlog) + `)
			INSERT INTO notifications (tenant_id, recipient_id, created_at, updated_at, kind, title, body, read)
			SELECT 1, m.user_id, datetime('2026-01-01', '+' || k.x || ' minutes'), datetime('2026-01-01', '+' || k.x || ' minutes'),
				'PROJECT_SUBMITTED', 'Project submitted', 'Bench was submitted for approval by Member 1', k.x % 3 = 0
			FROM k CROSS JOIN memberships m ORDER BY k.x, m.user_id`,
	}
	if backlog == 0 {
		stmts = stmts[:len(stmts)-1]
	}
	for _, stmt := range stmts {
		if _, err := db.SQL.ExecContext(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// benchWriteInApp writes, b.N times, the rows of size members in a
// transaction of their own, each time the next size members.
func benchWriteInApp(b *testing.B, db *database.DB, size int) {
	ctx := context.Background()
	members := make([]int, shareBenchMembers)
	for i := range members {
		members[i] = i + 1
	}
	next := 0
	b.ResetTimer()
	for range b.N {
		if next+size > len(members) {
			next = 0
		}
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			b.Fatal(err)
		}
		_, written, err := writeInApp(ctx, tx.Client(), inApp{
			tenant: 1, at: time.Now().UTC(), kind: notification.KindPROJECT_SUBMITTED,
			title: "Project submitted", body: "Bench was submitted for approval by Member 1",
			recipients: members[next : next+size],
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(written) != size {
			b.Fatalf("wrote %d rows, want %d", len(written), size)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		next += size
	}
}
