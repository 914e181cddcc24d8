package authgin

// The second-factor tables: mfa_totp (a sealed TOTP secret per user),
// mfa_recovery_codes (keyed hashes) and mfa_challenges (logins waiting for
// their second factor). See service_mfa.go.

import (
	"context"
	"database/sql"
	"time"
)

// totpOf loads user id's TOTP row, enabled or pending; nil when none.
func (s *store) totpOf(ctx context.Context, id int64) (*totpFactor, error) {
	f := &totpFactor{}
	var enabledAt sql.NullTime
	found, err := s.scanRow(ctx, `SELECT user_id, secret, enabled, last_step, created_at, enabled_at
FROM mfa_totp WHERE user_id = ?`, []any{id}, &f.UserID, &f.Secret, &f.Enabled, &f.LastStep, &f.CreatedAt, &enabledAt)
	if err != nil || !found {
		return nil, err
	}
	if enabledAt.Valid {
		f.EnabledAt = &enabledAt.Time
	}
	return f, nil
}

// putPendingTOTP replaces user id's pending TOTP setup with secret. An
// enabled factor is kept and reported as errDuplicate.
func (s *store) putPendingTOTP(ctx context.Context, id int64, secret string, now time.Time) error {
	return s.atomic(ctx, func(ctx context.Context, tx *store) error {
		if _, err := tx.exec(ctx, "DELETE FROM mfa_totp WHERE user_id = ? AND enabled = ?", id, false); err != nil {
			return err
		}
		_, err := tx.exec(ctx, "INSERT INTO mfa_totp (user_id, secret, enabled, last_step, created_at) VALUES (?, ?, ?, ?, ?)",
			id, secret, false, 0, now)
		return err
	})
}

// enableTOTP turns user id's pending setup on, recording step as used,
// and replaces the user's recovery codes with hashes. It reports false
// when there was no pending setup (none, or enabled meanwhile).
func (s *store) enableTOTP(ctx context.Context, id, step int64, hashes []string, now time.Time) (bool, error) {
	ok := false
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		ok = false // when run again (store.atomic)
		n, err := tx.exec(ctx, "UPDATE mfa_totp SET enabled = ?, enabled_at = ?, last_step = ? WHERE user_id = ? AND enabled = ?",
			true, now, step, id, false)
		if err != nil || n != 1 {
			return err
		}
		if err := tx.replaceRecoveryCodes(ctx, id, hashes); err != nil {
			return err
		}
		ok = true
		return nil
	})
	return ok, err
}

// replaceRecoveryCodes deletes user id's recovery codes and stores hashes.
func (s *store) replaceRecoveryCodes(ctx context.Context, id int64, hashes []string) error {
	if _, err := s.exec(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = ?", id); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := s.exec(ctx, "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)", id, h); err != nil {
			return err
		}
	}
	return nil
}

// useTOTPStep records step as user id's last accepted TOTP step, if it is
// later than the last one: a compare-and-set, so that of two requests
// with one code exactly one wins. It reports whether it did.
func (s *store) useTOTPStep(ctx context.Context, id, step int64) (bool, error) {
	n, err := s.exec(ctx, "UPDATE mfa_totp SET last_step = ? WHERE user_id = ? AND enabled = ? AND last_step < ?",
		step, id, true, step)
	return n == 1, err
}

// useRecoveryCode marks user id's unused recovery code with hash used; it
// reports whether there was one.
func (s *store) useRecoveryCode(ctx context.Context, id int64, hash string, now time.Time) (bool, error) {
	n, err := s.exec(ctx, "UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
		now, id, hash)
	return n == 1, err
}

// recoveryCodesLeft counts user id's unused recovery codes.
func (s *store) recoveryCodesLeft(ctx context.Context, id int64) (int64, error) {
	var n int64
	_, err := s.scanRow(ctx, "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL", []any{id}, &n)
	return n, err
}

// secondFactors reports whether user id has an enabled TOTP factor and
// whether it has a passkey, in one round trip (every login asks).
func (s *store) secondFactors(ctx context.Context, id int64) (totp, passkeys bool, err error) {
	_, err = s.scanRow(ctx, `SELECT
  EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ? AND enabled = ?),
  EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = ?)`, []any{id, true, id}, &totp, &passkeys)
	return totp, passkeys, err
}

// deleteFactors removes user id's TOTP factor, its recovery codes and its
// pending logins, and with passkeys its passkeys too; it reports whether
// a TOTP factor was enabled.
func (s *store) deleteFactors(ctx context.Context, id int64, passkeys bool) (bool, error) {
	var had bool
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		n, err := tx.exec(ctx, "DELETE FROM mfa_totp WHERE user_id = ? AND enabled = ?", id, true)
		if err != nil {
			return err
		}
		had = n > 0
		for _, q := range []string{
			"DELETE FROM mfa_totp WHERE user_id = ?",
			"DELETE FROM mfa_recovery_codes WHERE user_id = ?",
			"DELETE FROM mfa_challenges WHERE user_id = ?",
		} {
			if _, err := tx.exec(ctx, q, id); err != nil {
				return err
			}
		}
		if passkeys {
			_, err = tx.exec(ctx, "DELETE FROM webauthn_credentials WHERE user_id = ?", id)
		}
		return err
	})
	return had, err
}

// insertChallenge stores a login waiting for its second factor.
func (s *store) insertChallenge(ctx context.Context, c *mfaChallenge) error {
	_, err := s.exec(ctx, "INSERT INTO mfa_challenges (token_hash, user_id, created_at, expires_at, first_factor) VALUES (?, ?, ?, ?, ?)",
		c.TokenHash, c.UserID, c.CreatedAt, c.ExpiresAt, c.FirstFactor)
	return err
}

// liveChallenge returns the user of the unused challenge with hash that
// has not expired at now, and the amr of its first step; 0 when there is
// none.
func (s *store) liveChallenge(ctx context.Context, hash string, now time.Time) (userID int64, firstFactor string, err error) {
	_, err = s.scanRow(ctx, "SELECT user_id, first_factor FROM mfa_challenges WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
		[]any{hash, now}, &userID, &firstFactor)
	return userID, firstFactor, err
}

// useChallenge consumes the live challenge with hash (compare-and-set);
// it reports whether this call did.
func (s *store) useChallenge(ctx context.Context, hash string, now time.Time) (bool, error) {
	n, err := s.exec(ctx, "UPDATE mfa_challenges SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
		now, hash, now)
	return n == 1, err
}

// pruneChallenges deletes challenges that expired before cutoff.
func (s *store) pruneChallenges(ctx context.Context, cutoff time.Time) (int64, error) {
	return s.exec(ctx, "DELETE FROM mfa_challenges WHERE expires_at < ?", cutoff)
}

// sessionLoginTime returns when live session sid of user id logged in;
// found is false for an unknown, ended or another user's session.
func (s *store) sessionLoginTime(ctx context.Context, sid string, id int64) (t time.Time, found bool, err error) {
	found, err = s.scanRow(ctx, "SELECT created_at FROM sessions WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
		[]any{sid, id}, &t)
	return t, found, err
}
