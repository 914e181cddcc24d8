package authgin

// The users table.

import (
	"context"
	"strings"
	"time"
)

// accountColumns are the users columns in the order of Account.scanDest.
const accountColumns = "id, email, email_key, username, username_key, password_hash, permissions, confirmed, banned, created_at, updated_at, last_login_at"

// scanDest is where a row of accountColumns scans to.
func (a *Account) scanDest() []any {
	return []any{&a.ID, &a.Email, &a.EmailKey, &a.Username, &a.UsernameKey, &a.PasswordHash, &a.Permissions,
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

// keysTaken reports whether an email or username key is taken, and which.
func (s *store) keysTaken(ctx context.Context, emailKey, usernameKey string) (emailTaken, usernameTaken bool, err error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	var rows []Account
	err = db.Select("email_key", "username_key").
		Where("email_key = ? OR username_key = ?", emailKey, usernameKey).Limit(2).Find(&rows).Error
	if err != nil {
		return false, false, dbError(err)
	}
	for _, r := range rows {
		emailTaken = emailTaken || r.EmailKey == emailKey
		usernameTaken = usernameTaken || r.UsernameKey == usernameKey
	}
	return emailTaken, usernameTaken, nil
}

// insertAccount inserts a and sets its ID. A taken email or username key
// is errDuplicate.
func (s *store) insertAccount(ctx context.Context, a *Account) error {
	id, err := s.insertID(ctx, `INSERT INTO users (email, email_key, username, username_key, password_hash,
  permissions, confirmed, banned, created_at, updated_at, last_login_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Email, a.EmailKey, a.Username, a.UsernameKey, a.PasswordHash,
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

// renameAccount sets account id's username. A taken key is errDuplicate.
func (s *store) renameAccount(ctx context.Context, id int64, display, key string, now time.Time) error {
	_, err := s.setAccount(ctx, id, map[string]any{"username": display, "username_key": key, "updated_at": now})
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
