package authgin

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Account self-service: changing the email address and deleting the
// account. Both ask for the current password, and a wrong one counts as a
// failed login from the client's IP, as PUT /password does, so these routes
// are no way around the login throttle for whoever holds a stolen access
// token.

// ChangeEmailInput is the body of POST /email.
type ChangeEmailInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// ChangeEmail starts moving u's account to a new address: it mails a
// confirmation link to the new address and a notice to the old one. The
// address changes, confirmed, when the link's token is used (ConfirmEmail);
// until then the account keeps the old one, and a later request replaces
// the link. ErrInvalidEmail for an unusable address, ErrWrongPassword,
// ErrEmailExists when an account (u's included) has the address; the mails
// count toward ConfirmMailUser and ConfirmMailIP.
func (s *Service) ChangeEmail(ctx context.Context, u User, in ChangeEmailInput, cl Client) error {
	email, key, err := canonicalEmail(in.Email)
	if err != nil {
		return err
	}
	acct, err := s.st.accountByID(ctx, u.ID)
	if err != nil {
		return err
	}
	// The password before anything about the address: a stolen access
	// token alone learns nothing.
	if err := s.checkCurrentPassword(ctx, acct, in.Password, cl); err != nil {
		return err
	}
	if err := s.checkFree(ctx, key, username{}); err != nil {
		return err
	}
	ipKey := "confirm:ip:" + cl.IP
	if err := s.throttle(ctx, ipKey, s.o.Limits.ConfirmMailIP); err != nil {
		return err
	}
	userKey := "confirm:user:" + strconv.FormatInt(acct.ID, 10)
	if err := s.throttle(ctx, userKey, s.o.Limits.ConfirmMailUser); err != nil {
		return err
	}
	now := s.now()
	token, hash, err := newOpaqueToken()
	if err == nil {
		err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
			if err := tx.retireConfirmations(ctx, acct.ID, now); err != nil {
				return err
			}
			return tx.insertEmailChange(ctx, acct.ID, key, email, hash, now, now.Add(s.o.ConfirmTTL))
		})
	}
	var m Message
	if err == nil {
		m, err = s.mails.emailChange(email, acct.Username, s.o.link(linkEmailChange, token))
	}
	if err == nil {
		err = s.outbox.send(ctx, m)
	}
	if err != nil {
		s.undoHits(ctx, userKey, ipKey)
		return err
	}
	old, username := acct.Email, acct.Username
	s.outbox.enqueueLater(queuedMail{to: old, what: "email change notice", compose: func() (Message, error) {
		return s.mails.emailChangeNotice(old, username, email)
	}})
	s.log.InfoContext(ctx, "authgin: email change requested", "user_id", acct.ID, "ip", cl.IP)
	return nil
}

// applyEmailChange sets acct's address to the one an email change token
// ec names, inside the confirmation's transaction, and stores the old
// address in *old.
func (s *Service) applyEmailChange(ctx context.Context, tx *store, acct *Account, ec *emailConfirmation, now time.Time, old *string) error {
	err := tx.changeEmail(ctx, acct.ID, ec.NewEmail, ec.Email, now)
	if errors.Is(err, errDuplicate) {
		return ErrEmailExists
	}
	if err != nil {
		return err
	}
	*old = acct.Email
	acct.Email, acct.EmailKey, acct.Confirmed, acct.UpdatedAt = ec.NewEmail, ec.Email, true, now
	return nil
}

// emailChanged reports a completed email change. The security event holds
// no address.
func (s *Service) emailChanged(ctx context.Context, acct *Account, oldEmail string, cl Client) {
	s.confirmed.add(acct.ID)
	s.log.InfoContext(ctx, "authgin: email changed", "user_id", acct.ID)
	s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventEmailChange}, cl)
	runHook(ctx, s.log, "OnEmailChange", s.o.Hooks.OnEmailChange, EmailChangeEvent{
		UserEvent: s.userEvent(acct, "", cl), OldEmail: oldEmail, NewEmail: acct.Email,
	})
}

