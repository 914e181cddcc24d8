//go:build !cgo

package authgin

// mattnCode: without cgo there is no mattn/go-sqlite3 to make errors.
func mattnCode(error) (int, bool) { return 0, false }
