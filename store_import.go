package authgin

// The users table as the importer sees it: what existing accounts hold,
// and batches of accounts inserted with the ids they bring.

import (
	"context"
	"strings"
)

// heldKeys is what one existing account holds that an import may collide
// with.
type heldKeys struct {
	id                    int64
	emailKey, usernameKey string
}

// importLookupChunk bounds the values of one IN list, so that a lookup
// stays far below every database's limit on placeholders.
const importLookupChunk = 250

// importInsertChunk is the number of rows of one multi-row INSERT (12
// placeholders each).
const importInsertChunk = 100

// usersTableExists reports whether the users table exists yet.
func (s *store) usersTableExists(ctx context.Context) (bool, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	// HasTable reads a failed query as "no table": make sure the database
	// answers first.
	sqlDB, err := db.DB()
	if err != nil {
		return false, dbError(err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return false, dbError(err)
	}
	return db.Migrator().HasTable(&Account{}), nil
}

// accountsHolding returns the accounts that hold one of ids, emailKeys or
// usernameKeys (slices of one length).
func (s *store) accountsHolding(ctx context.Context, ids []int64, emailKeys, usernameKeys []string) ([]heldKeys, error) {
	if q := s.d.indexLookupSQL(); q != "" && !s.inTx {
		var out []heldKeys
		err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
			if _, err := tx.exec(ctx, q); err != nil {
				return err
			}
			var err error
			out, err = tx.accountsHolding(ctx, ids, emailKeys, usernameKeys)
			return err
		})
		return out, err
	}
	var out []heldKeys
	for lo := 0; lo < len(ids); lo += importLookupChunk {
		hi := min(lo+importLookupChunk, len(ids))
		n := hi - lo
		marks := strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
		args := make([]any, 0, 3*n)
		for _, id := range ids[lo:hi] {
			args = append(args, id)
		}
		for _, k := range emailKeys[lo:hi] {
			args = append(args, k)
		}
		for _, k := range usernameKeys[lo:hi] {
			args = append(args, k)
		}
		// One SELECT a column: an OR of the three lists may make the
		// planner scan the whole table instead of the three indexes.
		const cols = "SELECT id, email_key, username_key FROM users WHERE "
		err := s.queryRows(ctx, cols+"id IN ("+marks+") UNION ALL "+cols+"email_key IN ("+marks+") UNION ALL "+
			cols+"username_key IN ("+marks+")", args, func(scan func(...any) error) error {
			var h heldKeys
			if err := scan(&h.id, &h.emailKey, &h.usernameKey); err != nil {
				return err
			}
			out = append(out, h)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// queryRows runs a query written in SQL like exec and calls row for each
// row it returns.
func (s *store) queryRows(ctx context.Context, query string, args []any, row func(scan func(...any) error) error) error {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Statement.ConnPool.QueryContext(ctx, s.d.bind(query), args...)
	if err != nil {
		return dbError(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return dbError(err)
		}
	}
	return dbError(rows.Err())
}

// importAccounts inserts accts with their own ids, and events, in one
// transaction. The id sequence is first moved past the highest of the ids
// (never back), so that accounts registered meanwhile or later get ids
// above them. A taken id or key is errDuplicate and rolls it all back.
func (s *store) importAccounts(ctx context.Context, accts []Account, events []SecurityEvent) error {
	var highest int64
	for i := range accts {
		highest = max(highest, accts[i].ID)
	}
	return s.atomic(ctx, func(ctx context.Context, tx *store) error {
		if q := tx.d.advanceIDSQL("users"); q != "" {
			if _, err := tx.exec(ctx, q, highest, highest); err != nil {
				return err
			}
		}
		for lo := 0; lo < len(accts); lo += importInsertChunk {
			hi := min(lo+importInsertChunk, len(accts))
			var q strings.Builder
			q.WriteString(`INSERT INTO users (id, email, email_key, username, username_key, password_hash,
  permissions, confirmed, banned, created_at, updated_at, last_login_at) VALUES `)
			args := make([]any, 0, 12*(hi-lo))
			for i, a := range accts[lo:hi] {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				args = append(args, a.ID, a.Email, a.EmailKey, a.Username, a.UsernameKey, a.PasswordHash,
					a.Permissions, a.Confirmed, a.Banned, a.CreatedAt, a.UpdatedAt, a.LastLoginAt)
			}
			if _, err := tx.exec(ctx, q.String(), args...); err != nil {
				return err
			}
		}
		for i := range events {
			if err := tx.insertEvent(ctx, &events[i]); err != nil {
				return err
			}
		}
		return nil
	})
}
