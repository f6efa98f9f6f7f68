package benchdata

import (
	"database/sql"
	"fmt"
	"os"
	"strconv"

	_ "modernc.org/sqlite" // registers "sqlite"
)

// SQLiteURL returns the DATABASE_URL of a new SQLite database at path. With
// SQLITE_PAGE_SIZE set (a power of two from 512 to 65536) the file is
// created here with that page size, which database.Open keeps, so that a
// benchmark can be run on other page sizes than SQLite's default of 4 KiB
// (docs/BENCHMARKS.md, twenty-second round); otherwise Open creates it.
func SQLiteURL(path string) (string, error) {
	s := os.Getenv("SQLITE_PAGE_SIZE")
	if s == "" {
		return "sqlite:" + path, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 512 || n > 65536 || n&(n-1) != 0 {
		return "", fmt.Errorf("SQLITE_PAGE_SIZE=%q: want a power of two from 512 to 65536", s)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	// The page size is fixed by the first page written, and WAL mode,
	// which database.Open sets first, writes it.
	if _, err := db.Exec("PRAGMA page_size = " + s + "; PRAGMA journal_mode = WAL"); err != nil {
		return "", fmt.Errorf("creating %s with %d-byte pages: %w", path, n, err)
	}
	return "sqlite:" + path, nil
}
