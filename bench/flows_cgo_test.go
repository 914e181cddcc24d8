//go:build cgo

package bench

// sqliteFlows names BenchmarkFlows' SQLite backend: with cgo,
// authgin.OpenSQLite runs mattn/go-sqlite3.
const sqliteFlows = "sqlite"
