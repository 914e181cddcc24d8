package authgin

import (
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// OpenMySQL opens a pool of connections to the MySQL 8 or MariaDB database
// at dsn, either a go-sql-driver DSN ("user:pass@tcp(host:3306)/db") or a
// mysql://user:pass@host:3306/db URL, configured for the plugin: times read
// as time.Time in UTC (parseTime), utf8mb4 text, microsecond timestamps, a
// 10 s connect timeout unless dsn sets one, read-only servers (a replica
// left behind by a failover) refused, no SQL logging (queries carry token
// hashes and emails), and a bounded pool (25 connections, idle ones closed
// after 5 minutes). Change the pool through db.DB().
func OpenMySQL(dsn string) (*gorm.DB, error) {
	cfg, err := parseMySQLDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = false
	cfg.RejectReadOnly = true
	if cfg.Collation == "" || !strings.HasPrefix(cfg.Collation, "utf8mb4") {
		cfg.Collation = "utf8mb4_bin"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("authgin: OpenMySQL: %w", err)
	}
	sqlDB := sql.OpenDB(conn)
	sqlDB.SetMaxOpenConns(25)
	sqlDB.SetMaxIdleConns(25)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	sqlDB.SetConnMaxLifetime(time.Hour)
	precision := 6
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{Conn: sqlDB, DefaultDatetimePrecision: &precision}), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
	})
	if err != nil {
		_ = sqlDB.Close() // the open error is the one to report
		return nil, fmt.Errorf("authgin: OpenMySQL: %w", err)
	}
	return db, nil
}

// parseMySQLDSN reads a go-sql-driver DSN or a mysql:// URL. Errors never
// repeat the password.
func parseMySQLDSN(dsn string) (*mysql.Config, error) {
	if !strings.HasPrefix(dsn, "mysql://") {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("authgin: OpenMySQL: the DSN does not parse (want user:password@tcp(host:port)/dbname or mysql://user:password@host:port/dbname)")
		}
		return cfg, nil
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("authgin: OpenMySQL: the URL does not parse (want mysql://user:password@host:port/dbname)")
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.DBName = strings.Trim(u.Path, "/")
	// Other settings as the driver's DSN parameters (tls=true, ...).
	if q := u.Query(); len(q) > 0 {
		parsed, err := mysql.ParseDSN("/?" + q.Encode())
		if err != nil {
			return nil, fmt.Errorf("authgin: OpenMySQL: the URL's parameters do not parse: %w", err)
		}
		parsed.User, parsed.Passwd, parsed.Net, parsed.Addr, parsed.DBName = cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName
		cfg = parsed
	}
	return cfg, nil
}
