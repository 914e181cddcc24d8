package authgin

// What differs between the databases the store supports, side by side.
// Everything else the store writes is SQL that SQLite, PostgreSQL, MySQL 8
// and MariaDB all accept: ? placeholders (PostgreSQL's are rebound to $n),
// no RETURNING outside the PostgreSQL and SQLite paths below, no LIMIT in
// subqueries, no backslash in string literals.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// The names of the supported GORM dialects (Dialector.Name()).
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
	dialectMySQL    = "mysql" // MySQL 8 and MariaDB
)

// errUnsupportedDB is the start of Register's error for any other database.
var errUnsupportedDB = errors.New("authgin: unsupported database")

// dialect is one database's way of doing what the store needs.
type dialect struct {
	name string
	// numbered: PostgreSQL's $1, $2... placeholders instead of ?.
	numbered bool
	// returning: INSERT ... RETURNING (MySQL has none).
	returning bool
	// returningID: new ids come back through INSERT ... RETURNING id
	// (PostgreSQL has no LastInsertId); else through LastInsertId.
	returningID bool
	// lockRows is appended to a SELECT that locks the rows it reads for
	// the rest of the transaction; SQLite locks the whole database for a
	// writing transaction (BEGIN IMMEDIATE) and needs none.
	lockRows string
	// groupCommit: logins' transactions may commit together (SQLite's
	// single writer; see groupCommit).
	groupCommit bool
	// changedRows: UPDATE reports the rows it changed, not the rows it
	// matched (MySQL's default), so an UPDATE that writes the values a row
	// already has counts 0.
	changedRows bool
	// gapLocks: the default isolation (MySQL's REPEATABLE READ) locks the
	// index gaps a writing statement's scan passes, not only the rows it
	// changes (see store.execPrune).
	gapLocks bool

	queries sync.Map // query -> its form for this database, built once
}

func dialectOf(db *gorm.DB) (*dialect, error) {
	if db == nil || db.Dialector == nil {
		return nil, errors.New("authgin: Options.DB has no dialector")
	}
	switch name := db.Dialector.Name(); name {
	case dialectSQLite:
		return &dialect{name: name, returning: true, groupCommit: true}, nil
	case dialectPostgres:
		return &dialect{name: name, numbered: true, returning: true, returningID: true, lockRows: " FOR UPDATE"}, nil
	case dialectMySQL:
		return &dialect{name: name, lockRows: " FOR UPDATE", changedRows: true, gapLocks: true}, nil
	default:
		return nil, fmt.Errorf("%w %q: authgin supports SQLite (gorm.io/driver/sqlite), PostgreSQL (gorm.io/driver/postgres) and MySQL 8 / MariaDB (gorm.io/driver/mysql)", errUnsupportedDB, name)
	}
}

// bind returns query with its ? placeholders in this database's form (the
// statements it gets have no ? in literals).
func (d *dialect) bind(query string) string {
	if !d.numbered {
		return query
	}
	if q, ok := d.queries.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := range len(query) {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	q := b.String()
	d.queries.Store(query, q)
	return q
}

// migrate creates or updates the tables with GORM's AutoMigrate, which
// only adds what is missing and so is safe on every start. Instances that
// start together would race its "does the table exist? then create it",
// so each database serialises them: PostgreSQL with a transaction-scoped
// advisory lock (its DDL is transactional), MySQL with a named lock held
// by one connection (its DDL is not), SQLite with the write lock that its
// BEGIN IMMEDIATE takes. On MySQL the tables compare text byte for byte
// (utf8mb4_bin), as the other databases do: its default collations would
// make "josé" and "jose" one key.
func (d *dialect) migrate(ctx context.Context, db *gorm.DB, models []any) error {
	db = db.WithContext(ctx)
	switch d.name {
	case dialectPostgres:
		return db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.authgin.migrate'))").Error; err != nil {
				return err
			}
			return tx.AutoMigrate(models...)
		})
	case dialectMySQL:
		return db.Connection(func(conn *gorm.DB) error {
			var got int
			if err := conn.Raw("SELECT GET_LOCK(CONCAT(DATABASE(), '.authgin.migrate'), 60)").Scan(&got).Error; err != nil {
				return err
			}
			if got != 1 {
				return errors.New("authgin: another instance held the migration lock for a minute")
			}
			defer conn.Exec("SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.authgin.migrate'))")
			return conn.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin").
				AutoMigrate(models...)
		})
	default:
		return db.Transaction(func(tx *gorm.DB) error { return tx.AutoMigrate(models...) })
	}
}

