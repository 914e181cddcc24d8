// Command authgin-import moves an authx user base into authgin: it reads a
// mongoexport of authx's users collection (JSON lines or a JSON array,
// Extended JSON v2) and imports it through the library's Importer into the
// database that --db names, in the DATABASE_URL forms of examples/basic
// (a file path or a sqlite: / file: URL for SQLite, postgres://,
// mysql://).
//
//	mongoexport --uri "$MONGO_URI" --collection users --out users.json
//	go run github.com/authgin/authgin/cmd/authgin-import --db "$DATABASE_URL" --in users.json --dry-run
//	go run github.com/authgin/authgin/cmd/authgin-import --db "$DATABASE_URL" --in users.json
//
// Every record that is not imported as it is goes to the rejects file
// (--rejects, JSON lines with the record's line, id, email, username and
// reason; never its password hash), and the run ends with a report on
// stdout (and in --report as JSON). A dry run does every check and writes
// nothing to the database. Running the same export again is idempotent,
// so an import stopped by Ctrl-C (which finishes the batch in progress and
// prints the report so far) goes on where it stopped when run again.
//
// Exit status: 0 when the export was read to its end, 1 on an error or a
// conflict under --on-conflict=fail, 2 for bad flags, 130 when
// interrupted. See docs/authx-migration.md.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"gorm.io/gorm"

	"github.com/authgin/authgin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		// A second Ctrl-C ends the program at once.
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// config is the command line.
type config struct {
	db         string
	in         string
	dryRun     bool
	rejects    string
	report     string
	onConflict string
	batch      int
	allowRes   bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("authgin-import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.db, "db", os.Getenv("DATABASE_URL"), "the database to import into, as DATABASE_URL (default $DATABASE_URL)")
	fs.StringVar(&c.in, "in", "", "the mongoexport of authx's users collection; - for standard input")
	fs.BoolVar(&c.dryRun, "dry-run", false, "check everything and report, but write nothing to the database")
	fs.StringVar(&c.rejects, "rejects", "rejects.jsonl", "where to write the records not imported as they are (JSON lines; replaced)")
	fs.StringVar(&c.report, "report", "", "also write the report to this file as JSON")
	fs.StringVar(&c.onConflict, "on-conflict", string(authgin.ImportSkip),
		"what to do with a record whose id, email or username is taken: skip, rename-username or fail")
	fs.IntVar(&c.batch, "batch", 1000, "records per transaction")
	fs.BoolVar(&c.allowRes, "allow-reserved", false, "import usernames that registration reserves (admin, support...) as they are")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: authgin-import --db DATABASE_URL --in users.json [--dry-run] [--rejects rejects.jsonl]\n"+
			"                      [--report report.json] [--on-conflict=skip|rename-username|fail] [--batch 1000]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.in == "":
		return c, errors.New("--in is required")
	case c.db == "":
		return c, errors.New("--db is required (or set DATABASE_URL)")
	case c.rejects == "":
		return c, errors.New("--rejects must name a file: every record not imported goes there")
	}
	switch authgin.ImportConflict(c.onConflict) {
	case authgin.ImportSkip, authgin.ImportRenameUsername, authgin.ImportFail:
	default:
		return c, fmt.Errorf("--on-conflict=%s: want skip, rename-username or fail", c.onConflict)
	}
	return c, nil
}

// run is the command; it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "authgin-import:", err)
		return 2
	}
	// The interrupt notice is written from its own goroutine.
	stderr = &lockedWriter{w: stderr}
	rep, err := importFile(ctx, c, stdin, stdout, stderr)
	if rep == nil {
		fmt.Fprintln(stderr, "authgin-import:", err)
		return 1
	}
	printReport(stdout, c, rep)
	if c.report != "" {
		if werr := writeReport(c.report, rep); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "authgin-import:", err)
		return 1
	case rep.Interrupted:
		fmt.Fprintln(stderr, "authgin-import: interrupted; run the same command again to go on")
		return 130
	}
	return 0
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fileReport is the report with what the command adds to it.
type fileReport struct {
	Input       string  `json:"input"`
	Database    string  `json:"database"` // sqlite, postgres or mysql; never the URL
	RejectsFile string  `json:"rejects_file"`
	RejectLines int64   `json:"reject_lines"`
	Seconds     float64 `json:"seconds"`
	authgin.ImportReport
}

