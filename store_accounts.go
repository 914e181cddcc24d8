package authgin

// The users table.

import (
	"context"
	"strings"
	"time"
)

// accountColumns are the users columns in the order of Account.scanDest.
const accountColumns = "id, email, email_key, username, username_key, username_skeleton, password_hash, permissions, confirmed, banned, created_at, updated_at, last_login_at"

// scanDest is where a row of accountColumns scans to.
func (a *Account) scanDest() []any {
	return []any{&a.ID, &a.Email, &a.EmailKey, &a.Username, &a.UsernameKey, &a.UsernameSkeleton, &a.PasswordHash, &a.Permissions,
		&a.Confirmed, &a.Banned, &a.CreatedAt, &a.UpdatedAt, &a.LastLoginAt}
}

// accountWhere loads the account that cond (on a unique column) selects;
// nil if none. Plain SQL: every login runs it, and GORM's reflection would
// cost more than the query.
func (s *store) accountWhere(ctx context.Context, cond string, v any) (*Account, error) {
	var a Account
	found, err := s.scanRow(ctx, "SELECT "+accountColumns+" FROM users WHERE "+cond, []any{v}, a.scanDest()...)
	if err != nil || !found {
		return nil, err
	}
	return &a, nil
}

// accountByID loads the account with id; ErrUserNotFound if none.
func (s *store) accountByID(ctx context.Context, id int64) (*Account, error) {
	a, err := s.accountWhere(ctx, "id = ?", id)
	if err == nil && a == nil {
		return nil, ErrUserNotFound
	}
	return a, err
}

// accountByEmail loads the account with this email key; nil if none.
func (s *store) accountByEmail(ctx context.Context, emailKey string) (*Account, error) {
	return s.accountWhere(ctx, "email_key = ?", emailKey)
}

// accountByUsername loads the account with this username key; nil if none.
func (s *store) accountByUsername(ctx context.Context, usernameKey string) (*Account, error) {
	return s.accountWhere(ctx, "username_key = ?", usernameKey)
}

// lockAccount loads account id and, inside a transaction, locks it
// against concurrent changes until the transaction ends (SQLite's writing
// transactions lock the whole database anyway); ErrUserNotFound if none.
func (s *store) lockAccount(ctx context.Context, id int64) (*Account, error) {
	a, err := s.accountWhere(ctx, "id = ?"+s.d.lockRows, id)
	if err == nil && a == nil {
		return nil, ErrUserNotFound
	}
	return a, err
}

// taken says which of an email key, a username key and a username
// skeleton accounts have.
type taken struct{ email, username, skeleton bool }

// keysTaken reports which of an email key, a username key and a skeleton
// are taken: three unique-index lookups in one plain statement (every
// registration runs it).
func (s *store) keysTaken(ctx context.Context, emailKey, usernameKey, skeleton string) (taken, error) {
	var t taken
	_, err := s.scanRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE email_key = ?),
  EXISTS (SELECT 1 FROM users WHERE username_key = ?),
  EXISTS (SELECT 1 FROM users WHERE username_skeleton = ?)`, []any{emailKey, usernameKey, skeleton},
		&t.email, &t.username, &t.skeleton)
	return t, err
}

// insertAccount inserts a and sets its ID. A taken email key, username
// key or skeleton is errDuplicate.
func (s *store) insertAccount(ctx context.Context, a *Account) error {
	id, err := s.insertID(ctx, `INSERT INTO users (email, email_key, username, username_key, username_skeleton, password_hash,
  permissions, confirmed, banned, created_at, updated_at, last_login_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Email, a.EmailKey, a.Username, a.UsernameKey, a.UsernameSkeleton, a.PasswordHash,
		a.Permissions, a.Confirmed, a.Banned, a.CreatedAt, a.UpdatedAt, a.LastLoginAt)
	if err != nil {
		return err
	}
	a.ID = id
	return nil
}