// check refuses a connection that would break the store's guarantees,
// with an error saying what to set. It runs after the migration (MySQL's
// probe needs a table). OpenSQLite, OpenPostgres and
// OpenMySQL configure their connections right.
func (d *dialect) check(ctx context.Context, s *store) error {
	switch d.name {
	case dialectSQLite:
		return checkSQLite(ctx, s)
	case dialectMySQL:
		return checkMySQL(ctx, s)
	}
	return nil
}

func checkSQLite(ctx context.Context, s *store) error {
	// journal_mode=WAL lasts in the database file: setting it once is enough.
	var mode string
	if _, err := s.scanRow(ctx, "PRAGMA journal_mode = WAL", nil, &mode); err != nil {
		return fmt.Errorf("authgin: SQLite: setting journal_mode=WAL: %w", err)
	}
	var busy, fk int64
	if _, err := s.scanRow(ctx, "PRAGMA busy_timeout", nil, &busy); err != nil {
		return fmt.Errorf("authgin: SQLite: %w", err)
	}
	if _, err := s.scanRow(ctx, "PRAGMA foreign_keys", nil, &fk); err != nil {
		return fmt.Errorf("authgin: SQLite: %w", err)
	}
	// Times must go in as SQLite's own text ("2006-01-02 15:04:05.999-07:00"),
	// which it compares in time order.
	var stored string
	if _, err := s.scanRow(ctx, "SELECT CAST(? AS TEXT)", []any{time.Date(2001, 2, 3, 4, 5, 6, 7e6, time.UTC)}, &stored); err != nil {
		return fmt.Errorf("authgin: SQLite: %w", err)
	}
	const how = "open the database with authgin.OpenSQLite, or set them in the DSN"
	switch {
	case busy <= 0:
		return fmt.Errorf("authgin: SQLite connections have no busy timeout, so concurrent writers fail with \"database is locked\"; %s (mattn: _busy_timeout=10000; modernc/glebarez: _pragma=busy_timeout(10000))", how)
	case fk != 1:
		return fmt.Errorf("authgin: SQLite connections do not enforce foreign keys; %s (mattn: _foreign_keys=on; modernc/glebarez: _pragma=foreign_keys(1))", how)
	case stored != "2001-02-03 04:05:06.007+00:00":
		return fmt.Errorf("authgin: the SQLite driver stores times as %q, which SQLite cannot compare; %s (modernc/glebarez: _time_format=sqlite)", stored, how)
	}
	_ = mode // "wal", or "memory" for an in-memory database
	return nil
}

