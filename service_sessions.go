package authgin

import (
	"context"
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
	r, err := s.readRefresh(ctx, hashOpaque(refresh))
	if err != nil {
		return Tokens{}, err
	}
	return s.refresh(ctx, r, cl)
}

// refreshRead is what a refresh reads before it decides: the token (by
// hash), its session and user, and the blackout cutoff. rt is nil when the
// token, its session or its user does not exist.
type refreshRead struct {
	hash   string
	rt     *refreshToken
	sess   *session
	acct   *Account
	cutoff int64
}

func (s *Service) readRefresh(ctx context.Context, hash string) (refreshRead, error) {
	rt, sess, acct, cutoff, err := s.st.refreshState(ctx, hash)
	return refreshRead{hash: hash, rt: rt, sess: sess, acct: acct, cutoff: cutoff}, err
}

// refresh decides on what readRefresh read, and rotates. Anything may have
// changed since the read: rotation's compare-and-set finds out.
func (s *Service) refresh(ctx context.Context, r refreshRead, cl Client) (Tokens, error) {
	hash, rt, sess, acct := r.hash, r.rt, r.sess, r.acct
	now := s.now()
	if rt == nil || !s.sessionLive(sess, now) || beforeBlackout(sess.CreatedAt, r.cutoff) || acct.Banned {
		return Tokens{}, ErrInvalidToken
	}
	if rt.ConsumedAt != nil {
		return s.refreshConsumed(ctx, rt, sess, acct, cl, now)
	}
	if err := s.throttleRefresh(ctx, sess); err != nil {
		return Tokens{}, err
	}
	if s.o.DisableRotation {
		if err := s.touchSession(ctx, sess.ID, now); err != nil {
			return Tokens{}, err
		}
		return s.issueAccess(acct, sess.ID, sess.amr(), now)
	}

	successor, successorHash, err := newOpaqueToken()
	if err != nil {
		return Tokens{}, err
	}
	outcome, err := s.st.rotateRefresh(ctx, sess, hash, successorHash, now)
	if err != nil {
		return Tokens{}, err
	}
	switch outcome {
	case sessionEnded:
		return Tokens{}, ErrInvalidToken
	case tokenTaken:
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
	toks, err := s.issueAccess(acct, sess.ID, sess.amr(), now)
	if err != nil {
		return Tokens{}, err
	}
	toks.Refresh, toks.RefreshExpires = successor, sess.ExpiresAt
	return toks, nil
}

// refreshConsumed answers a token that rotation already replaced: within
// the grace window with an access token only, after it by revoking the
// session as stolen.
func (s *Service) refreshConsumed(ctx context.Context, rt *refreshToken, sess *session, acct *Account, cl Client, now time.Time) (Tokens, error) {
	// A consumption time in the future (clocks of instances disagree) counts
	// as within the window.
	if now.Sub(*rt.ConsumedAt) <= s.o.RotationGrace {
		if err := s.throttleRefresh(ctx, sess); err != nil {
			return Tokens{}, err
		}
		if err := s.touchSession(ctx, sess.ID, now); err != nil {
			return Tokens{}, err
		}
		return s.issueAccess(acct, sess.ID, sess.amr(), now)
	}
	revoked, err := s.st.revokeSession(ctx, sess.ID, 0, now)
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
// revoked meanwhile.
func (s *Service) touchSession(ctx context.Context, sid string, now time.Time) error {
	live, err := s.st.touchSession(ctx, sid, now)
	if err != nil {
		return err
	}
	if !live {
		return ErrInvalidToken
	}
	return nil
}

// sessionLive reports whether a session is neither revoked nor past its
// absolute or idle expiry.
func (s *Service) sessionLive(sess *session, now time.Time) bool {
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
	// AMR is how the session was authenticated: "pwd", "otp", "hwk".
	AMR []string `json:"amr"`
}

// Sessions lists the live sessions of a user, most recently used first.
// current is the session id of the caller's token.
func (s *Service) Sessions(ctx context.Context, userID int64, current string) ([]SessionInfo, error) {
	now := s.now()
	rows, err := s.st.liveSessions(ctx, userID, now, now.Add(-s.o.RefreshIdleTTL), maxListedSessions)
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, SessionInfo{
			ID: r.ID, CreatedAt: r.CreatedAt.UTC(), LastUsedAt: r.LastUsedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
			IP: r.IP, UserAgent: r.UserAgent, Current: r.ID == current, AMR: r.amr(),
		})
	}
	return out, nil
}

// maxListedSessions bounds GET /sessions; sessions end after the idle
// timeout, so only a bot logs in this often.
const maxListedSessions = 200

// RevokeSession ends one session of user. A session of another user, an
// unknown or an already ended one is ErrSessionNotFound.
func (s *Service) RevokeSession(ctx context.Context, user User, sid string, cl Client) error {
	if sid == "" || len(sid) > maxOpaqueLen {
		return ErrSessionNotFound
	}
	now := s.now()
	n, err := s.st.revokeSession(ctx, sid, user.ID, now)
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
	n, err := s.st.revokeSessions(ctx, user.ID, "", now)
	if err != nil {
		return 0, err
	}
	s.sessionsRevoked(user.ID, "", now)
	s.log.InfoContext(ctx, "authgin: logout everywhere", "user_id", user.ID, "sessions", n, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: user.ID, Event: EventLogoutAll, SessionID: user.SessionID}, cl)
	return n, nil
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
	if st == nil || st.session.UserID != c.ID || st.Banned || !s.sessionLive(&st.session, now) {
		return ErrUnauthorized
	}
	if st.CutoffMS.Valid && issuedBeforeBlackout(c.IssuedAt, st.CutoffMS.Int64) {
		return ErrUnauthorized
	}
	s.strict.put(c.SessionID, c.ID, now)
	return nil
}
