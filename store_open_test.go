package authgin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenURL: a DATABASE_URL selects the database by its form; the
// server forms run when the test DSNs are set (.ci/run sets them).
func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	urls := map[string]string{
		"sqlite":        filepath.Join(dir, "plain.db"),
		"sqlite:":       "sqlite:" + filepath.Join(dir, "url.db"),
		"sqlite://":     "sqlite://" + filepath.Join(dir, "slashes.db"),
		"sqlite file:":  "file:" + filepath.Join(dir, "uri.db"),
		"postgres":      os.Getenv(postgresDSNEnv),
		"postgresql://": strings.Replace(os.Getenv(postgresDSNEnv), "postgres://", "postgresql://", 1),
		"mysql":         os.Getenv(mysqlDSNEnv),
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			if url == "" {
				t.Skip("no test DSN set")
			}
			db, err := OpenURL(url)
			if err != nil {
				t.Fatal(err)
			}
			defer closeDB(db)
			want := strings.Fields(strings.TrimRight(name, ":/"))[0]
			if want == "postgresql" {
				want = dialectPostgres
			}
			if got := db.Dialector.Name(); got != want {
				t.Errorf("%s opened %s, want %s", url, got, want)
			}
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			if err := sqlDB.Ping(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := OpenURL(""); err == nil {
		t.Error("OpenURL(\"\") opened something")
	}
}

func TestSQLiteURLPath(t *testing.T) {
	for url, want := range map[string]string{
		"authgin.db":               "authgin.db",
		"/var/lib/authgin.db":      "/var/lib/authgin.db",
		"sqlite:authgin.db":        "authgin.db",
		"sqlite:///var/authgin.db": "/var/authgin.db",
		"file:authgin.db?cache=1":  "file:authgin.db?cache=1",
		"postgres://h/db":          "",
		"postgresql://h/db":        "",
		"mysql://u:p@h/db":         "",
	} {
		got, ok := SQLiteURLPath(url)
		if got != want || ok != (want != "") {
			t.Errorf("SQLiteURLPath(%q) = %q, %v; want %q", url, got, ok, want)
		}
	}
}
