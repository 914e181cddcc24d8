package authgin

// Importing an authx user base: the rules. authx kept its users in
// MongoDB without unique indexes, so exports hold what authgin refuses:
// duplicates after canonicalisation, addresses and usernames its rules
// reject, hashes it cannot read. The importer applies registration's
// functions to every record, imports what passes with its id, and reports
// every other record with its reason; nothing is dropped silently.

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// ImportConflict says what an import does with a record whose id, email or
// username an earlier record of the export or an existing account holds.
type ImportConflict string

const (
	// ImportSkip rejects the record with its reason and goes on (the
	// default).
	ImportSkip ImportConflict = "skip"
	// ImportRenameUsername imports a record whose username is taken under
	// a new one, the username followed by "-" and its id ("ann-42"; then
	// "ann-42-2"...). A record whose id or email is taken is rejected as
	// with ImportSkip.
	ImportRenameUsername ImportConflict = "rename-username"
	// ImportFail stops the import at the first conflict with an
	// *ImportConflictError: the records before it are imported, it and
	// those after it are not.
	ImportFail ImportConflict = "fail"
)

// ImportReason is why a record was not imported as it is: the reason of
// an ImportReject and the keys of ImportReport's Rejected and Skipped.
type ImportReason string

// The reasons. A record gets the first that applies, in this order.
const (
	// ReasonMalformedRecord: not a JSON object, no id or an id that is not
	// a positive integer, or a field of the wrong type.
	ReasonMalformedRecord ImportReason = "malformed_record"
	// ReasonSocialLogin: an account of authx's social login (provider,
	// sid), which authgin cannot link yet. It is skipped, not rejected.
	ReasonSocialLogin ImportReason = "social_login_not_supported"
	// ReasonInvalidDate: created_at or last_login does not parse, or lies
	// outside 1970 to 9999.
	ReasonInvalidDate ImportReason = "invalid_date"
	// ReasonInvalidEmail: an address registration would refuse.
	ReasonInvalidEmail ImportReason = "invalid_email"
	// ReasonInvalidUsername: a username registration would refuse.
	ReasonInvalidUsername ImportReason = "invalid_username"
	// ReasonReservedUsername: a reserved username (ImportOptions.ReservedUsernames).
	ReasonReservedUsername ImportReason = "reserved_username"
	// ReasonInvalidPermission: a permission the admin routes would refuse.
	ReasonInvalidPermission ImportReason = "invalid_permission"
	// ReasonMalformedHash: a password hash that is no bcrypt ($2a$, $2b$,
	// $2y$), Django pbkdf2_sha256 or argon2id hash authgin can verify.
	ReasonMalformedHash ImportReason = "malformed_hash"
	// ReasonDuplicateID: an earlier record or an existing account with
	// another email has the id.
	ReasonDuplicateID ImportReason = "duplicate_id"
	// ReasonDuplicateEmail: an earlier record or an existing account has
	// the email, compared as registration does (lower-cased).
	ReasonDuplicateEmail ImportReason = "duplicate_email"
	// ReasonDuplicateUsername: an earlier record or an existing account
	// has the username, compared by its canonical key (case and width
	// folded), and ImportRenameUsername is off.
	ReasonDuplicateUsername ImportReason = "duplicate_username"
	// ReasonUsernameRenamed: imported, under ImportReject.NewUsername
	// (ImportRenameUsername).
	ReasonUsernameRenamed ImportReason = "username_renamed"
)

// ImportReject is one line of the rejects file: a record that was not
// imported as it is. Email and Username are as the export has them; the
// password hash is never included.
type ImportReject struct {
	Line     int          `json:"line"` // the line of the export the record starts on
	ID       *int64       `json:"id"`   // nil when the record has no readable id
	Email    string       `json:"email"`
	Username string       `json:"username"`
	Reason   ImportReason `json:"reason"`
	// Detail says more, e.g. which rule a username breaks.
	Detail string `json:"detail,omitempty"`
	// NewUsername is the username a ReasonUsernameRenamed record was
	// imported under.
	NewUsername string `json:"new_username,omitempty"`
}