// importFile runs the import; the report is nil when nothing could start.
func importFile(ctx context.Context, c config, stdin io.Reader, stdout, stderr io.Writer) (*fileReport, error) {
	in, size, closeIn, err := openInput(c.in, stdin)
	if err != nil {
		return nil, err
	}
	defer closeIn()

	db, dbName, err := openDatabase(c)
	if err != nil {
		return nil, err
	}
	if db != nil {
		defer func() {
			if sqlDB, err := db.DB(); err == nil {
				_ = sqlDB.Close() // nothing was left to write
			}
		}()
	}

	rf, err := os.OpenFile(c.rejects, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600) // #nosec G304 -- the operator names the file
	if err != nil {
		return nil, fmt.Errorf("--rejects: %w", err)
	}
	rejects := bufio.NewWriter(rf)
	enc := json.NewEncoder(rejects)
	enc.SetEscapeHTML(false)
	rep := &fileReport{Input: c.in, Database: dbName, RejectsFile: c.rejects}

	var reserved []string
	if c.allowRes {
		reserved = []string{}
	}
	start := time.Now()
	prog := newProgress(stderr, size)
	if c.dryRun {
		fmt.Fprintln(stderr, "authgin-import: dry run: nothing is written to the database")
	}
	if db == nil {
		fmt.Fprintln(stderr, "authgin-import: the database does not exist yet: checking the export alone")
	}
	// Preparing the database (a migration) is short and not interrupted
	// halfway; an interrupt then stops the import before its first batch.
	im, err := authgin.NewImporter(context.WithoutCancel(ctx), authgin.ImportOptions{
		DB: db, DryRun: c.dryRun, OnConflict: authgin.ImportConflict(c.onConflict), BatchSize: c.batch,
		ReservedUsernames: reserved,
		Rejects: func(r authgin.ImportReject) error {
			rep.RejectLines++
			return enc.Encode(r)
		},
		Progress: prog.update,
	})
	if err != nil {
		_ = rf.Close() // the importer's error is the one to report
		return nil, err
	}
	done := make(chan struct{})
	var notice sync.WaitGroup
	notice.Add(1)
	go func() {
		defer notice.Done()
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "\nauthgin-import: stopping after the current batch (Ctrl-C again to quit at once)")
		case <-done:
		}
	}()
	rep.ImportReport, err = im.ImportAuthx(ctx, in)
	close(done)
	notice.Wait()
	prog.finish(err == nil && !rep.Interrupted)
	rep.Seconds = time.Since(start).Seconds()
	if ferr := rejects.Flush(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("--rejects: %w", ferr))
	}
	if cerr := rf.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("--rejects: %w", cerr))
	}
	return rep, err
}

// openInput opens the export; size is -1 when unknown (standard input).
func openInput(path string, stdin io.Reader) (r io.Reader, size int64, closeFn func(), err error) {
	if path == "-" {
		return stdin, -1, func() {}, nil
	}
	f, err := os.Open(path) // #nosec G304 -- the operator names the file
	if err != nil {
		return nil, 0, nil, fmt.Errorf("--in: %w", err)
	}
	size = -1
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return bufio.NewReaderSize(f, 1<<16), size, func() { _ = f.Close() }, nil
}

// openDatabase opens --db. A dry run leaves a SQLite file that does not
// exist alone (opening would create it) and checks the export alone.
func openDatabase(c config) (*gorm.DB, string, error) {
	if path, ok := authgin.SQLiteURLPath(c.db); ok && c.dryRun {
		file := strings.TrimPrefix(path, "file:")
		file, _, _ = strings.Cut(file, "?")
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			return nil, "sqlite", nil
		}
	}
	db, err := authgin.OpenURL(c.db)
	if err != nil {
		return nil, "", fmt.Errorf("--db: %w", err)
	}
	return db, db.Dialector.Name(), nil
}

