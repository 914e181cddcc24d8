package authgin

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	moderncsqlite "modernc.org/sqlite"
)

// otherDialector is a dialector of a database authgin does not support.
type otherDialector struct{ gorm.Dialector }

func (otherDialector) Name() string { return "sqlserver" }

func registerWith(db *gorm.DB) error {
	_, err := Register(gin.New().Group("/api/users"), Options{DB: db, Secret: []byte(strings.Repeat("k", 32)), Debug: true,
		BaseURL: "http://localhost", PruneInterval: -1})
	return err
}

// TestRegisterRefusesOtherDatabases: a dialect the store has no SQL for is
// an error at Register naming the supported ones, not a 500 later.
func TestRegisterRefusesOtherDatabases(t *testing.T) {
	db := &gorm.DB{Config: &gorm.Config{Dialector: otherDialector{sqlite.Open("x")}}}
	err := registerWith(db)
	if err == nil || !strings.Contains(err.Error(), `"sqlserver"`) ||
		!strings.Contains(err.Error(), "SQLite") || !strings.Contains(err.Error(), "PostgreSQL") || !strings.Contains(err.Error(), "MySQL") {
		t.Fatalf("Register on sqlserver: %v, want an error naming it and the supported databases", err)
	}
}

// TestRegisterChecksOwnSQLite: a SQLite *gorm.DB the app opened itself
// gets the same behaviour as OpenSQLite's, or an error saying what to set.
func TestRegisterChecksOwnSQLite(t *testing.T) {
	const busy, fk, times = "_pragma=busy_timeout(5000)", "_pragma=foreign_keys(1)", "_time_format=sqlite"
	for _, c := range []struct {
		name, params, wantErr string
	}{
		{"no busy timeout", fk + "&" + times, "busy timeout"},
		{"no foreign keys", busy + "&" + times, "foreign keys"},
		{"Go time text", busy + "&" + fk, "_time_format=sqlite"},
		{"all set", busy + "&" + fk + "&" + times, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "own.db")
			sqlDB := sql.OpenDB(sqliteConnectorForTest(path + "?" + c.params))
			defer sqlDB.Close()
			db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			err = registerWith(db)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Register: %v", err)
				}
				var mode string
				if err := sqlDB.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
					t.Errorf("journal_mode = %q, %v; want wal", mode, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Register: %v, want an error about %s", err, c.wantErr)
			}
		})
	}
}

func sqliteConnectorForTest(dsn string) *moderncConnector {
	return &moderncConnector{dsn: "file:" + dsn}
}

// moderncConnector opens plain modernc.org/sqlite connections, as an app
// would without authgin's wrapper.
type moderncConnector struct{ dsn string }

func (c *moderncConnector) Connect(context.Context) (driver.Conn, error) {
	return (&moderncsqlite.Driver{}).Open(c.dsn)
}

func (c *moderncConnector) Driver() driver.Driver { return &moderncsqlite.Driver{} }

// TestRegisterChecksOwnMySQL: a MySQL *gorm.DB without parseTime, or with
// clientFoundRows, is refused with an error saying what to change.
func TestRegisterChecksOwnMySQL(t *testing.T) {
	if os.Getenv(mysqlDSNEnv) == "" {
		t.Skipf("set %s to run", mysqlDSNEnv)
	}
	cfg, err := parseMySQLDSN(mysqlTestDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		set     func()
		wantErr string
	}{
		{"no parseTime", func() { cfg.ParseTime = false }, "parseTime=true"},
		{"clientFoundRows", func() { cfg.ParseTime, cfg.ClientFoundRows = true, true }, "clientFoundRows"},
		{"as OpenMySQL sets it", func() { cfg.ParseTime, cfg.ClientFoundRows = true, false }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.set()
			db, err := gorm.Open(gormmysql.Open(cfg.FormatDSN()), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			defer closeDB(db)
			err = registerWith(db)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("Register: %v, want error %q", err, c.wantErr)
			}
		})
	}
}