// DeleteAccount deletes u's account after checking its password: every
// session ends, and the account's row, sessions, one-time tokens and
// security log are deleted, so its email and username can register again.
// What stays is one EventAccountDeleted with the account's id and the time.
// Ids are never reused, so access tokens the account still holds can
// never name another account; in the stateless mode they pass RequireUser
// until they expire, like any revoked session's (Options.Strict ends them
// at once).
func (s *Service) DeleteAccount(ctx context.Context, u User, password string, cl Client) error {
	acct, err := s.st.accountByID(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := s.checkCurrentPassword(ctx, acct, password, cl); err != nil {
		return err
	}
	ev := SecurityEvent{UserID: acct.ID, Event: EventAccountDeleted, CreatedAt: s.now()}
	err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		found, err := tx.deleteAccount(ctx, acct.ID)
		if err != nil {
			return err
		}
		if !found {
			return ErrUserNotFound
		}
		return tx.insertEvent(ctx, &ev)
	})
	if err != nil {
		return err
	}
	s.strict.clear()
	s.confirmed.forget(acct.ID)
	s.log.InfoContext(ctx, "authgin: account deleted", "user_id", acct.ID)
	runHook(ctx, s.log, "OnSecurityEvent", s.o.Hooks.OnSecurityEvent, ev)
	runHook(ctx, s.log, "OnAccountDeleted", s.o.Hooks.OnAccountDeleted, s.userEvent(acct, u.SessionID, cl))
	return nil
}

// checkCurrentPassword verifies the password a self-service route asks
// for (change password, change email, delete account, turn TOTP off, new
// recovery codes): ErrWrongPassword when it does not match. A wrong one
// counts as a failed login from the client's IP (LoginIP), and as a
// failure of the account's whatever the IP, with LoginAccount's numbers
// (5 free, then the login backoff's delays): whoever holds a stolen
// access token cannot guess the password from many addresses. A match
// gives both counts back. An account without a password verifies against
// a dummy hash and fails.
func (s *Service) checkCurrentPassword(ctx context.Context, acct *Account, password string, cl Client) error {
	if err := noNUL(password); err != nil {
		return err
	}
	loginKey := "login:ip:" + cl.IP // the login route's counter
	if err := s.throttle(ctx, loginKey, s.o.Limits.LoginIP); err != nil {
		return err
	}
	// Reserved as a failure before the hash, as a login's try is.
	acctKey := "password:account:" + strconv.FormatInt(acct.ID, 10)
	if wait, err := s.limits.attempt(ctx, acctKey, s.o.Limits.LoginAccount); err != nil {
		return err
	} else if wait > 0 {
		return ErrTooManyRequests.withRetry(wait)
	}
	match := false
	if n := utf8.RuneCountInString(password); n > 0 && n <= s.o.MaxPasswordLength {
		var err error
		if match, _, err = s.hasher.verify(ctx, acct.PasswordHash, password); err != nil {
			if !s.o.Limits.LoginAccount.off() {
				s.undoHits(ctx, acctKey) // no hashing slot: no failure
			}
			return err
		}
	}
	if !match {
		s.log.InfoContext(ctx, "authgin: wrong password on a self-service route", "user_id", acct.ID, "ip", cl.IP)
		return ErrWrongPassword
	}
	s.undoHits(ctx, loginKey) // a right password is no failed attempt
	if !s.o.Limits.LoginAccount.off() {
		if err := s.limits.reset(ctx, acctKey); err != nil {
			s.log.ErrorContext(ctx, "authgin: throttle reset failed", "err", err)
		}
	}
	return nil
}

// EmailConfirmed reports whether user id has confirmed its address
// (RequireConfirmed). Confirmation is never taken back, so a yes is
// remembered in process and later calls need no database.
func (s *Service) EmailConfirmed(ctx context.Context, id int64) (bool, error) {
	if s.confirmed.has(id) {
		return true, nil
	}
	acct, err := s.st.accountByID(ctx, id)
	if err != nil {
		return false, err
	}
	if acct.Confirmed {
		s.confirmed.add(id)
	}
	return acct.Confirmed, nil
}

// confirmedSet remembers the ids of accounts known to be confirmed, at
// most confirmedSetMax of them (then it starts over).
type confirmedSet struct {
	mu  sync.RWMutex
	ids map[int64]struct{}
}

const confirmedSetMax = 1 << 16

func (c *confirmedSet) has(id int64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.ids[id]
	return ok
}

func (c *confirmedSet) add(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil || len(c.ids) >= confirmedSetMax {
		c.ids = make(map[int64]struct{})
	}
	c.ids[id] = struct{}{}
}

func (c *confirmedSet) forget(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ids, id)
}
