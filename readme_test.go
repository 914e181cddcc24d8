package authgin

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// README's "Database schema" section names every table and index that
// Register creates.
func TestREADMEListsSchema(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i := strings.Index(readme, "## Database schema")
	if i < 0 {
		t.Fatal(`README has no "## Database schema" section`)
	}
	section := readme[i:]
	if j := strings.Index(section[2:], "\n## "); j >= 0 {
		section = section[:j+2]
	}
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		if err := migrateSchema(t.Context(), db); err != nil {
			t.Fatal(err)
		}
		tables, err := db.Migrator().GetTables()
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range tables {
			if table == "sqlite_sequence" {
				continue
			}
			if !strings.Contains(section, "`"+table+"`") {
				t.Errorf("README does not list table %s", table)
			}
			indexes, err := db.Migrator().GetIndexes(table)
			if err != nil {
				t.Fatal(err)
			}
			for _, ix := range indexes {
				if pk, _ := ix.PrimaryKey(); pk || strings.HasPrefix(ix.Name(), "sqlite_autoindex_") {
					continue
				}
				if !strings.Contains(section, "`"+ix.Name()+"`") {
					t.Errorf("README does not list index %s of %s", ix.Name(), table)
				}
			}
		}
	})
}

// README's "Options" table names every field of Options.
func TestREADMEListsOptions(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i := strings.Index(readme, "## Options")
	if i < 0 {
		t.Fatal(`README has no "## Options" section`)
	}
	section := readme[i:]
	if j := strings.Index(section[2:], "\n## "); j >= 0 {
		section = section[:j+2]
	}
	for f := range reflect.TypeFor[Options]().Fields() {
		if !strings.Contains(section, "| `"+f.Name+"`") && !strings.Contains(section, ", `"+f.Name+"`") {
			t.Errorf("README's Options table does not list %s", f.Name)
		}
	}
}