// ImportReport counts what an import did with the records it read:
// Records = Imported + Unchanged + the Rejected and Skipped counts.
type ImportReport struct {
	DryRun bool `json:"dry_run"` // counts are what an import would do
	// Records is the number of records read and decided.
	Records int64 `json:"records"`
	// Imported records became accounts; of them, Renamed got a new
	// username, Banned were inactive in authx, and WithoutPassword have
	// none (they set one through "forgot password").
	Imported        int64 `json:"imported"`
	Renamed         int64 `json:"renamed"`
	Banned          int64 `json:"banned"`
	WithoutPassword int64 `json:"without_password"`
	// Unchanged records were imported before: an account has their id
	// and email. They are left as they are.
	Unchanged int64                  `json:"unchanged"`
	Rejected  map[ImportReason]int64 `json:"rejected"`
	Skipped   map[ImportReason]int64 `json:"skipped"`
	// HighestID is the highest id of the records imported or unchanged;
	// new accounts get higher ones.
	HighestID int64 `json:"highest_id"`
	// LastLine is the line of the last record decided.
	LastLine int `json:"last_line"`
	// Interrupted is set when the import's context ended before the
	// export did; the records decided so far are committed, and running
	// the import again goes on from there.
	Interrupted bool `json:"interrupted"`
}

// ImportProgress is what ImportOptions.Progress gets after each batch.
type ImportProgress struct {
	Offset int64        // bytes of the export read
	Report ImportReport // the counts so far (its maps are the import's: read only)
}

// ImportOptions configures an Importer.
type ImportOptions struct {
	// DB is the database to import into, opened like Options.DB. It may
	// be nil for a dry run, which then checks the export alone, as against
	// an empty database.
	DB *gorm.DB
	// DryRun does every check and reports without writing to the
	// database.
	DryRun bool
	// OnConflict says what to do with conflicting records; default
	// ImportSkip.
	OnConflict ImportConflict
	// BatchSize is the number of records decided and written in one
	// transaction; default 1000, at most 10000.
	BatchSize int
	// ReservedUsernames are refused (ReasonReservedUsername), compared by
	// canonical key; nil means the defaults of Options.ReservedUsernames.
	// Pass the app's own list, or an empty one to import every name.
	ReservedUsernames []string
	// Rejects receives every record not imported as it is, after the
	// batch holding it was committed (in a dry run, after it was checked).
	// An error it returns stops the import.
	Rejects func(ImportReject) error
	// Progress, if set, is called after each batch.
	Progress func(ImportProgress)
	// SkipMigration leaves the schema alone; the tables must exist. A dry
	// run never migrates.
	SkipMigration bool
	// DBTimeout bounds each database call of the import, a batch's
	// transaction as a whole; default one minute.
	DBTimeout time.Duration
	// Now is the clock for the accounts' updated_at, missing created_at,
	// and the security events of the import; default time.Now.
	Now func() time.Time
}

// maxImportBatch bounds ImportOptions.BatchSize.
const maxImportBatch = 10000

// ImportConflictError is the error of an import that stopped at a
// conflict (ImportFail).
type ImportConflictError struct {
	Reject ImportReject
}

func (e *ImportConflictError) Error() string {
	return fmt.Sprintf("authgin: import stopped at the first conflict: line %d: %s", e.Reject.Line, e.Reject.Reason)
}

// importBanDetail is the detail of the security event of an account
// imported as banned.
const importBanDetail = "imported from authx as inactive"

// Importer moves an authx user base (a mongoexport of its users
// collection) into authgin's database. Records are checked with the rules
// of registration (the same email and username checks, canonical keys and
// reserved names), then imported with their id, hash, confirmation,
// permissions, creation and last login time; inactive accounts are
// banned, with a security event saying so. Legacy bcrypt and pbkdf2
// hashes are kept as they are and rehashed to argon2id at the next login.
// The first record with an id, email key or username key wins; later ones
// conflict.
//
// The export is streamed and written in batches, one transaction each. A
// real import holds one batch in memory (the database remembers what
// earlier batches claimed); a dry run also keeps a digest of every id,
// email and username it accepted. Running the same export again is
// idempotent: a record whose id an account holds with the same email is
// Unchanged, and existing accounts are never updated.
type Importer struct {
	o        ImportOptions
	st       *store // nil: a dry run without a database, or before its tables exist
	reserved map[string]struct{}
}

