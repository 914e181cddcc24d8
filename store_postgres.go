package authgin

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// OpenPostgres opens a pool of connections to the PostgreSQL database at
// dsn (a postgres:// URL or a "host=... dbname=..." string) through pgx,
// configured for the plugin: no implicit transaction around single
// statements, no SQL logging (queries carry token hashes and emails), a
// 10 s connect timeout unless dsn sets connect_timeout, and a bounded pool
// (25 connections, idle ones closed after 5 minutes). Size the pool so that
// instances × MaxOpenConns stays below the server's max_connections; change
// it through db.DB().
//
// pgx's settings in dsn apply. Behind a pooler in transaction mode
// (PgBouncer's pool_mode = transaction) add
// default_query_exec_mode=cache_describe (or exec): pgx's default caches
// named prepared statements on the server connection, which the pooler
// hands to another client after each transaction. describe_exec is no
// cure there: it binds to the server's unnamed statement in a later round
// trip, which may land on another server connection. See docs/scaling.md.
func OpenPostgres(dsn string) (*gorm.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, fmt.Errorf("authgin: OpenPostgres: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sqlDB.SetMaxOpenConns(25)
	sqlDB.SetMaxIdleConns(25)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	sqlDB.SetConnMaxLifetime(time.Hour)
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
	})
	if err != nil {
		_ = sqlDB.Close() // the open error is the one to report
		return nil, fmt.Errorf("authgin: OpenPostgres: %w", err)
	}
	return db, nil
}
