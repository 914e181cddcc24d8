//go:build cgo

package authgin

import (
	"errors"

	"github.com/mattn/go-sqlite3"
)

// mattnCode returns the extended result code of a mattn/go-sqlite3 error.
func mattnCode(err error) (int, bool) {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return int(se.ExtendedCode), true
	}
	return 0, false
}
