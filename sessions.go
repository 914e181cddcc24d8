package authgin

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Refresh rotation.
//
// A session (one login) owns a family of refresh tokens of which at most one
// is live: the one not yet consumed. Refresh consumes the presented token
// with a compare-and-set (UPDATE ... WHERE consumed_at IS NULL: exactly one
// concurrent caller wins) and inserts its successor in the same transaction.
// The transaction first touches the session row (UPDATE ... WHERE revoked_at
// IS NULL), which both checks that the session is still live and serialises
// every rotation and revocation of one family: a revocation that commits
// first makes the rotation fail; one that commits after it also kills the
// successor.
//
// A consumed token presented again within Options.RotationGrace (parallel
// tabs, a retried request) is answered with a fresh access token only: no
// second refresh token is minted, so the family never has two live tokens,
// and the client keeps the refresh cookie the winner set. The successor is
// stored only hashed, so it cannot be handed out twice. Presented after the
// grace window, a consumed token means it was copied: the whole session is
// revoked, a security event is recorded and Hooks.OnRefreshReuse runs.

// Refresh exchanges a refresh token for a new access token carrying the
// user's current username and permissions and, unless rotation is
// disabled, a successor refresh token (Tokens.Refresh).
func (s *Service) Refresh(ctx context.Context, refresh string, cl Client) (Tokens, error) {
	if refresh == "" || len(refresh) > maxOpaqueLen {
		return Tokens{}, ErrInvalidToken
	}
	hash := hashOpaque(refresh)
	rt, sess, acct, cutoff, err := s.st.refreshState(ctx, hash)
	if err != nil {
		return Tokens{}, err
	}
	now := s.now()
	if rt == nil || !s.sessionLive(sess, now) || beforeBlackout(sess.CreatedAt, cutoff) || acct.Banned {
		return Tokens{}, ErrInvalidToken
	}
	if rt.ConsumedAt != nil {
		return s.refreshConsumed(ctx, rt, sess, acct, cl, now)
	}
	if err := s.throttleRefresh(ctx, sess); err != nil {
		return Tokens{}, err
	}
	if s.o.DisableRotation {
		if err := s.touchSession(ctx, s.st, sess.ID, now); err != nil {
			return Tokens{}, err
		}
		return s.issueAccess(acct, sess.ID, now)
	}

	successor, successorHash, err := newOpaqueToken()
	if err != nil {
		return Tokens{}, err
	}
	if s.beforeRotate != nil {
		s.beforeRotate()
	}
	lost := false
	err = s.st.tx(ctx, func(tx *store) error {
		if err := s.touchSession(ctx, tx, sess.ID, now); err != nil {
			return err
		}
		n, err := tx.exec(ctx, "UPDATE refresh_tokens SET consumed_at = ? WHERE token_hash = ? AND consumed_at IS NULL", now, hash)
		if err != nil {
			return err
		}
		if n != 1 {
			lost = true
			return ErrInvalidToken // rolls back the touch
		}
		_, err = tx.exec(ctx, "INSERT INTO refresh_tokens (token_hash, session_id, user_id, created_at) VALUES (?, ?, ?, ?)",
			successorHash, sess.ID, sess.UserID, now)
		return err
	})
	if lost {
		// A parallel refresh consumed the token between our read and our
		// write: look at it again, it is most likely within the grace window.
		s.log.DebugContext(ctx, "authgin: a parallel refresh rotated the token first", "session_id", sess.ID)
		rt, sess, err = s.st.sessionByRefresh(ctx, hash)
		if err != nil {
			return Tokens{}, err
		}
		if rt == nil || rt.ConsumedAt == nil || !s.sessionLive(sess, now) {
			return Tokens{}, ErrInvalidToken
		}
		return s.refreshConsumed(ctx, rt, sess, acct, cl, now)
	}
	if err != nil {
		return Tokens{}, err
	}
	toks, err := s.issueAccess(acct, sess.ID, now)
	if err != nil {
		return Tokens{}, err
	}
	toks.Refresh, toks.RefreshExpires = successor, sess.ExpiresAt
	return toks, nil
}

