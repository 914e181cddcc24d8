package authgin

import (
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// TestBindVars: the plain statements keep SQLite's ? placeholders and get
// PostgreSQL's numbered ones.
func TestBindVars(t *testing.T) {
	q := "UPDATE t SET a = ?, b = ? WHERE id = ? RETURNING id"
	pg := &gorm.DB{Config: &gorm.Config{Dialector: postgres.New(postgres.Config{})}}
	if got, want := bindVars(pg, q), "UPDATE t SET a = $1, b = $2 WHERE id = $3 RETURNING id"; got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	lite := &gorm.DB{Config: &gorm.Config{Dialector: sqlite.Open("x")}}
	if got := bindVars(lite, q); got != q {
		t.Errorf("sqlite: %q, want it unchanged", got)
	}
}

func TestHasReturning(t *testing.T) {
	for q, want := range map[string]bool{
		"INSERT INTO t (a) VALUES (?) RETURNING id": true,
		"insert into t (a) values (?) returning id": true,
		"DELETE FROM t WHERE a = ? ReTuRnInG *":     true,
		"SELECT returnin FROM t":                    false,
		"UPDATE t SET r = ?":                        false,
		"":                                          false,
	} {
		if got := hasReturning(q); got != want {
			t.Errorf("hasReturning(%q) = %v", q, got)
		}
	}
}