// NewImporter checks o and prepares the database: it migrates the schema
// (unless o.SkipMigration or o.DryRun) and checks the connection's
// settings as Register does.
func NewImporter(ctx context.Context, o ImportOptions) (*Importer, error) {
	switch o.OnConflict {
	case "":
		o.OnConflict = ImportSkip
	case ImportSkip, ImportRenameUsername, ImportFail:
	default:
		return nil, fmt.Errorf("authgin: ImportOptions.OnConflict %q: want %q, %q or %q", o.OnConflict, ImportSkip, ImportRenameUsername, ImportFail)
	}
	switch {
	case o.BatchSize == 0:
		o.BatchSize = 1000
	case o.BatchSize < 0 || o.BatchSize > maxImportBatch:
		return nil, fmt.Errorf("authgin: ImportOptions.BatchSize must be between 1 and %d (got %d)", maxImportBatch, o.BatchSize)
	}
	if o.DBTimeout <= 0 {
		o.DBTimeout = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReservedUsernames == nil {
		o.ReservedUsernames = defaultReservedUsernames()
	}
	im := &Importer{o: o, reserved: reservedSkeletons(o.ReservedUsernames)}
	if o.DB == nil {
		if !o.DryRun {
			return nil, errors.New("authgin: ImportOptions.DB is required unless DryRun is set")
		}
		return im, nil
	}
	st, err := openStore(o.DB, o.DBTimeout)
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		// Nothing is written: with no users table yet, the database is
		// as good as empty.
		ok, err := st.usersTableExists(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return im, nil
		}
		im.st = st
		return im, nil
	}
	if !o.SkipMigration {
		if err := st.migrate(ctx); err != nil {
			return nil, fmt.Errorf("authgin: migrating the schema: %w", err)
		}
	}
	if err := st.d.check(ctx, st); err != nil {
		return nil, err
	}
	im.st = st
	return im, nil
}

// ImportAuthx reads an export of authx's users collection from r (JSON
// lines or one JSON array, Extended JSON v2 canonical or relaxed, as
// mongoexport writes it) and imports it. It returns the report so far
// with any error: an export that stops being JSON, a database failure, a
// conflict under ImportFail, or an error of ImportOptions.Rejects. When
// ctx ends, the batch in progress is still committed and the report is
// marked Interrupted, with no error.
func (im *Importer) ImportAuthx(ctx context.Context, r io.Reader) (ImportReport, error) {
	run := im.newRun()
	er := newExportReader(r)
	batch := make([]exportRecord, 0, im.o.BatchSize)
	for {
		if ctx.Err() != nil {
			run.rep.Interrupted = true
			return run.rep, im.setSkeletons(ctx)
		}
		batch = batch[:0]
		var readErr error
		for len(batch) < im.o.BatchSize {
			rec, err := er.next()
			if err != nil {
				readErr = err
				break
			}
			batch = append(batch, rec)
		}
		if len(batch) > 0 {
			// The batch is finished even when ctx ends meanwhile; its
			// transaction is bounded by DBTimeout.
			if err := run.batch(context.WithoutCancel(ctx), batch); err != nil {
				return run.rep, err
			}
			if im.o.Progress != nil {
				im.o.Progress(ImportProgress{Offset: er.offset(), Report: run.rep})
			}
		}
		if errors.Is(readErr, io.EOF) {
			return run.rep, im.setSkeletons(ctx)
		}
		if readErr != nil {
			return run.rep, errors.Join(readErr, im.setSkeletons(ctx))
		}
	}
}

// setSkeletons gives the imported accounts their username skeletons, so
// that a running app refuses look-alikes of their names at once, not only
// after its next start. The import leaves them out because two authx
// accounts may look alike: the first by id keeps the skeleton, as at
// Register, and the app logs the others when it starts.
func (im *Importer) setSkeletons(ctx context.Context) error {
	if im.st == nil || im.o.DryRun {
		return nil
	}
	return backfillSkeletons(context.WithoutCancel(ctx), im.st, slog.New(slog.DiscardHandler))
}

// newRun starts an ImportAuthx call.
func (im *Importer) newRun() *importRun {
	run := &importRun{im: im, now: im.o.Now().UTC(), seed: maphash.MakeSeed(), rep: ImportReport{
		DryRun: im.o.DryRun, Rejected: map[ImportReason]int64{}, Skipped: map[ImportReason]int64{},
	}}
	if im.o.DryRun {
		run.seen = newImportClaims(run.seed)
	}
	return run
}

// importRun is one ImportAuthx call.
type importRun struct {
	im  *Importer
	now time.Time
	rep ImportReport
	// seen holds what the records accepted so far claim, in a dry run
	// (a real import finds them in the database).
	seen *importClaims
	seed maphash.Seed // of every importClaims of the run
}

