package authgin

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// The README and docs/ state facts that the code must keep true. These
// tests check the ones that can be checked mechanically.

// docSection returns the section of the Markdown file path that starts
// with the heading line (e.g. "## Options"), up to the next heading of the
// same or a higher level outside code blocks.
func docSection(t *testing.T, path, heading string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	level := func(line string) int {
		n := len(line) - len(strings.TrimLeft(line, "#"))
		if n == 0 || !strings.HasPrefix(line[n:], " ") {
			return 0
		}
		return n
	}
	var out []string
	fenced := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		switch {
		case out == nil:
			if line == heading {
				out = []string{line}
			}
			continue
		case !fenced && level(line) > 0 && level(line) <= level(heading):
			return strings.Join(out, "\n")
		}
		out = append(out, line)
	}
	if out == nil {
		t.Fatalf("%s has no %q section", path, heading)
	}
	return strings.Join(out, "\n")
}

// docs/scaling.md's "Database schema" section names every table and index
// that Register creates.
func TestREADMEListsSchema(t *testing.T) {
	section := docSection(t, "docs/scaling.md", "## Database schema")
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
				t.Errorf("docs/scaling.md does not list table %s", table)
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
					t.Errorf("docs/scaling.md does not list index %s of %s", ix.Name(), table)
				}
			}
		}
	})
}

// README's "Options" table names every field of Options.
func TestREADMEListsOptions(t *testing.T) {
	section := docSection(t, "README.md", "## Options")
	for f := range reflect.TypeFor[Options]().Fields() {
		if !strings.Contains(section, "| `"+f.Name+"`") && !strings.Contains(section, ", `"+f.Name+"`") {
			t.Errorf("README's Options table does not list %s", f.Name)
		}
	}
}
