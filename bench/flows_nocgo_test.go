//go:build !cgo

package bench

// sqliteFlows names BenchmarkFlows' SQLite backend: without cgo
// (CGO_ENABLED=0), authgin.OpenSQLite runs the pure-Go modernc.org/sqlite.
const sqliteFlows = "sqlite-purego"
