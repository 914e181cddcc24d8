package authgin

// The one-time token tables: email_confirmations and password_resets. Both
// store only the SHA-256 of a token; a token is used once (used_at set by
// compare-and-set) and expires.

import (
	"context"
	"time"
)

// insertConfirmation stores a confirmation token (hash) for the user's
// address emailKey.
func (s *store) insertConfirmation(ctx context.Context, userID int64, emailKey, hash string, now, expires time.Time) error {
	_, err := s.exec(ctx, "INSERT INTO email_confirmations (user_id, email, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		userID, emailKey, hash, now, expires)
	return err
}

// insertEmailChange stores an email change token (hash) that sets the
// user's address to newEmail, whose key is newKey.
func (s *store) insertEmailChange(ctx context.Context, userID int64, newKey, newEmail, hash string, now, expires time.Time) error {
	_, err := s.exec(ctx, "INSERT INTO email_confirmations (user_id, email, new_email, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		userID, newKey, newEmail, hash, now, expires)
	return err
}

// retireConfirmations ends every outstanding confirmation token of a user.
func (s *store) retireConfirmations(ctx context.Context, userID int64, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE email_confirmations SET used_at = ? WHERE user_id = ? AND used_at IS NULL", now, userID)
	return err
}

// confirmationByHash loads the confirmation token with hash; nil if none.
func (s *store) confirmationByHash(ctx context.Context, hash string) (*emailConfirmation, error) {
	var ec emailConfirmation
	found, err := s.scanRow(ctx, "SELECT id, user_id, email, new_email, token_hash, created_at, expires_at, used_at FROM email_confirmations WHERE token_hash = ?",
		[]any{hash}, &ec.ID, &ec.UserID, &ec.Email, &ec.NewEmail, &ec.TokenHash, &ec.CreatedAt, &ec.ExpiresAt, &ec.UsedAt)
	if err != nil || !found {
		return nil, err
	}
	return &ec, nil
}

// useConfirmation marks confirmation id used unless it already is, and
// reports whether it did: of concurrent uses exactly one wins.
func (s *store) useConfirmation(ctx context.Context, id int64, now time.Time) (bool, error) {
	n, err := s.exec(ctx, "UPDATE email_confirmations SET used_at = ? WHERE id = ? AND used_at IS NULL", now, id)
	return n == 1, err
}

// insertReset stores a password reset token and sets its ID.
func (s *store) insertReset(ctx context.Context, r *passwordReset) error {
	id, err := s.insertID(ctx, "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
		r.UserID, r.TokenHash, r.CreatedAt, r.ExpiresAt)
	if err != nil {
		return err
	}
	r.ID = id
	return nil
}

// resetByHash loads the reset token with hash; nil if none.
func (s *store) resetByHash(ctx context.Context, hash string) (*passwordReset, error) {
	var r passwordReset
	found, err := s.scanRow(ctx, "SELECT id, user_id, token_hash, created_at, expires_at, used_at FROM password_resets WHERE token_hash = ?",
		[]any{hash}, &r.ID, &r.UserID, &r.TokenHash, &r.CreatedAt, &r.ExpiresAt, &r.UsedAt)
	if err != nil || !found {
		return nil, err
	}
	return &r, nil
}

// useReset marks reset token id used unless it already is, and reports
// whether it did: of concurrent uses exactly one wins.
func (s *store) useReset(ctx context.Context, id int64, now time.Time) (bool, error) {
	n, err := s.exec(ctx, "UPDATE password_resets SET used_at = ? WHERE id = ? AND used_at IS NULL", now, id)
	return n == 1, err
}

// retireResets ends every outstanding reset token of a user.
func (s *store) retireResets(ctx context.Context, userID int64, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL", now, userID)
	return err
}