// importItem is a record of a batch on its way through.
type importItem struct {
	line int
	u    authxUser
	// After checking: the canonical forms, or why the record failed
	// (outcomeRejected or outcomeSkipped, and the reason and detail).
	email, emailKey, username, usernameKey string
	checked                                importOutcome
	checkReason                            ImportReason
	checkDetail                            string
	// The decision, which starts from the check's; the new username of
	// a renamed record.
	outcome                     importOutcome
	reason                      ImportReason
	detail                      string
	newUsername, newUsernameKey string
}

type importOutcome int

const (
	outcomeOpen      importOutcome = iota // passed the checks; not decided
	outcomeImported                       // to be, or was, imported
	outcomeUnchanged                      // imported before
	outcomeRejected
	outcomeSkipped
	outcomeNotReached // after an ImportFail conflict
)

// maxImportRetries bounds how often a batch is decided again after its
// insert met an account created meanwhile.
const maxImportRetries = 3

// batch checks, decides and writes one batch, then counts it and hands
// out its rejects.
func (run *importRun) batch(ctx context.Context, recs []exportRecord) error {
	items := make([]importItem, len(recs))
	for i, rec := range recs {
		items[i] = run.check(rec)
	}
	var conflict *importItem
	for attempt := 1; ; attempt++ {
		var err error
		conflict, err = run.decide(ctx, items)
		if err != nil {
			return err
		}
		if run.im.o.DryRun {
			break
		}
		err = run.write(ctx, items)
		if err == nil {
			break
		}
		if !errors.Is(err, errDuplicate) || attempt == maxImportRetries {
			return fmt.Errorf("authgin: import: writing the batch of lines %d to %d: %w", items[0].line, items[len(items)-1].line, err)
		}
		// An account created meanwhile holds a key: decide again.
	}
	for i := range items {
		if err := run.count(&items[i]); err != nil {
			return err
		}
	}
	if conflict != nil {
		return &ImportConflictError{Reject: conflict.reject()}
	}
	return nil
}

// check applies the rules that need no database to one record.
func (run *importRun) check(rec exportRecord) importItem {
	it := importItem{line: rec.line}
	u, rerr := parseAuthxUser(rec.raw)
	it.u = u
	reject := func(reason ImportReason, detail string) importItem {
		it.checked, it.checkReason, it.checkDetail = outcomeRejected, reason, detail
		return it
	}
	switch {
	case rerr != nil && rerr.reason == ReasonMalformedRecord:
		return reject(rerr.reason, rerr.detail)
	case u.social:
		it.checked, it.checkReason = outcomeSkipped, ReasonSocialLogin
		return it
	case rerr != nil:
		return reject(rerr.reason, rerr.detail)
	}
	var err error
	if it.email, it.emailKey, err = canonicalEmail(u.email); err != nil {
		return reject(ReasonInvalidEmail, errorDetail(err))
	}
	if it.username, it.usernameKey, err = canonicalUsername(u.username); err != nil {
		return reject(ReasonInvalidUsername, errorDetail(err))
	}
	if _, ok := run.im.reserved[usernameSkeleton(it.usernameKey)]; ok {
		return reject(ReasonReservedUsername, "Username is reserved")
	}
	for _, p := range u.permissions {
		if checkPermissionName(p) != nil {
			return reject(ReasonInvalidPermission, fmt.Sprintf("permission %q is not allowed", truncate(p, 64)))
		}
	}
	if u.password != "" && !verifiableHash(u.password) {
		return reject(ReasonMalformedHash, "")
	}
	return it
}

// errorDetail is the detail of an *Error, or err's text.
func errorDetail(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return err.Error()
}

// verifiableHash reports whether hash is in a form that login verifies
// (hasher.verify) and the users table stores: a bcrypt hash ($2a$, $2b$,
// $2y$), a Django pbkdf2_sha256 hash or an argon2id PHC string.
func verifiableHash(hash string) bool {
	if len(hash) > 255 {
		return false
	}
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return bcryptWellFormed(hash)
	case strings.HasPrefix(hash, "pbkdf2_sha256$"):
		_, _, _, ok := decodeDjangoPBKDF2(hash)
		return ok
	case strings.HasPrefix(hash, "$argon2id$"):
		_, _, _, ok := decodePHC(hash)
		return ok
	}
	return false
}

