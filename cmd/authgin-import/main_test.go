package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgin/authgin"
)

// exportFile writes a small authx export and returns its path.
func exportFile(t *testing.T, dir string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("ann password 1"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		`{"_id": {"$oid": "5cc98a4c2f8f8a0001a1b2c3"}, "id": {"$numberLong": "7"}, "email": "ann@example.com", "username": "ann", "password": "` + string(hash) + `", "active": true, "confirmed": true, "permissions": [], "created_at": {"$date": "2019-05-01T12:00:00Z"}, "last_login": {"$date": {"$numberLong": "1556712000000"}}}`,
		`{"id": 8, "email": "ANN@example.com", "username": "annie", "password": "` + string(hash) + `"}`,
		`{"id": 9, "email": "sam@example.com", "username": "sam", "provider": "github", "sid": "42"}`,
		`{"id": 10, "email": "bo@example.com", "username": "bo", "active": false}`,
		`{"id": 11, "email": "bob@example.com", "username": "bob", "active": false}`,
	}
	path := filepath.Join(dir, "users.json")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCmd runs the command and returns its exit status and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, squeeze(stdout.String()), stderr.String()
}

// squeeze turns runs of spaces into one, so that the tests need not know
// the report's column widths.
func squeeze(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

func readReport(t *testing.T, path string) fileReport {
	t.Helper()
	b, err := os.ReadFile(path) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	var r fileReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCommand: a dry run leaves a database that does not exist alone, the
// import writes the accounts, the rejects file and the report, and a
// second run changes nothing.
func TestCommand(t *testing.T) {
	dir := t.TempDir()
	in := exportFile(t, dir)
	dbPath := filepath.Join(dir, "authgin.db")
	rejects := filepath.Join(dir, "rejects.jsonl")
	report := filepath.Join(dir, "report.json")
	args := []string{"--db", "sqlite:" + dbPath, "--in", in, "--rejects", rejects, "--report", report, "--batch", "2"}

	code, stdout, stderr := runCmd(t, append(args, "--dry-run")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(dbPath); err == nil {
		t.Fatal("the dry run created the database")
	}
	for _, want := range []string{"dry run (nothing written)", "records read 5", "to import 2", "duplicate_email", "social_login_not_supported", "invalid_username"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run's report lacks %q:\n%s", want, stdout)
		}
	}
	r := readReport(t, report)
	if !r.DryRun || r.Records != 5 || r.Imported != 2 || r.Banned != 1 || r.RejectLines != 3 || r.Database != "sqlite" {
		t.Fatalf("dry run's report: %+v", r)
	}

	code, stdout, stderr = runCmd(t, args...)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, stdout, stderr)
	}
	r = readReport(t, report)
	if r.DryRun || r.Imported != 2 || r.Rejected[authgin.ReasonDuplicateEmail] != 1 || r.Rejected[authgin.ReasonInvalidUsername] != 1 ||
		r.Skipped[authgin.ReasonSocialLogin] != 1 || r.HighestID != 11 || r.Input != in {
		t.Fatalf("import's report: %+v", r)
	}
	b, err := os.ReadFile(rejects) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	want := `{"line":2,"id":8,"email":"ANN@example.com","username":"annie","reason":"duplicate_email"}
{"line":3,"id":9,"email":"sam@example.com","username":"sam","reason":"social_login_not_supported"}
{"line":4,"id":10,"email":"bo@example.com","username":"bo","reason":"invalid_username","detail":"Username must be 3 to 32 characters long"}
`
	if string(b) != want {
		t.Fatalf("rejects file:\n%s\nwant:\n%s", b, want)
	}
	if strings.Contains(string(b), "$2a$") {
		t.Fatal("the rejects file holds a hash")
	}
	if fi, err := os.Stat(rejects); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rejects file mode: %v %v", fi.Mode(), err)
	}

	db, err := authgin.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var accts []authgin.Account
	if err := db.Order("id").Find(&accts).Error; err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
	if len(accts) != 2 || accts[0].ID != 7 || accts[1].ID != 11 || !accts[1].Banned {
		t.Fatalf("accounts %+v", accts)
	}

	code, stdout, stderr = runCmd(t, args...)
	if code != 0 {
		t.Fatalf("second import: exit %d\n%s%s", code, stdout, stderr)
	}
	if r = readReport(t, report); r.Imported != 0 || r.Unchanged != 2 || r.RejectLines != 3 {
		t.Fatalf("second import's report: %+v", r)
	}
}

// TestCommandFail: --on-conflict=fail exits 1 at the first conflict, after
// the report.
func TestCommandFail(t *testing.T) {
	dir := t.TempDir()
	in := exportFile(t, dir)
	code, stdout, stderr := runCmd(t, "--db", filepath.Join(dir, "a.db"), "--in", in, "--rejects", filepath.Join(dir, "r.jsonl"), "--on-conflict=fail")
	if code != 1 || !strings.Contains(stderr, "line 2: duplicate_email") || !strings.Contains(stdout, "imported 1") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestCommandStdin reads the export from standard input.
func TestCommandStdin(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	in := `[{"id": 1, "email": "a@example.com", "username": "alpha"}]`
	code := run(context.Background(), []string{"--db", filepath.Join(dir, "a.db"), "--in", "-", "--rejects", filepath.Join(dir, "r.jsonl")},
		strings.NewReader(in), &stdout, &stderr)
	if code != 0 || !strings.Contains(squeeze(stdout.String()), "imported 1") {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

// TestCommandInterrupted: an ended context stops the import before its
// next batch, with the report so far and status 130.
func TestCommandInterrupted(t *testing.T) {
	dir := t.TempDir()
	in := exportFile(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--db", filepath.Join(dir, "a.db"), "--in", in, "--rejects", filepath.Join(dir, "r.jsonl")},
		strings.NewReader(""), &stdout, &stderr)
	if code != 130 || !strings.Contains(stdout.String(), "INTERRUPTED") || !strings.Contains(stderr.String(), "run the same command again") {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

func TestCommandFlags(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	for _, args := range [][]string{
		{},
		{"--in", "users.json"},
		{"--db", "x.db"},
		{"--db", "x.db", "--in", "users.json", "--on-conflict=merge"},
		{"--db", "x.db", "--in", "users.json", "--rejects", ""},
		{"--db", "x.db", "--in", "users.json", "extra"},
		{"--nonsense"},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := runCmd(t, "--db", filepath.Join(t.TempDir(), "x.db"), "--in", "missing.json"); code != 1 || !strings.Contains(stderr, "--in") {
		t.Errorf("missing export: exit %d %s", code, stderr)
	}
	if code, _, _ := runCmd(t, "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}