// recordLogin sets the account's login time and, when newHash differs
// from oldHash (a rehash after verifying oldHash), its password hash, but
// only over oldHash: a password change committed since it was read stands.
func (s *store) recordLogin(ctx context.Context, id int64, now time.Time, oldHash, newHash string) error {
	if newHash == oldHash {
		_, err := s.exec(ctx, "UPDATE users SET last_login_at = ?, updated_at = ? WHERE id = ?", now, now, id)
		return err
	}
	_, err := s.exec(ctx, "UPDATE users SET last_login_at = ?, updated_at = ?, password_hash = CASE WHEN password_hash = ? THEN ? ELSE password_hash END WHERE id = ?",
		now, now, oldHash, newHash, id)
	return err
}

// setAccount sets columns of account id; it reports whether the account
// exists. A taken username key is errDuplicate.
func (s *store) setAccount(ctx context.Context, id int64, values map[string]any) (bool, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	res := db.Model(&Account{}).Where("id = ?", id).Updates(values)
	return res.RowsAffected > 0, dbError(res.Error)
}

// markConfirmed marks account id's email as confirmed.
func (s *store) markConfirmed(ctx context.Context, id int64, now time.Time) error {
	_, err := s.setAccount(ctx, id, map[string]any{"confirmed": true, "updated_at": now})
	return err
}

// changeEmail sets account id's address to email (key key) and marks it
// confirmed. A taken key is errDuplicate.
func (s *store) changeEmail(ctx context.Context, id int64, email, key string, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE users SET email = ?, email_key = ?, confirmed = ?, updated_at = ? WHERE id = ?",
		email, key, true, now, id)
	return err
}

// deleteAccount deletes account id and every row that belongs to it: its
// sessions and their refresh tokens, its one-time tokens and its security
// log. It reports whether the account existed. A table that gains rows
// per user must be added here.
func (s *store) deleteAccount(ctx context.Context, id int64) (bool, error) {
	var n int64
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		for _, q := range []string{
			"DELETE FROM refresh_tokens WHERE user_id = ?",
			"DELETE FROM sessions WHERE user_id = ?",
			"DELETE FROM email_confirmations WHERE user_id = ?",
			"DELETE FROM password_resets WHERE user_id = ?",
			"DELETE FROM security_events WHERE user_id = ?",
			"DELETE FROM user_fields WHERE user_id = ?", // the foreign key does it too, where it exists
			"DELETE FROM oauth_identities WHERE user_id = ?",
			"DELETE FROM mfa_totp WHERE user_id = ?",
			"DELETE FROM mfa_recovery_codes WHERE user_id = ?",
			"DELETE FROM mfa_challenges WHERE user_id = ?",
			"DELETE FROM webauthn_credentials WHERE user_id = ?",
			"DELETE FROM webauthn_users WHERE user_id = ?",
			"DELETE FROM webauthn_ceremonies WHERE user_id = ?",
		} {
			if _, err := tx.exec(ctx, q, id); err != nil {
				return err
			}
		}
		var err error
		n, err = tx.exec(ctx, "DELETE FROM users WHERE id = ?", id)
		return err
	})
	return n == 1, err
}

// renameAccount sets account id's username. A taken key or skeleton is
// errDuplicate.
func (s *store) renameAccount(ctx context.Context, id int64, display, key, skeleton string, now time.Time) error {
	_, err := s.setAccount(ctx, id, map[string]any{"username": display, "username_key": key, "username_skeleton": skeleton, "updated_at": now})
	return err
}

// accountsWithoutSkeleton returns up to limit accounts (id and username
// key only), by id after afterID, whose username skeleton is not set.
func (s *store) accountsWithoutSkeleton(ctx context.Context, afterID int64, limit int) ([]Account, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	var rows []Account
	err := db.Select("id", "username_key").Where("username_skeleton IS NULL AND id > ?", afterID).
		Order("id").Limit(limit).Find(&rows).Error
	return rows, dbError(err)
}

// setSkeleton sets account id's username skeleton if it has none. A taken
// skeleton is errDuplicate.
func (s *store) setSkeleton(ctx context.Context, id int64, skeleton string) error {
	_, err := s.exec(ctx, "UPDATE users SET username_skeleton = ? WHERE id = ? AND username_skeleton IS NULL", skeleton, id)
	return err
}

