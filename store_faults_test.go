package authgin

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

func TestIsUniqueViolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		for _, ddl := range []string{
			"CREATE TABLE u (k VARCHAR(10) NOT NULL UNIQUE)",
			"CREATE TABLE p (k VARCHAR(10) PRIMARY KEY)",
		} {
			if err := db.Exec(ddl).Error; err != nil {
				t.Fatal(err)
			}
		}
		for _, insert := range []string{"INSERT INTO u (k) VALUES ('a')", "INSERT INTO p (k) VALUES ('a')"} {
			if err := db.Exec(insert).Error; err != nil {
				t.Fatal(err)
			}
			err := db.Exec(insert).Error
			if err == nil {
				t.Fatalf("%s twice succeeded", insert)
			}
			if !isUniqueViolation(err) || isUnavailable(err) || isInvalidText(err) {
				t.Errorf("%v: unique=%v unavailable=%v invalidText=%v, want only unique",
					err, isUniqueViolation(err), isUnavailable(err), isInvalidText(err))
			}
		}
		// GORM's Create (INSERT ... RETURNING) reports it the same way.
		now := time.Now()
		migratedStore(t, db)
		a := Account{Email: "a@x.org", EmailKey: "a@x.org", Username: "a", UsernameKey: "a", CreatedAt: now, UpdatedAt: now}
		if err := db.Create(&a).Error; err != nil {
			t.Fatal(err)
		}
		b := a
		b.ID, b.Username, b.UsernameKey = 0, "b", "b"
		if err := db.Create(&b).Error; !isUniqueViolation(err) {
			t.Errorf("duplicate email_key via Create: %v, want a unique violation", err)
		}
	})
}

func TestIsInvalidText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		if err := db.Exec("CREATE TABLE s (v VARCHAR(20) NOT NULL)").Error; err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"a\x00b", "a\xffb", "\xc3\x28"} {
			err := db.Exec("INSERT INTO s (v) VALUES (?)", v).Error
			// SQLite stores any bytes, MySQL any valid UTF-8 (NUL
			// included): the service must validate input before the
			// store sees it.
			if db.Dialector.Name() == "sqlite" || db.Dialector.Name() == "mysql" && utf8.ValidString(v) {
				if err != nil {
					t.Errorf("insert of %q: %v", v, err)
				}
				continue
			}
			if !isInvalidText(err) || isUnavailable(err) || isUniqueViolation(err) {
				t.Errorf("insert %q: %v: invalidText=%v unavailable=%v, want only invalidText",
					v, err, isInvalidText(err), isUnavailable(err))
			}
		}
	})
}

func TestIsUnavailableClosedPool(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		closeDB(db)
		var n int64
		err := db.Raw("SELECT 1").Scan(&n).Error
		if err == nil || !isUnavailable(err) {
			t.Fatalf("query on a closed pool: %v, want unavailable", err)
		}
	})
}

func TestIsUnavailableContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var n int64
		err := db.WithContext(ctx).Raw("SELECT 1").Scan(&n).Error
		if err == nil || !isUnavailable(err) {
			t.Fatalf("query with a canceled context: %v, want unavailable", err)
		}
	})
}

func TestNotUnavailable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		err := db.Exec("SELEKT nonsense").Error
		if err == nil || isUnavailable(err) || isUniqueViolation(err) || isInvalidText(err) {
			t.Fatalf("syntax error %v classified as a fault class", err)
		}
	})
	if isUnavailable(nil) || isUniqueViolation(nil) || isInvalidText(nil) {
		t.Fatal("nil classified")
	}
	if isUnavailable(errors.New("some bug")) {
		t.Fatal("a plain error is not unavailable")
	}
}

// The store answers an outage with 503 and a bug (bad SQL) with 500: a
// client told "unavailable" retries, which does not mend a bug.
func TestDBErrorOutageVersusBug(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		st := migratedStore(t, db)
		st.timeout = time.Second
		_, err := st.exec(context.Background(), "SELEKT nonsense")
		if e := httpError(err); e.Status != 500 || e.Code != "internal" {
			t.Errorf("bad SQL: %v answered %d %s, want 500 internal", err, e.Status, e.Code)
		}
		closeDB(db)
		_, err = st.exec(context.Background(), "SELECT 1")
		if e := httpError(err); e.Status != 503 || e.Code != "unavailable" {
			t.Errorf("closed pool: %v answered %d %s, want 503 unavailable", err, e.Status, e.Code)
		}
	})
}

// postgresDSNVia returns dsn with its host and port replaced by addr.
func postgresDSNVia(t *testing.T, dsn, addr string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// postgresViaProxy opens a test schema's database through a TCP proxy that
// the test can cut or hang.
func postgresViaProxy(t *testing.T) (*gorm.DB, *tcpProxy) {
	t.Helper()
	dsn := postgresTestSchema(t)
	pg, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startTCPProxy(t, pg.Host)
	db, err := OpenPostgres(postgresDSNVia(t, dsn, proxy.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, db)
	return db, proxy
}

func TestIsUnavailablePostgres(t *testing.T) {
	dsn := postgresTestSchema(t)
	u, _ := url.Parse(dsn)

	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		ln.Close()
		_, err = OpenPostgres(postgresDSNVia(t, dsn, dead))
		if err == nil || !isUnavailable(err) {
			t.Fatalf("OpenPostgres on a closed port: %v, want unavailable", err)
		}
	})

	t.Run("statement_timeout", func(t *testing.T) {
		db := openTestDB(t, "postgres")
		err := db.Connection(func(c *gorm.DB) error {
			if err := c.Exec("SET statement_timeout = 50").Error; err != nil {
				t.Fatal(err)
			}
			defer c.Exec("RESET statement_timeout")
			return c.Exec("SELECT pg_sleep(10)").Error
		})
		if err == nil || !isUnavailable(err) {
			t.Fatalf("statement timeout: %v, want unavailable", err)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		db := openTestDB(t, "postgres")
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := db.WithContext(ctx).Exec("SELECT pg_sleep(10)").Error
		if err == nil || !isUnavailable(err) {
			t.Fatalf("context deadline: %v, want unavailable", err)
		}
	})

	t.Run("terminated", func(t *testing.T) {
		db := openTestDB(t, "postgres")
		other := openTestDB(t, "postgres")
		err := db.Connection(func(c *gorm.DB) error {
			var pid int64
			if err := c.Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
				t.Fatal(err)
			}
			if err := other.Exec("SELECT pg_terminate_backend(?)", pid).Error; err != nil {
				t.Fatal(err)
			}
			var n int64
			return c.Raw("SELECT 1").Scan(&n).Error
		})
		if err == nil || !isUnavailable(err) {
			t.Fatalf("query on a terminated backend: %v, want unavailable", err)
		}
	})

	t.Run("cut and restored", func(t *testing.T) {
		proxy := startTCPProxy(t, u.Host)
		db, err := OpenPostgres(postgresDSNVia(t, dsn, proxy.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer closeDB(db)
		var n int64
		if err := db.Raw("SELECT 1").Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		proxy.Cut()
		for i := range 3 { // the pooled connection, then new ones
			err := db.Raw("SELECT 1").Scan(&n).Error
			if err == nil || !isUnavailable(err) {
				t.Fatalf("query %d while cut: %v, want unavailable", i, err)
			}
			t.Logf("query %d while cut: %v", i, err)
		}
		proxy.Restore()
		if err := db.Raw("SELECT 1").Scan(&n).Error; err != nil || n != 1 {
			t.Fatalf("after restore: %d, %v", n, err)
		}
	})
}
