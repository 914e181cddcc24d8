package authgin

// The sessions and refresh_tokens tables: a session is one login, the
// family of refresh tokens that rotation issues (see service_sessions.go).

import (
	"context"
	"database/sql"
	"time"
)

// insertSession stores a new session with its first refresh token (hash).
func (s *store) insertSession(ctx context.Context, sess *session, refreshHash string) error {
	if _, err := s.exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent, amr)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sess.ID, sess.UserID, sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt, sess.IP, sess.UserAgent, sess.AMR); err != nil {
		return err
	}
	return s.insertRefreshToken(ctx, refreshHash, sess.ID, sess.UserID, sess.CreatedAt)
}

func (s *store) insertRefreshToken(ctx context.Context, hash, sid string, userID int64, now time.Time) error {
	_, err := s.exec(ctx, "INSERT INTO refresh_tokens (token_hash, session_id, user_id, created_at) VALUES (?, ?, ?, ?)",
		hash, sid, userID, now)
	return err
}

// rotation is the outcome of rotateRefresh.
type rotation int

const (
	rotated      rotation = iota
	sessionEnded          // the session was revoked meanwhile
	tokenTaken            // a parallel rotation consumed the token first
)

// rotateRefresh consumes the refresh token with hash and stores its
// successor, in one transaction that first touches the session: that
// checks the session is still live and serialises every rotation and
// revocation of its family. The consumption is a compare-and-set, so of
// concurrent rotations of one token exactly one wins; nothing changes
// unless it does.
func (s *store) rotateRefresh(ctx context.Context, sess *session, hash, successorHash string, now time.Time) (rotation, error) {
	result := rotated
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		live, err := tx.touchSession(ctx, sess.ID, now)
		if err != nil {
			return err
		}
		if !live {
			result = sessionEnded
			return errRollback
		}
		n, err := tx.exec(ctx, "UPDATE refresh_tokens SET consumed_at = ? WHERE token_hash = ? AND consumed_at IS NULL", now, hash)
		if err != nil {
			return err
		}
		if n != 1 {
			result = tokenTaken
			return errRollback // and the touch with it
		}
		return tx.insertRefreshToken(ctx, successorHash, sess.ID, sess.UserID, now)
	})
	if result != rotated {
		return result, nil
	}
	return rotated, err
}

// touchSession records use of session sid and reports whether it is still
// live (not revoked). Inside a transaction it also locks the session row.
func (s *store) touchSession(ctx context.Context, sid string, now time.Time) (bool, error) {
	n, err := s.exec(ctx, "UPDATE sessions SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL", now, sid)
	if err != nil || n == 1 || !s.d.changedRows {
		return n == 1, err
	}
	// MySQL counts a row whose last use was already now as unchanged.
	var one int
	return s.scanRow(ctx, "SELECT 1 FROM sessions WHERE id = ? AND revoked_at IS NULL"+s.d.lockRows, []any{sid}, &one)
}

// sessionByRefresh loads the refresh token with hash and its session; nil
// when either does not exist.
func (s *store) sessionByRefresh(ctx context.Context, hash string) (*refreshToken, *session, error) {
	rt, sess := &refreshToken{}, &session{}
	found, err := s.scanRow(ctx, `SELECT r.token_hash, r.session_id, r.user_id, r.created_at, r.consumed_at,
  s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ip, s.user_agent, s.revoked_at, s.amr
FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = ?`, []any{hash},
		rt.scanDest(sess)...)
	if err != nil || !found {
		return nil, nil, err
	}
	return rt, sess, nil
}

// scanDest is where a row of a refresh token and its session scans to.
func (rt *refreshToken) scanDest(sess *session) []any {
	return []any{&rt.TokenHash, &rt.SessionID, &rt.UserID, &rt.CreatedAt, &rt.ConsumedAt,
		&sess.ID, &sess.UserID, &sess.CreatedAt, &sess.LastUsedAt, &sess.ExpiresAt, &sess.IP, &sess.UserAgent, &sess.RevokedAt, &sess.AMR}
}

