package database_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"tenantgraph/internal/database"
)

func TestReadMigrations(t *testing.T) {
	t.Run("in version order with names and checksums", func(t *testing.T) {
		ms := newTestMigrations(t, threeMigrations)
		got := versionsOf(ms, func(m database.Migration) string { return m.Version + "/" + m.Name + "/" + m.File })
		want := []string{
			"0001/create_widgets/0001_create_widgets.sql",
			"0002/add_widget_name/0002_add_widget_name.sql",
			"0003/create_parts/0003_create_parts.sql",
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		for _, m := range ms {
			if m.SQL != threeMigrations[m.File] || len(m.Checksum) != 64 {
				t.Errorf("%s: got SQL %q and checksum %q, want the file's content and a SHA-256", m.File, m.SQL, m.Checksum)
			}
		}
	})

	refused := []struct {
		name    string
		dir     func(t *testing.T) fstest.MapFS
		wantErr string
	}{
		{"a file edited after its sum", func(t *testing.T) fstest.MapFS {
			d := newTestDir(t, threeMigrations)
			d["0002_add_widget_name.sql"] = &fstest.MapFile{Data: []byte("DROP TABLE widgets;")}
			return d
		}, "do not match atlas.sum"},
		{"a file added by hand", func(t *testing.T) fstest.MapFS {
			d := newTestDir(t, threeMigrations)
			d["0004_by_hand.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			return d
		}, "do not match atlas.sum"},
		{"no atlas.sum", func(t *testing.T) fstest.MapFS {
			d := newTestDir(t, threeMigrations)
			delete(d, "atlas.sum")
			return d
		}, "atlas.sum"},
		{"a badly named file", func(t *testing.T) fstest.MapFS {
			return newTestDir(t, map[string]string{"create_widgets.sql": "SELECT 1;"})
		}, "not named VERSION_name.sql"},
		{"two files with one version", func(t *testing.T) fstest.MapFS {
			return newTestDir(t, map[string]string{"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 2;"})
		}, "share a version"},
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := database.ReadMigrations(tc.dir(t))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}

	t.Run("the embedded PostgreSQL migrations", func(t *testing.T) {
		ms, err := database.PostgresMigrations()
		if err != nil {
			t.Fatalf("got %v, want the committed migrations/postgres to read cleanly", err)
		}
		if len(ms) == 0 {
			t.Fatal("got no embedded migrations, want at least the initial one")
		}
	})
}
