package authgin

import (
	"cmp"
	"context"
	"errors"
	"time"

	"golang.org/x/text/unicode/norm"
)

// SetPasswordInput is the body of POST /password (first password) and
// POST /password/{token} (reset).
type SetPasswordInput struct {
	Password1 string `json:"password1"`
	Password2 string `json:"password2"`
}

// ChangePasswordInput is the body of PUT /password.
type ChangePasswordInput struct {
	OldPassword string `json:"old_password"`
	Password1   string `json:"password1"`
	Password2   string `json:"password2"`
}

// ForgotPassword mails a password reset link to the account with email, if
// there is one. The answer is the same either way: throttling counts per
// address whether or not it is registered. A mail that cannot be sent is
// ErrMailUnavailable and gives the throttling slots back.
func (s *Service) ForgotPassword(ctx context.Context, email string, cl Client) error {
	start := time.Now() // wall time: the latency a client observes
	_, key, err := canonicalEmail(email)
	if err != nil {
		return err
	}
	ipKey := "reset:ip:" + cl.IP
	// Hashed: the bucket column is short, and counters need not hold
	// addresses.
	addrKey := "reset:email:" + hashOpaque(key)
	if err := s.throttle(ctx, ipKey, s.o.Limits.ResetMailIP); err != nil {
		return err
	}
	if err := s.throttle(ctx, addrKey, s.o.Limits.ResetMailUser); err != nil {
		return err
	}
	acct, err := s.st.accountByEmail(ctx, key)
	if err != nil {
		return err
	}
	if acct == nil || acct.Banned {
		s.log.InfoContext(ctx, "authgin: password reset requested for no active account", "ip", cl.IP)
		// As slow as a sent mail, so that timing does not tell either.
		s.resetEcho.pad(ctx, start)
		return nil
	}

	now := s.now()
	token, hash, err := newOpaqueToken()
	if err != nil {
		return err
	}
	reset := &passwordReset{UserID: acct.ID, TokenHash: hash, CreatedAt: now, ExpiresAt: now.Add(s.o.ResetTTL)}
	err = s.st.insertReset(ctx, reset)
	if err == nil {
		var m Message
		if m, err = s.mails.reset(acct.Email, acct.Username, s.o.link(linkReset, token)); err == nil {
			err = s.outbox.send(ctx, m)
		}
		if err != nil {
			s.retireResetToken(ctx, reset.ID, now)
		}
	}
	if err != nil {
		s.undoHits(ctx, addrKey, ipKey)
		return err
	}
	s.log.InfoContext(ctx, "authgin: password reset mail sent", "user_id", acct.ID, "ip", cl.IP)
	s.resetEcho.observe(time.Since(start))
	return nil
}

// retireResetToken marks a reset token whose mail never went out as used.
// It runs even when the request's context has ended (the store bounds it
// by DBTimeout).
func (s *Service) retireResetToken(ctx context.Context, id int64, now time.Time) {
	if _, err := s.st.useReset(context.WithoutCancel(ctx), id, now); err != nil {
		s.log.ErrorContext(ctx, "authgin: retiring an undelivered reset token failed", "err", err)
	}
}

// undoHits gives throttling slots back, even when the request's context
// has ended (the throttler bounds each call by DBTimeout).
func (s *Service) undoHits(ctx context.Context, keys ...string) {
	for _, k := range keys {
		if err := s.limits.undo(context.WithoutCancel(ctx), k); err != nil {
			s.log.ErrorContext(ctx, "authgin: throttle undo failed", "err", err)
		}
	}
}

// ResetPassword sets a new password with a token from a reset mail. The
// token is single use; on success every outstanding reset token of the
// user dies and every session of the user is revoked. Unknown, used and
// expired tokens are ErrInvalidResetToken; they count toward the client's
// TokenGuessIP limit.
func (s *Service) ResetPassword(ctx context.Context, token string, in SetPasswordInput, cl Client) error {
	return s.guardTokenGuess(ctx, cl, ErrInvalidResetToken, func() error { return s.resetPassword(ctx, token, in, cl) })
}

func (s *Service) resetPassword(ctx context.Context, token string, in SetPasswordInput, cl Client) error {
	if token == "" || len(token) > maxOpaqueLen {
		return ErrInvalidResetToken
	}
	now := s.now()
	pr, err := s.st.resetByHash(ctx, hashOpaque(token))
	if err != nil {
		return err
	}
	if pr == nil || pr.UsedAt != nil || !now.Before(pr.ExpiresAt) {
		return ErrInvalidResetToken
	}
	acct, err := s.st.accountByID(ctx, pr.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return ErrInvalidResetToken
	}
	if err != nil {
		return err
	}
	// A rejected password leaves the token usable for another try.
	password, err := s.checkNewPassword(acct, in.Password1, in.Password2)
	if err != nil {
		return err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return err
	}
	var revoked int64
	err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		// Compare-and-set: of concurrent resets with one token only one wins.
		if won, err := tx.useReset(ctx, pr.ID, now); err != nil || !won {
			return cmp.Or(err, error(ErrInvalidResetToken))
		}
		if err := tx.retireResets(ctx, acct.ID, now); err != nil {
			return err
		}
		if err := tx.setPassword(ctx, acct.ID, hash, now); err != nil {
			return err
		}
		if err := s.dropUnverifiedLinks(ctx, tx, acct); err != nil {
			return err
		}
		var err error
		revoked, err = tx.revokeSessions(ctx, acct.ID, "", now)
		return err
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "authgin: password reset", "user_id", acct.ID, "ip", cl.IP, "sessions_revoked", revoked)
	s.sessionsRevoked(acct.ID, "", now)
	s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventPasswordReset}, cl)
	runHook(ctx, s.log, "OnPasswordReset", s.o.Hooks.OnPasswordReset, s.userEvent(acct, "", cl))
	s.notifyPasswordChanged(acct)
	return nil
}