func checkMySQL(ctx context.Context, s *store) error {
	var now time.Time
	if _, err := s.scanRow(ctx, "SELECT CURRENT_TIMESTAMP(3)", nil, &now); err != nil {
		return fmt.Errorf("authgin: MySQL: reading a time failed (%w); add parseTime=true to the DSN, or open it with authgin.OpenMySQL", err)
	}
	var mode string
	if _, err := s.scanRow(ctx, "SELECT @@SESSION.sql_mode", nil, &mode); err != nil {
		return fmt.Errorf("authgin: MySQL: %w", err)
	}
	if !strings.Contains(mode, "STRICT_TRANS_TABLES") && !strings.Contains(mode, "STRICT_ALL_TABLES") {
		return fmt.Errorf("authgin: MySQL runs without strict mode (sql_mode=%q), so it would cut or mangle text it cannot store; add STRICT_TRANS_TABLES to sql_mode (the default since MySQL 5.7 and MariaDB 10.2.4)", mode)
	}
	// The store reads an UPDATE's count as rows changed; clientFoundRows
	// would make it rows matched.
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		if _, err := tx.exec(ctx, "INSERT INTO "+probeTable+" (bucket, window_start, count, blocked_until) VALUES (?, 0, 0, 0)", probeBucket); err != nil {
			if errors.Is(err, errDuplicate) {
				return nil
			}
			return tableMissing(err)
		}
		n, err := tx.exec(ctx, "UPDATE "+probeTable+" SET count = 0 WHERE bucket = ?", probeBucket)
		if err != nil {
			return err
		}
		if n != 0 {
			return errors.New("authgin: MySQL connections report rows matched (clientFoundRows=true); remove clientFoundRows from the DSN")
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// probeTable and probeBucket are where checkMySQL tries an UPDATE, in a
// transaction it rolls back.
const (
	probeTable  = "throttles"
	probeBucket = "authgin:probe"
)

// errRollback ends a transaction that must leave nothing behind.
var errRollback = errors.New("authgin: rollback")

// tableMissing lets a check pass before the first migration has created
// the table it probes (SkipMigration with the tables still to come).
func tableMissing(err error) error {
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "doesn't exist") {
		return nil
	}
	return err
}

// advanceIDSQL is the statement that moves table's id sequence past the
// id given twice as its arguments, never back; "" where inserting rows
// with explicit ids does that already: SQLite's AUTOINCREMENT keeps the
// largest id ever inserted (sqlite_sequence), and InnoDB raises its
// counter past an explicit id above it. MySQL's ALTER TABLE ...
// AUTO_INCREMENT is not used: it can lower the counter below the ids of
// deleted rows, which would then be handed out again.
func (d *dialect) advanceIDSQL(table string) string {
	if d.name != dialectPostgres {
		return ""
	}
	seq := "pg_get_serial_sequence('" + table + "', 'id')"
	return "SELECT setval(" + seq + ", ?) WHERE ? > COALESCE(pg_sequence_last_value(" + seq + "::regclass), 0)"
}

// indexLookupSQL is the statement that makes the rest of a transaction
// read by index rather than scan whole tables, or "" where none is needed.
// The importer looks up hundreds of keys at once in a table that it grows
// from empty: PostgreSQL's planner prefers one scan of the table to that
// many index probes (while its statistics say the table is small), and
// keeps a generic plan made then for the prepared statement, so that each
// lookup would read the whole table.
func (d *dialect) indexLookupSQL() string {
	if d.name != dialectPostgres {
		return ""
	}
	return "SET LOCAL enable_seqscan = off"
}

// countSQL is countEvent's upsert and its arguments. PostgreSQL and SQLite
// evaluate every SET with the old row and return the new one; MySQL has
// no RETURNING, and evaluates its SETs left to right, each seeing the ones
// before, so window_start is set after count (whose condition it shares)
// and the row is read back in the same transaction.
func (d *dialect) countSQL(key string, now, windowStart int64) (string, []any) {
	if d.name == dialectMySQL {
		return `INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, 0)
ON DUPLICATE KEY UPDATE
  count = IF(window_start <= ? AND blocked_until <= VALUES(window_start), 1, count + 1),
  window_start = IF(window_start <= ? AND blocked_until <= VALUES(window_start), VALUES(window_start), window_start)`,
			[]any{key, now, windowStart, windowStart}
	}
	return `INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, 0)
ON CONFLICT (bucket) DO UPDATE SET
  count = CASE WHEN throttles.window_start <= ? AND throttles.blocked_until <= ? THEN 1 ELSE throttles.count + 1 END,
  window_start = CASE WHEN throttles.window_start <= ? AND throttles.blocked_until <= ? THEN ? ELSE throttles.window_start END
RETURNING window_start, count, blocked_until`,
		[]any{key, now, windowStart, now, windowStart, now, now}
}

// attemptSQL is countAttempt's upsert for b, b's numbers written in, built
// once. Its arguments are the key, now and the blocked_until of a first
// try (the row a first try inserts). An existing row gets the new count n
// (1 when its window has passed, else one more) and the blocked_until for
// n: the window's end once n reaches max, else the delay after n failures
// from now, one CASE arm per doubling (at most 64: they stop at
// maxDelayMS). While a delay runs, nothing changes.
//
// PostgreSQL and SQLite: the update's WHERE skips a blocked row, and no
// row comes back. MySQL has no WHERE there and evaluates SETs left to
// right: each SET keeps its value while blocked, and blocked_until comes
// last, computed from the count and window_start just set (for a passed
// window they are 1 and now, which gives the first try's value).
func (d *dialect) attemptSQL(b backoff) string {
	if q, ok := d.queries.Load(b); ok {
		return q.(string)
	}
	var sb strings.Builder
	arms := func(count, windowStart, now string) {
		fmt.Fprintf(&sb, "    WHEN %s >= %d THEN %s + %d\n", count, b.max, windowStart, b.windowMS)
		if first := max(b.free, 1); b.delayMS > 0 {
			fmt.Fprintf(&sb, "    WHEN %s < %d THEN 0\n", count, first)
			n := first
			for dl := b.delayMS; dl < b.maxDelayMS; dl, n = dl*2, n+1 {
				fmt.Fprintf(&sb, "    WHEN %s = %d THEN %s + %d\n", count, n, now, dl)
			}
			fmt.Fprintf(&sb, "    ELSE %s + %d END", now, b.maxDelayMS)
		} else {
			sb.WriteString("    ELSE 0 END")
		}
	}
	if d.name == dialectMySQL {
		fmt.Fprintf(&sb, `INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, ?)
ON DUPLICATE KEY UPDATE
  count = IF(blocked_until > VALUES(window_start), count,
    IF(window_start <= VALUES(window_start) - %[1]d, 1, count + 1)),
  window_start = IF(blocked_until > VALUES(window_start), window_start,
    IF(window_start <= VALUES(window_start) - %[1]d, VALUES(window_start), window_start)),
  blocked_until = IF(blocked_until > VALUES(window_start), blocked_until, CASE
`, b.windowMS)
		arms("count", "window_start", "VALUES(window_start)")
		sb.WriteString(")")
	} else {
		fmt.Fprintf(&sb, `INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, ?)
ON CONFLICT (bucket) DO UPDATE SET
  count = CASE WHEN throttles.window_start <= excluded.window_start - %[1]d THEN 1 ELSE throttles.count + 1 END,
  window_start = CASE WHEN throttles.window_start <= excluded.window_start - %[1]d THEN excluded.window_start ELSE throttles.window_start END,
  blocked_until = CASE WHEN throttles.window_start <= excluded.window_start - %[1]d THEN excluded.blocked_until
`, b.windowMS)
		arms("throttles.count + 1", "throttles.window_start", "excluded.window_start")
		sb.WriteString("\nWHERE throttles.blocked_until <= excluded.window_start\nRETURNING count")
	}
	q := sb.String()
	d.queries.Store(b, q)
	return q
}

// revocationSQL is recordRevocation's upsert; its arguments are the user
// id, the revocation time and the session kept. A user's row keeps its
// latest revocation: valid_after_ms moves forward only, and a kept session
// is exempt only from the revocations that kept it, so keep_after_ms
// becomes the old valid_after_ms when the kept session changes (that
// revocation did not keep the new one). MySQL evaluates its SETs left to
// right, each seeing the ones before: keep_after_ms comes first.
func (d *dialect) revocationSQL() string {
	if d.name == dialectMySQL {
		return `INSERT INTO revocations (user_id, valid_after_ms, keep_session_id, keep_after_ms) VALUES (?, ?, ?, 0)
ON DUPLICATE KEY UPDATE
  keep_after_ms = IF(keep_session_id = VALUES(keep_session_id), keep_after_ms, valid_after_ms),
  valid_after_ms = GREATEST(valid_after_ms, VALUES(valid_after_ms)),
  keep_session_id = VALUES(keep_session_id)`
	}
	return `INSERT INTO revocations (user_id, valid_after_ms, keep_session_id, keep_after_ms) VALUES (?, ?, ?, 0)
ON CONFLICT (user_id) DO UPDATE SET
  keep_after_ms = CASE WHEN revocations.keep_session_id = excluded.keep_session_id THEN revocations.keep_after_ms ELSE revocations.valid_after_ms END,
  valid_after_ms = CASE WHEN revocations.valid_after_ms > excluded.valid_after_ms THEN revocations.valid_after_ms ELSE excluded.valid_after_ms END,
  keep_session_id = excluded.keep_session_id`
}