// decide settles the records of a batch that passed check against what
// earlier records and existing accounts hold, in export order. Under
// ImportFail it stops at the first conflict, marks the records after it
// not reached, and returns it.
func (run *importRun) decide(ctx context.Context, items []importItem) (*importItem, error) {
	var open []*importItem
	for i := range items {
		it := &items[i]
		it.outcome, it.reason, it.detail, it.newUsername, it.newUsernameKey = it.checked, it.checkReason, it.checkDetail, "", ""
		if it.outcome == outcomeOpen {
			open = append(open, it)
		}
	}
	held, err := run.existing(ctx, open)
	if err != nil {
		return nil, err
	}
	claims := run.seen
	if claims == nil {
		claims = newImportClaims(run.seed)
	}
	idOwner := func(id int64) (uint64, bool) {
		if d, ok := claims.idOwner(id); ok {
			return d, true
		}
		return held.idOwner(id)
	}
	taken := func(kind, key string) bool { return claims.holds(kind, key) || held.holds(kind, key) }
	for _, it := range open {
		var reason ImportReason
		var detail string
		if owner, ok := idOwner(it.u.id); ok {
			if owner == claims.digest(emailKeyKind, it.emailKey) {
				it.outcome = outcomeUnchanged
				continue
			}
			reason, detail = ReasonDuplicateID, "another account has this id"
		} else if taken(emailKeyKind, it.emailKey) {
			reason = ReasonDuplicateEmail
		} else if taken(usernameKeyKind, it.usernameKey) {
			reason = ReasonDuplicateUsername
			if run.im.o.OnConflict == ImportRenameUsername {
				name, key, err := run.freeUsername(ctx, it, func(key string) bool { return taken(usernameKeyKind, key) })
				if err != nil {
					return nil, err
				}
				if name != "" {
					it.newUsername, it.newUsernameKey = name, key
					reason = ""
				}
			}
		}
		if reason != "" {
			it.outcome, it.reason, it.detail = outcomeRejected, reason, detail
			if run.im.o.OnConflict == ImportFail {
				for i := range items {
					if &items[i] == it {
						for j := i + 1; j < len(items); j++ {
							items[j].outcome = outcomeNotReached
						}
					}
				}
				return it, nil
			}
			continue
		}
		it.outcome = outcomeImported
		usernameKey := it.usernameKey
		if it.newUsername != "" {
			it.reason, usernameKey = ReasonUsernameRenamed, it.newUsernameKey
		}
		claims.add(it.u.id, it.emailKey, usernameKey)
	}
	return nil, nil
}

// existing loads what existing accounts hold of the batch's ids and keys.
func (run *importRun) existing(ctx context.Context, open []*importItem) (*importClaims, error) {
	held := newImportClaims(run.seed)
	if run.im.st == nil || len(open) == 0 {
		return held, nil
	}
	ids := make([]int64, len(open))
	emailKeys := make([]string, len(open))
	usernameKeys := make([]string, len(open))
	for i, it := range open {
		ids[i], emailKeys[i], usernameKeys[i] = it.u.id, it.emailKey, it.usernameKey
	}
	rows, err := run.im.st.accountsHolding(ctx, ids, emailKeys, usernameKeys)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		held.add(r.id, r.emailKey, r.usernameKey)
	}
	return held, nil
}

// maxRenameTries bounds the usernames tried for one record.
const maxRenameTries = 20

// freeUsername finds the username a record is imported under when its
// own is taken: its username followed by "-" and its id, then "-2",
// "-3"..., shortened to fit the length limit; "" when none is free.
func (run *importRun) freeUsername(ctx context.Context, it *importItem, taken func(key string) bool) (display, key string, err error) {
	suffix := "-" + strconv.FormatInt(it.u.id, 10)
	for n := 1; n <= maxRenameTries; n++ {
		s := suffix
		if n > 1 {
			s += "-" + strconv.Itoa(n)
		}
		base := it.username
		for utf8.RuneCountInString(base)+utf8.RuneCountInString(s) > maxUsernameLength && base != "" {
			_, size := utf8.DecodeLastRuneInString(base)
			base = base[:len(base)-size]
		}
		display, key, err := canonicalUsername(base + s)
		if err != nil {
			continue
		}
		if _, ok := run.im.reserved[usernameSkeleton(key)]; ok || taken(key) {
			continue
		}
		if run.im.st != nil {
			acct, err := run.im.st.accountByUsername(ctx, key)
			if err != nil {
				return "", "", err
			}
			if acct != nil {
				continue
			}
		}
		return display, key, nil
	}
	return "", "", nil
}