// refreshState loads everything a refresh checks in one round trip: the
// refresh token with hash, its session, the session's user and the
// blackout cutoff (zero when none). rt is nil when the token, its session
// or its user does not exist.
func (s *store) refreshState(ctx context.Context, hash string) (rt *refreshToken, sess *session, acct *Account, cutoff int64, err error) {
	rt, sess, acct = &refreshToken{}, &session{}, &Account{}
	var cut sql.NullInt64
	// The u. columns are accountColumns, for acct.scanDest.
	found, err := s.scanRow(ctx, `SELECT r.token_hash, r.session_id, r.user_id, r.created_at, r.consumed_at,
  s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ip, s.user_agent, s.revoked_at, s.amr,
  u.id, u.email, u.email_key, u.username, u.username_key, u.username_skeleton, u.password_hash, u.permissions, u.confirmed, u.banned,
  u.created_at, u.updated_at, u.last_login_at,
  (SELECT b.cutoff_ms FROM blackouts b WHERE b.id = ?)
FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
WHERE r.token_hash = ?`, []any{blackoutID, hash},
		append(append(rt.scanDest(sess), acct.scanDest()...), &cut)...)
	if err != nil || !found {
		return nil, nil, nil, 0, err
	}
	return rt, sess, acct, cut.Int64, nil
}

// sessionState is what strict mode checks on every request.
type sessionState struct {
	session  session // user, expiry, last use and revocation only
	Banned   bool
	CutoffMS sql.NullInt64
}

// sessionState reads a session, its user's ban flag and the blackout in
// one round trip: two primary-key lookups and a one-row subquery. Nil
// when the session or its user does not exist.
func (s *store) sessionState(ctx context.Context, sid string) (*sessionState, error) {
	var st sessionState
	found, err := s.scanRow(ctx, `SELECT s.user_id, s.expires_at, s.last_used_at, s.revoked_at, u.banned,
  (SELECT b.cutoff_ms FROM blackouts b WHERE b.id = ?)
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = ?`, []any{blackoutID, sid},
		&st.session.UserID, &st.session.ExpiresAt, &st.session.LastUsedAt, &st.session.RevokedAt, &st.Banned, &st.CutoffMS)
	if err != nil || !found {
		return nil, err
	}
	return &st, nil
}

// liveSessions loads up to limit sessions of a user that are neither
// revoked, nor expired at now, nor idle since idleSince; most recently
// used first.
func (s *store) liveSessions(ctx context.Context, userID int64, now, idleSince time.Time, limit int) ([]session, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	var rows []session
	err := db.Where("user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?", userID, now, idleSince).
		Order("last_used_at DESC").Order("id").Limit(limit).Find(&rows).Error
	return rows, dbError(err)
}

// revokeSession revokes one session and consumes its live refresh tokens,
// so that no live token remains in the family; it returns 1 when it ended
// a live session. owner, when not zero, must own the session.
func (s *store) revokeSession(ctx context.Context, sid string, owner int64, now time.Time) (int64, error) {
	cond, args := "id = ? AND revoked_at IS NULL", []any{now, sid}
	if owner != 0 {
		cond, args = cond+" AND user_id = ?", append(args, owner)
	}
	var n int64
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		var err error
		if n, err = tx.exec(ctx, "UPDATE sessions SET revoked_at = ? WHERE "+cond, args...); err != nil || n == 0 {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE refresh_tokens SET consumed_at = ? WHERE session_id = ? AND consumed_at IS NULL", now, sid)
		return err
	})
	return n, err
}

// revokeSessions revokes every live session of a user except keep (empty:
// none kept) and consumes their refresh tokens, so that no live token
// remains in those families; it returns the number of sessions ended. It
// also records the revocation (recordRevocation), which voids the user's
// access tokens issued before now in the cached revocation mode.
func (s *store) revokeSessions(ctx context.Context, userID int64, keep string, now time.Time) (int64, error) {
	sessionCond, familyCond, args := "user_id = ? AND revoked_at IS NULL", "user_id = ? AND consumed_at IS NULL", []any{now, userID}
	if keep != "" {
		sessionCond, familyCond, args = sessionCond+" AND id <> ?", familyCond+" AND session_id <> ?", append(args, keep)
	}
	var n int64
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		var err error
		if n, err = tx.exec(ctx, "UPDATE sessions SET revoked_at = ? WHERE "+sessionCond, args...); err != nil {
			return err
		}
		if _, err = tx.exec(ctx, "UPDATE refresh_tokens SET consumed_at = ? WHERE "+familyCond, args...); err != nil {
			return err
		}
		return tx.recordRevocation(ctx, userID, keep, now.UnixMilli())
	})
	return n, err
}