// PasswordIsSet reports whether the user has a password; accounts imported
// without one, or created through a social login, have none.
func (s *Service) PasswordIsSet(ctx context.Context, userID int64) (bool, error) {
	acct, err := s.st.accountByID(ctx, userID)
	if err != nil {
		return false, err
	}
	return acct.PasswordHash != "", nil
}

// SetPassword gives a user without a password its first one;
// ErrPasswordExists when it has one. The user's session (u.SessionID)
// must have logged in within the last 10 minutes, else
// ErrReauthRequired: a first password is a new way in, which a stolen
// older session must not add.
func (s *Service) SetPassword(ctx context.Context, u User, in SetPasswordInput, cl Client) error {
	acct, err := s.st.accountByID(ctx, u.ID)
	if err != nil {
		return err
	}
	if acct.PasswordHash != "" {
		return ErrPasswordExists
	}
	// A first password is a new way in: not for a stolen older session.
	if err := s.requireRecentLogin(ctx, u); err != nil {
		return err
	}
	password, err := s.checkNewPassword(acct, in.Password1, in.Password2)
	if err != nil {
		return err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return err
	}
	now := s.now()
	// Compare-and-set: a concurrent first password wins only once.
	set, err := s.st.replacePassword(ctx, acct.ID, "", hash, now)
	if err != nil {
		return err
	}
	if !set {
		return ErrPasswordExists
	}
	s.log.InfoContext(ctx, "authgin: password set", "user_id", acct.ID, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventPasswordChange, SessionID: u.SessionID}, cl)
	runHook(ctx, s.log, "OnPasswordChange", s.o.Hooks.OnPasswordChange, s.userEvent(acct, u.SessionID, cl))
	s.notifyPasswordChanged(acct)
	return nil
}

// ChangePassword replaces the user's password after checking the old one.
// A wrong old password is ErrWrongPassword and counts as a failed login
// from the client's IP, so this route is no way around the login throttle,
// and as a failure of the account's, whatever the IP, with LoginAccount's
// numbers (5 free, then the login backoff's delays): whoever holds a
// stolen access token cannot guess the old password from many addresses.
// The owner can still set a new password through a reset mail. On success
// every other session of the user is revoked; u's stays.
func (s *Service) ChangePassword(ctx context.Context, u User, in ChangePasswordInput, cl Client) error {
	acct, err := s.st.accountByID(ctx, u.ID)
	if err != nil {
		return err
	}
	// Cheap checks before the costly hash.
	password, err := s.checkNewPassword(acct, in.Password1, in.Password2)
	if err != nil {
		return err
	}
	if err := s.checkCurrentPassword(ctx, acct, in.OldPassword, cl); err != nil {
		return err
	}
	if password == norm.NFC.String(in.OldPassword) {
		return ErrSamePassword
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return err
	}
	now := s.now()
	var revoked int64
	err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		// Compare-and-set against the hash the old password matched, so two
		// concurrent changes cannot both succeed.
		if set, err := tx.replacePassword(ctx, acct.ID, acct.PasswordHash, hash, now); err != nil || !set {
			return cmp.Or(err, error(ErrWrongPassword))
		}
		if err := tx.retireResets(ctx, acct.ID, now); err != nil {
			return err
		}
		var err error
		revoked, err = tx.revokeSessions(ctx, acct.ID, u.SessionID, now)
		return err
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "authgin: password changed", "user_id", acct.ID, "ip", cl.IP, "sessions_revoked", revoked)
	s.sessionsRevoked(acct.ID, u.SessionID, now)
	s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventPasswordChange, SessionID: u.SessionID}, cl)
	runHook(ctx, s.log, "OnPasswordChange", s.o.Hooks.OnPasswordChange, s.userEvent(acct, u.SessionID, cl))
	s.notifyPasswordChanged(acct)
	return nil
}

// checkNewPassword applies the password rules to a new password and its
// confirmation, and returns the normalised password.
func (s *Service) checkNewPassword(acct *Account, password1, password2 string) (string, error) {
	password, err := checkPassword(password1, PasswordInfo{Username: acct.Username, Email: acct.Email}, s.passwords)
	if err != nil {
		return "", err
	}
	if password1 != password2 {
		return "", ErrPasswordsMismatch
	}
	return password, nil
}

// notifyPasswordChanged queues the "your password was changed" mail.
func (s *Service) notifyPasswordChanged(acct *Account) {
	email, username := acct.Email, acct.Username
	s.outbox.enqueueLater(queuedMail{to: email, what: "password changed", compose: func() (Message, error) {
		return s.mails.passwordChanged(email, username)
	}})
}

// HashPassword returns password hashed as the service stores it (an
// argon2id PHC string at Options.Argon2), for seeding or importing accounts
// outside the routes. password must pass the rules of a new password; info
// gives the policy the account's username and email. Like a login, it waits
// for a hashing slot, at most Options.HashQueueTimeout.
func (s *Service) HashPassword(ctx context.Context, password string, info PasswordInfo) (string, error) {
	p, err := checkPassword(password, info, s.passwords)
	if err != nil {
		return "", err
	}
	return s.hasher.hash(ctx, p)
}
