package authgin

// The user_fields table: the app's own user fields (UserFieldsOf), one row
// a user and field, the value as text. A table of rows rather than a JSON
// column on users, so that searching a field is the same indexed equality
// on every database and a field added later needs no migration.

import (
	"context"
	"strings"
)

// insertFields inserts a user's field rows (one statement).
func (s *store) insertFields(ctx context.Context, userID int64, rows []storedField) error {
	if len(rows) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString("INSERT INTO user_fields (user_id, name, value) VALUES ")
	args := make([]any, 0, 3*len(rows))
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?)")
		args = append(args, userID, r.name, r.value)
	}
	_, err := s.exec(ctx, q.String(), args...)
	return err
}

// fieldRows loads a user's field rows, in name order.
func (s *store) fieldRows(ctx context.Context, userID int64) ([]storedField, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	var rows []userField
	err := db.Select("name", "value").Where("user_id = ?", userID).Order("name").Find(&rows).Error
	out := make([]storedField, len(rows))
	for i, r := range rows {
		out[i] = storedField{r.Name, r.Value}
	}
	return out, dbError(err)
}

// profileRows loads a user's field rows in one query that also tells
// whether the account exists: ErrUserNotFound when it does not.
func (s *store) profileRows(ctx context.Context, userID int64) ([]storedField, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	rs, err := s.db.Statement.ConnPool.QueryContext(ctx, s.d.bind(
		"SELECT f.name, f.value FROM users u LEFT JOIN user_fields f ON f.user_id = u.id WHERE u.id = ? ORDER BY f.name"), userID)
	if err != nil {
		return nil, dbError(err)
	}
	defer rs.Close()
	found := false
	var out []storedField
	for rs.Next() {
		found = true
		var name, value *string
		if err := rs.Scan(&name, &value); err != nil {
			return nil, dbError(err)
		}
		if name != nil && value != nil {
			out = append(out, storedField{*name, *value})
		}
	}
	if err := rs.Err(); err != nil {
		return nil, dbError(err)
	}
	if !found {
		return nil, ErrUserNotFound
	}
	return out, nil
}

// fieldRowsOf loads the field rows of several users.
func (s *store) fieldRowsOf(ctx context.Context, userIDs []int64) (map[int64][]storedField, error) {
	out := make(map[int64][]storedField, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	db, cancel := s.gorm(ctx)
	defer cancel()
	var rows []userField
	if err := db.Select("user_id", "name", "value").Where("user_id IN ?", userIDs).Order("user_id, name").Find(&rows).Error; err != nil {
		return nil, dbError(err)
	}
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], storedField{r.Name, r.Value})
	}
	return out, nil
}

// replaceFields stores rows as a user's values of those fields, replacing
// the rows they had (two statements; run it in a transaction).
func (s *store) replaceFields(ctx context.Context, userID int64, rows []storedField) error {
	if len(rows) == 0 {
		return nil
	}
	names := make([]any, 0, len(rows)+1)
	names = append(names, userID)
	for _, r := range rows {
		names = append(names, r.name)
	}
	q := "DELETE FROM user_fields WHERE user_id = ? AND name IN (?" + strings.Repeat(", ?", len(rows)-1) + ")"
	if _, err := s.exec(ctx, q, names...); err != nil {
		return err
	}
	return s.insertFields(ctx, userID, rows)
}

// deleteFields deletes every field row of a user and reports how many
// there were. Deleting the users row deletes them too (a foreign key with
// ON DELETE CASCADE); an account that is scrubbed rather than deleted
// needs this call.
func (s *store) deleteFields(ctx context.Context, userID int64) (int64, error) {
	return s.exec(ctx, "DELETE FROM user_fields WHERE user_id = ?", userID)
}

// fieldMatch is the SQL condition on users that a field equal to a stored
// value adds to a search, and its arguments.
func fieldMatch(f storedField) (string, []any) {
	return "id IN (SELECT user_id FROM user_fields WHERE name = ? AND value = ?)", []any{f.name, f.value}
}
