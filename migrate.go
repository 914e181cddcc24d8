package authgin

import (
	"context"

	"gorm.io/gorm"
)

// migrateSchema creates or updates the plugin's tables and indexes with
// GORM's AutoMigrate, which only adds what is missing and so is safe to
// run on every start.
//
// Instances that start together would race AutoMigrate's "does the table
// exist? then create it" and fail with "already exists". So the migration
// runs in one transaction that serialises them: on PostgreSQL it first
// takes a transaction-scoped advisory lock (per schema), and its DDL is
// transactional; on SQLite the transaction begins IMMEDIATE (OpenSQLite),
// which takes the database's write lock. The losers then find the tables
// in place and do nothing.
func migrateSchema(ctx context.Context, db *gorm.DB) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if tx.Dialector.Name() == "postgres" {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.authgin.migrate'))").Error; err != nil {
				return err
			}
		}
		return tx.AutoMigrate(models()...)
	})
}
