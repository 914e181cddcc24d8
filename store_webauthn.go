package authgin

// The WebAuthn tables: webauthn_users (user handles),
// webauthn_credentials (passkeys) and webauthn_ceremonies (challenges
// between begin and finish). See service_webauthn.go.

import (
	"context"
	"time"
)

// webauthnHandle returns user id's user handle (hex), creating it from
// fresh when the user has none; concurrent creations keep the first.
func (s *store) webauthnHandle(ctx context.Context, id int64, fresh string) (string, error) {
	var h string
	found, err := s.scanRow(ctx, "SELECT handle FROM webauthn_users WHERE user_id = ?", []any{id}, &h)
	if err != nil || found {
		return h, err
	}
	if _, err := s.exec(ctx, "INSERT INTO webauthn_users (user_id, handle) VALUES (?, ?)", id, fresh); err != nil && err != errDuplicate {
		return "", err
	}
	_, err = s.scanRow(ctx, "SELECT handle FROM webauthn_users WHERE user_id = ?", []any{id}, &h)
	return h, err
}

// userByHandle returns the user of handle (hex); 0 when none.
func (s *store) userByHandle(ctx context.Context, handle string) (int64, error) {
	var id int64
	_, err := s.scanRow(ctx, "SELECT user_id FROM webauthn_users WHERE handle = ?", []any{handle}, &id)
	return id, err
}

// webauthnCredentials loads the passkeys of user id, oldest first.
func (s *store) webauthnCredentials(ctx context.Context, id int64) ([]webauthnCredential, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	var rows []webauthnCredential
	err := db.Where("user_id = ?", id).Order("id").Find(&rows).Error
	return rows, dbError(err)
}

// insertWebauthnCredential stores a new passkey; a credential id that is
// registered already is errDuplicate.
func (s *store) insertWebauthnCredential(ctx context.Context, c *webauthnCredential) error {
	id, err := s.insertID(ctx, `INSERT INTO webauthn_credentials (user_id, credential_id, rp_id, name, data, sign_count, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`, c.UserID, c.CredentialID, c.RPID, c.Name, c.Data, c.SignCount, c.CreatedAt)
	c.ID = id
	return err
}

// useWebauthnCredential stores a passkey's record and counter after a
// login with it: only if the stored counter is still the one the login
// checked (compare-and-set), so that of two logins that raced with one
// signature count only one counts. It reports whether it did.
func (s *store) useWebauthnCredential(ctx context.Context, id int64, oldCount, newCount int64, data string, now time.Time) (bool, error) {
	n, err := s.exec(ctx, "UPDATE webauthn_credentials SET sign_count = ?, data = ?, last_used_at = ? WHERE id = ? AND sign_count = ?",
		newCount, data, now, id, oldCount)
	return n == 1, err
}

// deleteWebauthnCredential deletes passkey cid of user id; it reports
// whether there was one.
func (s *store) deleteWebauthnCredential(ctx context.Context, userID, cid int64) (bool, error) {
	n, err := s.exec(ctx, "DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?", cid, userID)
	return n == 1, err
}

// insertCeremony stores a ceremony's session data.
func (s *store) insertCeremony(ctx context.Context, c *webauthnCeremony) error {
	_, err := s.exec(ctx, "INSERT INTO webauthn_ceremonies (token_hash, user_id, kind, data, expires_at) VALUES (?, ?, ?, ?, ?)",
		c.TokenHash, c.UserID, c.Kind, c.Data, c.ExpiresAt)
	return err
}

// takeCeremony deletes and returns the live ceremony with hash and kind;
// nil when there is none (unknown, used, expired or of another kind).
// Deleting first makes it single use even under concurrent finishes.
func (s *store) takeCeremony(ctx context.Context, hash, kind string, now time.Time) (*webauthnCeremony, error) {
	var c *webauthnCeremony
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		c = nil // when run again (store.atomic)
		row := &webauthnCeremony{}
		found, err := tx.scanRow(ctx, "SELECT token_hash, user_id, kind, data, expires_at FROM webauthn_ceremonies WHERE token_hash = ?"+tx.d.lockRows,
			[]any{hash}, &row.TokenHash, &row.UserID, &row.Kind, &row.Data, &row.ExpiresAt)
		if err != nil || !found {
			return err
		}
		n, err := tx.exec(ctx, "DELETE FROM webauthn_ceremonies WHERE token_hash = ?", hash)
		if err != nil || n != 1 {
			return err
		}
		if row.Kind == kind && row.ExpiresAt.After(now) {
			c = row
		}
		return nil
	})
	return c, err
}

// pruneCeremonies deletes ceremonies that expired before cutoff.
func (s *store) pruneCeremonies(ctx context.Context, cutoff time.Time) (int64, error) {
	return s.exec(ctx, "DELETE FROM webauthn_ceremonies WHERE expires_at < ?", cutoff)
}
