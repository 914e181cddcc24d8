package authgin

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
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

// codeBlocks returns the contents of the fenced code blocks of s whose
// info string is lang ("" for any).
func codeBlocks(s, lang string) []string {
	var blocks []string
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		info, ok := strings.CutPrefix(lines[i], "```")
		if !ok || (lang != "" && strings.TrimSpace(info) != lang) {
			continue
		}
		var b strings.Builder
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			b.WriteString(lines[i])
			b.WriteByte('\n')
		}
		blocks = append(blocks, b.String())
	}
	return blocks
}

// docs/scaling.md's "Database schema" section names every table and index
// that Register creates.
func TestREADMEListsSchema(t *testing.T) {
	section := docSection(t, "docs/scaling.md", "## Database schema")
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		migratedStore(t, db)
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

// README's quick start compiles and passes go vet as pasted: it is built
// as the main package of a scratch module that requires this repository
// (a replace directive) at the versions of its go.mod and go.sum.
func TestREADMEQuickStartCompiles(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not in PATH, so the quick start cannot be compiled here")
	}
	blocks := codeBlocks(docSection(t, "README.md", "## Quick start"), "go")
	if len(blocks) == 0 {
		t.Fatal("README's Quick start has no ```go block")
	}
	src := blocks[0]
	if !strings.HasPrefix(src, "package main\n") || !strings.Contains(src, "func main()") {
		t.Fatal("README's quick start must be a whole program: package main with func main")
	}
	if !strings.Contains(src, ".Close(") {
		t.Error("README's quick start must call Close")
	}

	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := regexp.MustCompile(`(?m)^module .*$`).ReplaceAllString(string(mod), "module readmequickstart") +
		"\nrequire github.com/authgin/authgin v0.0.0-00010101000000-000000000000\n" +
		"\nreplace github.com/authgin/authgin => " + repo + "\n"
	for name, data := range map[string]string{"go.mod": gomod, "go.sum": string(sum), "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"build", "-o", filepath.Join(dir, "quickstart"), "."}, {"vet", "."}} {
		cmd := exec.CommandContext(t.Context(), goTool, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %s of README's quick start: %v\n%s\nthe program:\n%s", args[0], err, out, src)
		}
	}
}

// The test command that README's "The two commands" gives is the one
// .ci/run runs.
func TestREADMETestCommandIsCI(t *testing.T) {
	var cmds []string
	for _, line := range strings.Split(docSection(t, "README.md", "## The two commands"), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "go test ") {
			cmds = append(cmds, l)
		}
	}
	if len(cmds) != 1 {
		t.Fatalf("README's \"The two commands\" should give one go test command, found %q", cmds)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ci), "\n") {
		if strings.TrimSpace(line) == cmds[0] {
			return
		}
	}
	t.Errorf(".ci/run does not run README's test command %q", cmds[0])
}

// Relative links between the documents point at files that exist.
func TestREADMELinksResolve(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range append([]string{"README.md", "CONTRIBUTING.md", "bench/README.md"}, docs...) {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, m := range link.FindAllStringSubmatch(string(raw), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(doc), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", doc, m[1])
			}
		}
	}
}