// refreshConsumed answers a token that rotation already replaced: within
// the grace window with an access token only, after it by revoking the
// session as stolen.
func (s *Service) refreshConsumed(ctx context.Context, rt *RefreshToken, sess *Session, acct *Account, cl Client, now time.Time) (Tokens, error) {
	// A consumption time in the future (clocks of instances disagree) counts
	// as within the window.
	if now.Sub(*rt.ConsumedAt) <= s.o.RotationGrace {
		if err := s.throttleRefresh(ctx, sess); err != nil {
			return Tokens{}, err
		}
		if err := s.touchSession(ctx, s.st, sess.ID, now); err != nil {
			return Tokens{}, err
		}
		return s.issueAccess(acct, sess.ID, now)
	}
	var revoked int64
	err := s.st.tx(ctx, func(tx *store) error {
		var err error
		revoked, err = tx.revokeSession(ctx, sess.ID, 0, now)
		return err
	})
	if err != nil {
		return Tokens{}, err
	}
	if revoked > 0 {
		// Only the request that revoked the family reports it, however many
		// replays race.
		s.strict.clear()
		s.log.WarnContext(ctx, "authgin: refresh token reuse detected, session revoked",
			"user_id", sess.UserID, "session_id", sess.ID, "ip", cl.IP)
		s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventRefreshReuse, SessionID: sess.ID}, cl)
		runHook(ctx, s.log, "OnRefreshReuse", s.o.Hooks.OnRefreshReuse, s.userEvent(acct, sess.ID, cl))
	}
	return Tokens{}, ErrInvalidToken
}

// touchSession records use of a live session; ErrInvalidToken when it was
// revoked meanwhile. Inside a transaction it also locks the session row.
func (s *Service) touchSession(ctx context.Context, st *store, sid string, now time.Time) error {
	n, err := st.exec(ctx, "UPDATE sessions SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL", now, sid)
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrInvalidToken
	}
	return nil
}

// sessionLive reports whether a session is neither revoked nor past its
// absolute or idle expiry.
func (s *Service) sessionLive(sess *Session, now time.Time) bool {
	return sess.RevokedAt == nil && now.Before(sess.ExpiresAt) && now.Before(sess.LastUsedAt.Add(s.o.RefreshIdleTTL))
}

// SessionInfo describes one live session of a user (GET /sessions).
type SessionInfo struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"userAgent"`
	// Current marks the session of the token that asked.
	Current bool `json:"current"`
}

// Sessions lists the live sessions of a user, most recently used first.
// current is the session id of the caller's token.
func (s *Service) Sessions(ctx context.Context, userID int64, current string) ([]SessionInfo, error) {
	now := s.now()
	rows, err := s.st.liveSessions(ctx, userID, now, now.Add(-s.o.RefreshIdleTTL))
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, SessionInfo{
			ID: r.ID, CreatedAt: r.CreatedAt.UTC(), LastUsedAt: r.LastUsedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
			IP: r.IP, UserAgent: r.UserAgent, Current: r.ID == current,
		})
	}
	return out, nil
}

// maxListedSessions bounds GET /sessions; sessions end after the idle
// timeout, so only a bot logs in this often.
const maxListedSessions = 200

// liveSessions loads the sessions of a user that are neither revoked, nor
// expired at now, nor idle since idleSince; most recently used first.
func (s *store) liveSessions(ctx context.Context, userID int64, now, idleSince time.Time) ([]Session, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	var rows []Session
	err := s.db.WithContext(ctx).
		Where("user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?", userID, now, idleSince).
		Order("last_used_at DESC").Order("id").Limit(maxListedSessions).Find(&rows).Error
	return rows, dbError(err)
}

// RevokeSession ends one session of user. A session of another user, an
// unknown or an already ended one is ErrSessionNotFound.
func (s *Service) RevokeSession(ctx context.Context, user User, sid string, cl Client) error {
	if sid == "" || len(sid) > maxOpaqueLen {
		return ErrSessionNotFound
	}
	now := s.now()
	var n int64
	err := s.st.tx(ctx, func(tx *store) error {
		var err error
		n, err = tx.revokeSession(ctx, sid, user.ID, now)
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrSessionNotFound
	}
	s.strict.forget(sid)
	s.log.InfoContext(ctx, "authgin: session revoked", "user_id", user.ID, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: user.ID, Event: EventSessionRevoked, SessionID: sid}, cl)
	runHook(ctx, s.log, "OnLogout", s.o.Hooks.OnLogout,
		UserEvent{UserID: user.ID, Username: user.Username, SessionID: sid, IP: cl.IP, UserAgent: cl.UserAgent, Time: now})
	return nil
}

// LogoutAll ends every session of the user, the caller's included, and
// returns how many were live.
func (s *Service) LogoutAll(ctx context.Context, user User, cl Client) (int64, error) {
	now := s.now()
	var n int64
	err := s.st.tx(ctx, func(tx *store) error {
		var err error
		n, err = tx.revokeSessions(ctx, user.ID, "", now)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.strict.clear()
	s.log.InfoContext(ctx, "authgin: logout everywhere", "user_id", user.ID, "sessions", n, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: user.ID, Event: EventLogoutAll, SessionID: user.SessionID}, cl)
	return n, nil
}

// revokeSession revokes one session and consumes its live refresh tokens,
// so that no live token remains in the family; it returns 1 when it ended
// a live session. owner, when not zero, must own the session.
func (s *store) revokeSession(ctx context.Context, sid string, owner int64, now time.Time) (int64, error) {
	query, args := "id = ? AND revoked_at IS NULL", []any{sid}
	if owner != 0 {
		query, args = query+" AND user_id = ?", append(args, owner)
	}
	n, err := s.update(ctx, &Session{}, map[string]any{"revoked_at": now}, query, args...)
	if err != nil || n == 0 {
		return n, err
	}
	_, err = s.update(ctx, &RefreshToken{}, map[string]any{"consumed_at": now}, "session_id = ? AND consumed_at IS NULL", sid)
	return n, err
}

// sessionState is what strict mode checks on every request.
type sessionState struct {
	Session  Session // user, expiry, last use and revocation only
	Banned   bool
	CutoffMS sql.NullInt64
}

// refreshState loads everything a refresh checks in one round trip: the
// refresh token with hash, its session, the session's user and the
// blackout cutoff (zero when none). rt is nil when the token, its session
// or its user does not exist.
func (s *store) refreshState(ctx context.Context, hash string) (rt *RefreshToken, sess *Session, acct *Account, cutoff int64, err error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	// The u. columns are accountColumns, for acct.scanDest.
	row := queryRowPlain(ctx, s.db, `SELECT r.token_hash, r.session_id, r.user_id, r.created_at, r.consumed_at,
  s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ip, s.user_agent, s.revoked_at,
  u.id, u.email, u.email_key, u.username, u.username_key, u.password_hash, u.permissions, u.confirmed, u.banned,
  u.created_at, u.updated_at, u.last_login_at,
  (SELECT b.cutoff_ms FROM blackouts b WHERE b.id = ?)
FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
WHERE r.token_hash = ?`, blackoutRow, hash)
	rt, sess, acct = &RefreshToken{}, &Session{}, &Account{}
	var cut sql.NullInt64
	dest := []any{&rt.TokenHash, &rt.SessionID, &rt.UserID, &rt.CreatedAt, &rt.ConsumedAt,
		&sess.ID, &sess.UserID, &sess.CreatedAt, &sess.LastUsedAt, &sess.ExpiresAt, &sess.IP, &sess.UserAgent, &sess.RevokedAt}
	err = row.Scan(append(append(dest, acct.scanDest()...), &cut)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil, 0, nil
	}
	if err != nil {
		return nil, nil, nil, 0, dbError(err)
	}
	return rt, sess, acct, cut.Int64, nil
}

// sessionState reads a session, its user's ban flag and the blackout in
// one round trip: two primary-key lookups and a one-row subquery. Nil
// when the session or its user does not exist. It scans into plain
// values rather than through GORM's reflection: it runs on every request
// in strict mode.
func (s *store) sessionState(ctx context.Context, sid string) (*sessionState, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	row := queryRowPlain(ctx, s.db, `SELECT s.user_id, s.expires_at, s.last_used_at, s.revoked_at, u.banned,
  (SELECT b.cutoff_ms FROM blackouts b WHERE b.id = ?)
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = ?`, blackoutRow, sid)
	var st sessionState
	err := row.Scan(&st.Session.UserID, &st.Session.ExpiresAt, &st.Session.LastUsedAt, &st.Session.RevokedAt, &st.Banned, &st.CutoffMS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbError(err)
	}
	return &st, nil
}

// verifySession is strict mode's check of an access token: its session is
// live, its user exists and is not banned, and it was issued after any
// blackout. ErrUnauthorized when not. A session the strict cache vouches
// for needs no database, nor the timeout context (four allocations) that
// sessionState's query needs.
func (s *Service) verifySession(ctx context.Context, c *AccessClaims) error {
	now := s.now()
	if s.strict.live(c.SessionID, c.ID, now) {
		return nil
	}
	st, err := s.st.sessionState(ctx, c.SessionID)
	if err != nil {
		return err
	}
	if st == nil || st.Session.UserID != c.ID || st.Banned || !s.sessionLive(&st.Session, now) {
		return ErrUnauthorized
	}
	if st.CutoffMS.Valid && issuedBeforeBlackout(c.IssuedAt, st.CutoffMS.Int64) {
		return ErrUnauthorized
	}
	s.strict.put(c.SessionID, c.ID, now)
	return nil
}