// setBanned sets account id's ban flag.
func (s *store) setBanned(ctx context.Context, id int64, banned bool, now time.Time) error {
	_, err := s.setAccount(ctx, id, map[string]any{"banned": banned, "updated_at": now})
	return err
}

// setPermissions sets account id's permissions.
func (s *store) setPermissions(ctx context.Context, id int64, perms Permissions, now time.Time) error {
	_, err := s.setAccount(ctx, id, map[string]any{"permissions": perms, "updated_at": now})
	return err
}

// setPassword sets account id's password hash unconditionally.
func (s *store) setPassword(ctx context.Context, id int64, hash string, now time.Time) error {
	_, err := s.setAccount(ctx, id, map[string]any{"password_hash": hash, "updated_at": now})
	return err
}

// replacePassword sets account id's password hash to hash only if it is
// still old (compare-and-set: of concurrent changes one wins); it reports
// whether it did. old "" sets a first password.
func (s *store) replacePassword(ctx context.Context, id int64, old, hash string, now time.Time) (bool, error) {
	n, err := s.exec(ctx, "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?", hash, now, id, old)
	return n == 1, err
}

// createAccount inserts a through GORM (rare paths: EnsureAdmin).
func (s *store) createAccount(ctx context.Context, a *Account) error {
	db, cancel := s.gorm(ctx)
	defer cancel()
	return dbError(db.Create(a).Error)
}

// searchAccounts returns page p (pageSize rows by id) of the accounts with
// id (0: any) whose username key contains fragment (empty: any) and whose
// user fields have the stored values of match, and how many match in all.
// fragment is text, never a pattern.
func (s *store) searchAccounts(ctx context.Context, id int64, fragment string, match []storedField, p, pageSize int) ([]Account, int64, error) {
	var rows []Account
	n, err := s.page(ctx, &Account{}, func(db gormQuery) gormQuery {
		if id != 0 {
			db = db.Where("id = ?", id)
		}
		if fragment != "" {
			db = db.Where("username_key LIKE ? ESCAPE '!'", "%"+escapeLike(fragment)+"%")
		}
		for _, f := range match {
			cond, args := fieldMatch(f)
			db = db.Where(cond, args...)
		}
		return db
	}, "id", p, pageSize, &rows)
	return rows, n, err
}

// escapeLike escapes the LIKE metacharacters of s for ESCAPE '!' (not a
// backslash: MySQL reads one in a string literal as an escape itself).
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// bannedAccounts loads the id and username of every banned account (id
// order) and the ids of the accounts banned since since.
func (s *store) bannedAccounts(ctx context.Context, since time.Time) (banned []Account, recent []int64, err error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	if err := db.Model(&Account{}).Select("id", "username").Where("banned = ?", true).Order("id").Find(&banned).Error; err != nil {
		return nil, nil, dbError(err)
	}
	err = db.Model(&SecurityEvent{}).Distinct("user_id").
		Where("event = ? AND created_at >= ?", EventBan, since).Pluck("user_id", &recent).Error
	return banned, recent, dbError(err)
}

// legacyHashPrefixes returns the distinct parameter prefixes of the legacy
// password hashes stored: "$2b$12$" for bcrypt, and the first 22
// characters of Django's "pbkdf2_sha256$<iterations>$<salt>$<key>", which
// hold any iteration count up to 7 digits. It reads the whole table, once
// when Register starts.
func (s *store) legacyHashPrefixes(ctx context.Context) ([]string, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	var prefixes []string
	err := db.Raw(`SELECT DISTINCT SUBSTR(password_hash, 1, 7) FROM users WHERE password_hash LIKE '$2%'
UNION SELECT DISTINCT SUBSTR(password_hash, 1, 22) FROM users WHERE password_hash LIKE 'pbkdf2_sha256$%'`).Scan(&prefixes).Error
	return prefixes, dbError(err)
}