// write commits the batch's imported records as accounts, with a security
// event for each banned one.
func (run *importRun) write(ctx context.Context, items []importItem) error {
	var accts []Account
	var events []SecurityEvent
	for i := range items {
		it := &items[i]
		if it.outcome != outcomeImported {
			continue
		}
		accts = append(accts, run.account(it))
		if !it.u.active {
			events = append(events, SecurityEvent{UserID: it.u.id, Event: EventImportBanned, Detail: importBanDetail, CreatedAt: run.now})
		}
	}
	if len(accts) == 0 {
		return nil
	}
	return run.im.st.importAccounts(ctx, accts, events)
}

// account is the row an imported record becomes.
func (run *importRun) account(it *importItem) Account {
	perms := Permissions{}
	for _, p := range it.u.permissions {
		if !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	created := it.u.createdAt
	if created.IsZero() {
		created = run.now
	}
	username, usernameKey := it.username, it.usernameKey
	if it.newUsername != "" {
		username, usernameKey = it.newUsername, it.newUsernameKey
	}
	return Account{
		ID: it.u.id, Email: it.email, EmailKey: it.emailKey, Username: username, UsernameKey: usernameKey,
		PasswordHash: it.u.password, Permissions: perms, Confirmed: it.u.confirmed, Banned: !it.u.active,
		CreatedAt: created, UpdatedAt: run.now, LastLoginAt: it.u.lastLogin,
	}
}

// count adds a decided record to the report and hands out its reject.
func (run *importRun) count(it *importItem) error {
	rep := &run.rep
	switch it.outcome {
	case outcomeNotReached, outcomeOpen:
		return nil
	case outcomeImported:
		rep.Imported++
		rep.HighestID = max(rep.HighestID, it.u.id)
		if it.newUsername != "" {
			rep.Renamed++
		}
		if !it.u.active {
			rep.Banned++
		}
		if it.u.password == "" {
			rep.WithoutPassword++
		}
	case outcomeUnchanged:
		rep.Unchanged++
		rep.HighestID = max(rep.HighestID, it.u.id)
	case outcomeRejected:
		rep.Rejected[it.reason]++
	case outcomeSkipped:
		rep.Skipped[it.reason]++
	}
	rep.Records++
	rep.LastLine = it.line
	if it.reason == "" || run.im.o.Rejects == nil {
		return nil
	}
	return run.im.o.Rejects(it.reject())
}

// reject is the rejects file's line for it.
func (it *importItem) reject() ImportReject {
	r := ImportReject{
		Line: it.line, Email: truncate(it.u.email, 512), Username: truncate(it.u.username, 512),
		Reason: it.reason, Detail: it.detail, NewUsername: it.newUsername,
	}
	if it.u.hasID {
		id := it.u.id
		r.ID = &id
	}
	return r
}

// importClaims is a set of ids (with their email keys), email keys and
// username keys that accounts hold, as 64-bit digests under one random
// seed, so that a dry run of millions of records keeps a few words for
// each. Two of a million keys share a digest with a chance of about 1 in
// 10^7, which would report a record of a dry run as a duplicate; a real
// import asks the database.
type importClaims struct {
	seed maphash.Seed
	ids  map[int64]uint64    // id -> digest of its email key
	keys map[uint64]struct{} // digests of email and username keys
}

func newImportClaims(seed maphash.Seed) *importClaims {
	return &importClaims{seed: seed, ids: map[int64]uint64{}, keys: map[uint64]struct{}{}}
}

// The kinds of key, hashed first so that an email key and a username key
// never share a digest by being equal.
const (
	emailKeyKind    = "e"
	usernameKeyKind = "u"
)

func (c *importClaims) digest(kind, key string) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	_, _ = h.WriteString(kind)
	_, _ = h.WriteString(key)
	return h.Sum64()
}

func (c *importClaims) add(id int64, emailKey, usernameKey string) {
	e := c.digest(emailKeyKind, emailKey)
	c.ids[id] = e
	c.keys[e] = struct{}{}
	c.keys[c.digest(usernameKeyKind, usernameKey)] = struct{}{}
}

// idOwner returns the digest of the email key of the account holding id.
func (c *importClaims) idOwner(id int64) (uint64, bool) {
	d, ok := c.ids[id]
	return d, ok
}

func (c *importClaims) holds(kind, key string) bool {
	_, ok := c.keys[c.digest(kind, key)]
	return ok
}