// progress shows how the import goes: a bar on a terminal, else a log
// line every progressEvery.
type progress struct {
	w       io.Writer
	bar     *progressbar.ProgressBar // nil: log lines
	size    int64
	start   time.Time
	lastLog time.Time
}

const progressEvery = 5 * time.Second

func newProgress(w io.Writer, size int64) *progress {
	p := &progress{w: w, size: size, start: time.Now()}
	p.lastLog = p.start
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) { // #nosec G115 -- a file descriptor fits an int
		p.bar = progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("reading"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return p
}

func (p *progress) update(ev authgin.ImportProgress) {
	now := time.Now()
	rate := float64(ev.Report.Records) / max(now.Sub(p.start).Seconds(), 1e-3)
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%d records, %.0f/s", ev.Report.Records, rate))
		_ = p.bar.Set64(ev.Offset)
		return
	}
	if now.Sub(p.lastLog) < progressEvery {
		return
	}
	p.lastLog = now
	pct := ""
	if p.size > 0 {
		pct = fmt.Sprintf(" (%.0f%% of the export)", 100*float64(ev.Offset)/float64(p.size))
	}
	fmt.Fprintf(p.w, "authgin-import: %d records%s, %.0f records/s, %s\n", ev.Report.Records, pct, rate, counts(ev.Report))
}

// finish ends the bar, full when the whole export was read.
func (p *progress) finish(whole bool) {
	if p.bar == nil {
		return
	}
	if whole {
		_ = p.bar.Finish()
	} else {
		_ = p.bar.Exit()
	}
	fmt.Fprintln(p.w)
}

// counts summarises a report on one line.
func counts(r authgin.ImportReport) string {
	return fmt.Sprintf("imported %d, unchanged %d, rejected %d, skipped %d", r.Imported, r.Unchanged, sum(r.Rejected), sum(r.Skipped))
}

func sum(m map[authgin.ImportReason]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// printReport writes the report for people.
func printReport(w io.Writer, c config, r *fileReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	what := "import"
	if r.DryRun {
		what = "dry run (nothing written)"
	}
	fmt.Fprintf(tw, "authgin-import: %s of %s into %s\n", what, c.in, r.Database)
	if r.Interrupted {
		fmt.Fprintf(tw, "  INTERRUPTED after line %d\n", r.LastLine)
	}
	fmt.Fprintf(tw, "  records read\t%d\n", r.Records)
	imported := "imported"
	if r.DryRun {
		imported = "to import"
	}
	fmt.Fprintf(tw, "  %s\t%d\t(%d banned as inactive, %d without password, %d renamed)\n", imported, r.Imported, r.Banned, r.WithoutPassword, r.Renamed)
	fmt.Fprintf(tw, "  unchanged\t%d\t(imported before)\n", r.Unchanged)
	for _, g := range []struct {
		name string
		m    map[authgin.ImportReason]int64
	}{{"rejected", r.Rejected}, {"skipped", r.Skipped}} {
		fmt.Fprintf(tw, "  %s\t%d\n", g.name, sum(g.m))
		for _, reason := range sortedReasons(g.m) {
			fmt.Fprintf(tw, "    %s\t%d\n", reason, g.m[reason])
		}
	}
	fmt.Fprintf(tw, "  highest id\t%d\n", r.HighestID)
	fmt.Fprintf(tw, "  rejects file\t%s\t(%d lines)\n", r.RejectsFile, r.RejectLines)
	fmt.Fprintf(tw, "  time\t%.1f s\t(%.0f records/s)\n", r.Seconds, float64(r.Records)/max(r.Seconds, 1e-3))
	_ = tw.Flush()
}

func sortedReasons(m map[authgin.ImportReason]int64) []authgin.ImportReason {
	out := make([]authgin.ImportReason, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// Most frequent first, then by name.
	slices.SortFunc(out, func(a, b authgin.ImportReason) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	return out
}

// writeReport writes the report as JSON.
func writeReport(path string, r *fileReport) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil { // #nosec G703 -- the operator names the file
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}
