package authgin

import (
	"errors"
	"strings"

	"gorm.io/gorm"
)

// OpenURL opens the database that url names, in the forms a DATABASE_URL
// takes: a postgres:// or postgresql:// URL is PostgreSQL (OpenPostgres), a
// mysql:// URL MySQL or MariaDB (OpenMySQL), and a sqlite:// or sqlite: URL,
// a file: URI or a plain file path is a SQLite database (OpenSQLite), which
// is created if it does not exist. Each is configured as its Open function
// says, so that programs configured by one setting (examples/basic,
// cmd/authgin-import) open every supported database the same way.
func OpenURL(url string) (*gorm.DB, error) {
	switch {
	case url == "":
		return nil, errors.New("authgin: OpenURL: empty database URL")
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return OpenPostgres(url)
	case strings.HasPrefix(url, "mysql://"):
		return OpenMySQL(url)
	default:
		path, _ := SQLiteURLPath(url)
		return OpenSQLite(path)
	}
}

// SQLiteURLPath returns the path or file: URI that OpenURL opens with
// OpenSQLite for url, and false for the URLs of the other databases. A
// program can thus look for the file before OpenURL creates it, e.g. to
// leave alone a database that does not exist yet.
func SQLiteURLPath(url string) (path string, ok bool) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"), strings.HasPrefix(url, "mysql://"):
		return "", false
	case strings.HasPrefix(url, "sqlite://"):
		return strings.TrimPrefix(url, "sqlite://"), true
	case strings.HasPrefix(url, "sqlite:"):
		return strings.TrimPrefix(url, "sqlite:"), true
	}
	return url, true
}
