package authgin

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Service holds the plugin's operations as plain Go calls, for handlers,
// CLIs, seeders and tests. It knows nothing of HTTP.
type Service struct {
	o       *Options
	st      *store
	tokens  *tokenIssuer
	hasher  *hasher
	loginTx *groupCommit // runs logins' transactions (in groups on SQLite)
	limits  *throttler
	outbox  *outbox
	mails   *mailComposer
	captcha *captchaVerifier
	log     *slog.Logger
	// passwords are the rules of new passwords.
	passwords passwordRules
	// reserved holds the skeletons of Options.ReservedUsernames' keys, made
	// once rather than on every registration.
	reserved map[string]struct{}
	// resetEcho evens out forgot_password's response times (timing.go).
	resetEcho latencyEcho
	// blackout is the blackout as the stateless middleware sees it; strict
	// caches strict-mode session checks (nil: no cache).
	blackout *blackoutCache
	strict   *strictCache
	// confirmed remembers confirmed accounts for RequireConfirmed.
	confirmed confirmedSet
	// revoked holds recent revocations for RevocationCached (nil in the
	// other modes).
	revoked *revocationCache
	// oauth holds the social login providers (Options.OAuth).
	oauth *oauthSet
	// mfa holds the second factors' keys; nil when they are off.
	mfa *mfaKeys
	// passkeys is the WebAuthn relying party; nil when passkeys are off.
	passkeys *passkeys
}

// Client describes where a request came from.
type Client struct {
	IP        string
	UserAgent string
}

// Tokens is what a successful register, login or refresh hands out.
type Tokens struct {
	Access        string
	AccessClaims  AccessClaims
	AccessExpires time.Time
	// Refresh is empty when the call did not issue a refresh token.
	Refresh        string
	RefreshExpires time.Time
}

// RegisterInput is the body of POST /register.
type RegisterInput struct {
	Email     string `json:"email"`
	Username  string `json:"username"`
	Password1 string `json:"password1"`
	Password2 string `json:"password2"`
	Captcha   string `json:"captcha"`
	// Profile is the new user's own fields (Options.UserFields): a P or
	// *P; nil stores P's zero value, or the fields of body.
	Profile any `json:"-"`
	// body is POST /register's body, whose members named as user fields
	// that are not readonly make the profile when Profile is nil (a
	// string, so that RegisterInput stays comparable).
	body string
}

// LoginInput is the body of POST /login; Login is an email or a username.
type LoginInput struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

// SignUp creates an unconfirmed account, logs it in and queues the
// confirmation mail.
func (s *Service) SignUp(ctx context.Context, in RegisterInput, cl Client) (*Account, Tokens, error) {
	if err := s.throttle(ctx, "register:ip:"+cl.IP, s.o.Limits.RegisterIP); err != nil {
		return nil, Tokens{}, err
	}
	email, emailKey, err := canonicalEmail(in.Email)
	if err != nil {
		return nil, Tokens{}, err
	}
	name, err := s.checkUsername(in.Username)
	if err != nil {
		return nil, Tokens{}, err
	}
	password, err := checkPassword(in.Password1, PasswordInfo{Username: name.display, Email: email}, s.passwords)
	if err != nil {
		return nil, Tokens{}, err
	}
	if in.Password1 != in.Password2 {
		return nil, Tokens{}, ErrPasswordsMismatch
	}
	// Checked even when captchas are off: no field takes a NUL.
	if err := noNUL(in.Captcha); err != nil {
		return nil, Tokens{}, err
	}
	fields, err := s.signUpFields(in)
	if err != nil {
		return nil, Tokens{}, err
	}
	if s.o.RecaptchaSecret != "" && !s.o.Debug {
		if err := s.captcha.verify(ctx, in.Captcha, cl.IP); err != nil {
			return nil, Tokens{}, err
		}
	}
	// A cheap look before the expensive hash; the unique indexes still
	// decide races.
	if err := s.checkFree(ctx, emailKey, name); err != nil {
		return nil, Tokens{}, err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return nil, Tokens{}, err
	}

	now := s.now()
	acct := &Account{
		Email: email, EmailKey: emailKey, Username: name.display, UsernameKey: name.key, UsernameSkeleton: &name.skeleton,
		PasswordHash: hash, Permissions: Permissions{}, CreatedAt: now, UpdatedAt: now,
	}
	var toks Tokens
	var confirmToken string
	err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		if err := tx.insertAccount(ctx, acct); err != nil {
			return err
		}
		if err := tx.insertFields(ctx, acct.ID, fields); err != nil {
			return err
		}
		var err error
		if toks, err = s.startSession(ctx, tx, acct, cl, now); err != nil {
			return err
		}
		confirmToken, err = s.newConfirmation(ctx, tx, acct, now, false) // a new account has none to retire
		return err
	})
	if errors.Is(err, errDuplicate) {
		return nil, Tokens{}, s.duplicateError(ctx, emailKey, name)
	}
	if err != nil {
		return nil, Tokens{}, err
	}
	email, username, link := acct.Email, acct.Username, s.o.link(linkConfirm, confirmToken)
	s.outbox.enqueueLater(queuedMail{to: email, what: "confirmation", compose: func() (Message, error) {
		return s.mails.confirmation(email, username, link)
	}})
	s.log.InfoContext(ctx, "authgin: registered", "user_id", acct.ID, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventRegister, SessionID: toks.AccessClaims.SessionID}, cl)
	runHook(ctx, s.log, "OnRegister", s.o.Hooks.OnRegister, s.userEvent(acct, toks.AccessClaims.SessionID, cl))
	return acct, toks, nil
}

// username is a username in its three forms: as displayed, its unique
// key, and the key's unique confusable skeleton.
type username struct{ display, key, skeleton string }

// checkUsername canonicalises a username and refuses reserved names and
// their look-alikes.
func (s *Service) checkUsername(name string) (username, error) {
	display, key, err := canonicalUsername(name)
	if err != nil {
		return username{}, err
	}
	skel := usernameSkeleton(key)
	if _, ok := s.reserved[skel]; ok {
		return username{}, ErrInvalidUsername.withDetail("Username is reserved")
	}
	return username{display, key, skel}, nil
}

// errUsernameLookAlike is the answer for a username whose skeleton
// another account's has.
var errUsernameLookAlike = ErrUsernameExists.withDetail("Username is too similar to an existing one")

// checkFree reports an email or username (or a look-alike) that an
// account has; emailKey "" checks the username only.
func (s *Service) checkFree(ctx context.Context, emailKey string, name username) error {
	t, err := s.st.keysTaken(ctx, emailKey, name.key, name.skeleton)
	switch {
	case err != nil:
		return err
	case t.email:
		return ErrEmailExists
	case t.username:
		return ErrUsernameExists
	case t.skeleton:
		return errUsernameLookAlike
	}
	return nil
}

// duplicateError names the field a unique violation was about.
func (s *Service) duplicateError(ctx context.Context, emailKey string, name username) error {
	if err := s.checkFree(ctx, emailKey, name); err != nil {
		return err
	}
	// The conflicting row vanished in between; report the likelier field.
	return ErrUsernameExists
}

// Login checks credentials and opens a session. Unknown users and wrong
// passwords get the same answer after the same work.
func (s *Service) Login(ctx context.Context, in LoginInput, cl Client) (*Account, Tokens, error) {
	if err := noNUL(in.Login, in.Password); err != nil {
		return nil, Tokens{}, err
	}
	name := parseLogin(in.Login)
	acct, buckets, err := s.admitLogin(ctx, name, cl)
	if err != nil {
		return nil, Tokens{}, err
	}
	encoded := ""
	if acct != nil {
		encoded = acct.PasswordHash
	}
	match := false
	rehash := false
	if n := len([]rune(in.Password)); n > 0 && n <= s.o.MaxPasswordLength {
		match, rehash, err = s.hasher.verify(ctx, encoded, in.Password)
		if err != nil {
			s.undoAttempt(ctx, buckets)
			return nil, Tokens{}, err
		}
	}
	if !match {
		s.log.InfoContext(ctx, "authgin: login failed", "known_user", acct != nil, "ip", cl.IP)
		ev := LoginFailedEvent{Login: in.Login, UserEvent: UserEvent{IP: cl.IP, UserAgent: cl.UserAgent, Time: s.now()}}
		if acct != nil {
			ev.UserID, ev.Username = acct.ID, acct.Username
			s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventLoginFailed}, cl)
		}
		runHook(ctx, s.log, "OnLoginFailed", s.o.Hooks.OnLoginFailed, ev)
		if acct == nil && s.o.NotFoundOnUnknownLogin {
			return nil, Tokens{}, ErrUserNotFound
		}
		return nil, Tokens{}, ErrInvalidCredentials
	}
	if acct.Banned {
		// The password was right: not a failure to back off from.
		if err := s.resetBuckets(ctx, s.limits, buckets); err != nil {
			s.log.ErrorContext(ctx, "authgin: throttle reset failed", "err", err)
		}
		return nil, Tokens{}, ErrUserBanned
	}
	if methods, err := s.mfaMethods(ctx, acct.ID); err != nil || len(methods) > 0 {
		if err == nil {
			// The password was right: its failures are forgotten, the
			// second factor has its own limit (MFAAccount).
			if err := s.resetBuckets(ctx, s.limits, buckets); err != nil {
				s.log.ErrorContext(ctx, "authgin: throttle reset failed", "err", err)
			}
			err = s.startMFA(ctx, acct, methods, AMRPassword)
		} else {
			s.undoAttempt(ctx, buckets)
		}
		return nil, Tokens{}, err
	}

	now := s.now()
	passwordHash := acct.PasswordHash
	if rehash && utf8.ValidString(in.Password) {
		// The password matched: no rule of a new password applies to it.
		if h, err := s.hasher.hash(ctx, in.Password); err == nil {
			passwordHash = h
		}
	}
	ev := s.newEvent(SecurityEvent{UserID: acct.ID, Event: EventLogin}, cl)
	var toks Tokens
	// One transaction, one commit, for everything a login writes: the
	// backoff reset, the login time, the session and its event.
	err = s.loginTx.run(ctx, func(ctx context.Context, tx *store) error {
		if err := s.resetBuckets(ctx, s.limits.within(tx), buckets); err != nil {
			return err
		}
		if err := tx.recordLogin(ctx, acct.ID, now, acct.PasswordHash, passwordHash); err != nil {
			return err
		}
		var err error
		if toks, err = s.startSession(ctx, tx, acct, cl, now); err != nil {
			return err
		}
		ev.SessionID = toks.AccessClaims.SessionID
		return tx.insertEvent(ctx, &ev)
	})
	if err != nil {
		s.undoAttempt(ctx, buckets)
		return nil, Tokens{}, err
	}
	acct.LastLoginAt, acct.UpdatedAt = &now, now
	s.log.InfoContext(ctx, "authgin: login", "user_id", acct.ID, "ip", cl.IP, "rehashed", passwordHash != acct.PasswordHash)
	runHook(ctx, s.log, "OnSecurityEvent", s.o.Hooks.OnSecurityEvent, ev)
	runHook(ctx, s.log, "OnLogin", s.o.Hooks.OnLogin, s.userEvent(acct, toks.AccessClaims.SessionID, cl))
	return acct, toks, nil
}

// undoAttempt takes back the LoginAccount and LoginAccountAllIPs tries
// counted for a login that failed without a wrong password (no hashing
// slot, or the login's writes failed): it was no failure, and under
// overload such tries would otherwise push the account into backoff.
func (s *Service) undoAttempt(ctx context.Context, b loginBuckets) {
	for _, k := range []struct {
		key     string
		counted bool
	}{{b.ipAccount, b.ipCounted}, {b.account, b.accountCounted}} {
		if !k.counted {
			continue
		}
		if err := s.limits.undo(context.WithoutCancel(ctx), k.key); err != nil {
			s.log.ErrorContext(ctx, "authgin: throttle undo failed", "err", err)
		}
	}
}

// resetBuckets forgets the failures of a login's buckets after the right
// password: the limits count consecutive failures.
func (s *Service) resetBuckets(ctx context.Context, t *throttler, b loginBuckets) error {
	if !s.o.Limits.LoginAccount.off() {
		if err := t.reset(ctx, b.ipAccount); err != nil {
			return err
		}
	}
	if !s.o.Limits.LoginAccountAllIPs.off() {
		return t.reset(ctx, b.account)
	}
	return nil
}

// loginName is what a client typed as its login, canonicalised once: an
// email or a username key, or neither.
type loginName struct {
	raw  string
	kind loginKind
	key  string
}

type loginKind int

const (
	loginNeither loginKind = iota
	loginEmail
	loginUsername
)

func parseLogin(login string) loginName {
	if strings.Contains(login, "@") {
		if _, key, err := canonicalEmail(login); err == nil {
			return loginName{login, loginEmail, key}
		}
	}
	if _, key, err := canonicalUsername(login); err == nil {
		return loginName{login, loginUsername, key}
	}
	return loginName{raw: login}
}

// admitLogin loads the account a login names (nil when nobody matches) and
// counts the try against LoginIP, LoginAccount and LoginAccountAllIPs,
// before any hashing; a try during a delay is refused here. Failures are
// counted for a name nobody has with the same statements as for an
// account, so the answers reveal nothing (bucketsFor). LoginAccountAllIPs'
// delay refuses only an IP whose own LoginAccount count shows an earlier
// failure in its window; then that count is taken back, as the try was
// never checked. The lookup comes first, so that a failure leaves no
// count to take back; the statements share a transaction, on SQLite with
// other logins' (groupCommit).
func (s *Service) admitLogin(ctx context.Context, name loginName, cl Client) (*Account, loginBuckets, error) {
	var acct *Account
	var b loginBuckets
	var refused error
	lim := s.o.Limits
	err := s.loginTx.run(ctx, func(ctx context.Context, st *store) error {
		var err error
		acct, refused = nil, nil // when run again (groupCommit)
		switch name.kind {
		case loginEmail:
			acct, err = st.accountByEmail(ctx, name.key)
		case loginUsername:
			acct, err = st.accountByUsername(ctx, name.key)
		}
		if err != nil {
			return err
		}
		b = bucketsFor(name, acct, cl.IP)
		limits := s.limits.within(st)
		wait, err := limits.hit(ctx, "login:ip:"+cl.IP, lim.LoginIP)
		if err != nil {
			return err
		}
		if wait > 0 {
			refused = ErrTooManyRequests.withRetry(wait) // and the refused try stays counted
			return nil
		}
		wait, n, err := limits.attemptCount(ctx, b.ipAccount, lim.LoginAccount, !lim.LoginAccountAllIPs.off())
		if err != nil {
			return err
		}
		if wait > 0 {
			refused = ErrTooManyRequests.withRetry(wait)
			return nil
		}
		b.ipCounted = !lim.LoginAccount.off()
		wait, err = limits.attempt(ctx, b.account, lim.LoginAccountAllIPs)
		switch {
		case err != nil:
			return err
		case wait == 0:
			b.accountCounted = !lim.LoginAccountAllIPs.off()
		case n > 1: // this IP failed on the account before: it waits
			refused = ErrTooManyRequests.withRetry(wait)
			b.ipCounted = false
			return limits.takeBack(ctx, b.ipAccount)
		}
		// An IP without failures of its own gets its try, uncounted by
		// the account's running delay.
		return nil
	})
	if err != nil {
		return nil, b, err
	}
	return acct, b, refused
}

// startSession opens a session for acct, authenticated by its password,
// and issues its tokens.
func (s *Service) startSession(ctx context.Context, tx *store, acct *Account, cl Client, now time.Time) (Tokens, error) {
	return s.startSessionAMR(ctx, tx, acct, cl, now, amrPassword())
}

// startSessionAMR is startSession for a login authenticated by amr.
func (s *Service) startSessionAMR(ctx context.Context, tx *store, acct *Account, cl Client, now time.Time, amr []string) (Tokens, error) {
	sid, _, err := newOpaqueToken()
	if err != nil {
		return Tokens{}, err
	}
	refresh, refreshHash, err := newOpaqueToken()
	if err != nil {
		return Tokens{}, err
	}
	sess := &session{
		ID: sid, UserID: acct.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.o.RefreshTTL),
		IP: truncate(cl.IP, 64), UserAgent: truncate(cl.UserAgent, 512), AMR: strings.Join(amr, ","),
	}
	if err := tx.insertSession(ctx, sess, refreshHash); err != nil {
		return Tokens{}, err
	}
	toks, err := s.issueAccess(acct, sid, amr, now)
	if err != nil {
		return Tokens{}, err
	}
	toks.Refresh, toks.RefreshExpires = refresh, sess.ExpiresAt
	return toks, nil
}

func (s *Service) issueAccess(acct *Account, sid string, amr []string, now time.Time) (Tokens, error) {
	now = s.revoked.issueTime(acct.ID, sid, now)
	access, claims, err := s.tokens.issueAccessAMR(now, acct.ID, acct.Username, acct.Permissions, sid, amr)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{Access: access, AccessClaims: claims, AccessExpires: time.Unix(claims.ExpiresAt, 0)}, nil
}

// Logout revokes the session of a refresh token. Unknown or empty tokens
// are not an error: logout is idempotent.
func (s *Service) Logout(ctx context.Context, refresh string, cl Client) error {
	if refresh == "" || len(refresh) > maxOpaqueLen {
		return nil
	}
	rt, sess, err := s.st.sessionByRefresh(ctx, hashOpaque(refresh))
	if err != nil || rt == nil {
		return err
	}
	now := s.now()
	n, err := s.st.revokeSession(ctx, sess.ID, 0, now)
	if err != nil {
		return err
	}
	if n > 0 {
		s.strict.forget(sess.ID)
		s.log.InfoContext(ctx, "authgin: logout", "user_id", sess.UserID, "ip", cl.IP)
		s.record(ctx, SecurityEvent{UserID: sess.UserID, Event: EventLogout, SessionID: sess.ID}, cl)
		runHook(ctx, s.log, "OnLogout", s.o.Hooks.OnLogout,
			UserEvent{UserID: sess.UserID, SessionID: sess.ID, IP: cl.IP, UserAgent: cl.UserAgent, Time: now})
	}
	return nil
}

// ConfirmationStatus reports the user's email and whether it is confirmed.
func (s *Service) ConfirmationStatus(ctx context.Context, userID int64) (email string, confirmed bool, err error) {
	acct, err := s.st.accountByID(ctx, userID)
	if err != nil {
		return "", false, err
	}
	return acct.Email, acct.Confirmed, nil
}

// RequestConfirmation sends a new confirmation mail now; the previous
// link stops working. A mail that cannot be sent does not use up the
// user's quota.
func (s *Service) RequestConfirmation(ctx context.Context, userID int64, cl Client) error {
	acct, err := s.st.accountByID(ctx, userID)
	if err != nil {
		return err
	}
	if acct.Confirmed {
		return ErrAlreadyConfirmed
	}
	ipKey := "confirm:ip:" + cl.IP
	if err := s.throttle(ctx, ipKey, s.o.Limits.ConfirmMailIP); err != nil {
		return err
	}
	key := "confirm:user:" + strconv.FormatInt(acct.ID, 10)
	if err := s.throttle(ctx, key, s.o.Limits.ConfirmMailUser); err != nil {
		return err
	}
	var token string
	err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		var err error
		token, err = s.newConfirmation(ctx, tx, acct, s.now(), true)
		return err
	})
	var m Message
	if err == nil {
		m, err = s.mails.confirmation(acct.Email, acct.Username, s.o.link(linkConfirm, token))
	}
	if err == nil {
		err = s.outbox.send(ctx, m)
	}
	if err != nil {
		s.undoHits(ctx, key, ipKey)
		return err
	}
	return nil
}

// newConfirmation replaces the user's outstanding confirmation tokens with
// a new one and returns it. retire is false for an account created in the
// same transaction: it has none, and the UPDATE would be a wasted round trip.
func (s *Service) newConfirmation(ctx context.Context, tx *store, acct *Account, now time.Time, retire bool) (string, error) {
	token, hash, err := newOpaqueToken()
	if err != nil {
		return "", err
	}
	if retire {
		if err := tx.retireConfirmations(ctx, acct.ID, now); err != nil {
			return "", err
		}
	}
	return token, tx.insertConfirmation(ctx, acct.ID, acct.EmailKey, hash, now, now.Add(s.o.ConfirmTTL))
}

// ConfirmEmail consumes a confirmation token: it confirms the account's
// address, or for an email change token (ChangeEmail) sets and confirms the
// new one. Unknown, used and expired tokens, and tokens for an address the
// user has since changed, are ErrInvalidConfirmToken; they count toward
// the client's TokenGuessIP limit. An email change whose address another
// account took meanwhile is ErrEmailExists and leaves the token usable.
func (s *Service) ConfirmEmail(ctx context.Context, token string, cl Client) error {
	return s.confirmEmailBy(ctx, token, 0, cl)
}

// confirmEmailBy is ConfirmEmail for a request authenticated as user by
// (0: none). The first confirmation of an account unlinks the social
// logins whose provider did not verify the address, unless by is the
// account itself: the link in the mail proves the mailbox, not that the
// identity belongs to its owner (whoever used the address first at a
// provider that does not verify it would keep a way in). A user who
// confirms from a session of the account made both.
func (s *Service) confirmEmailBy(ctx context.Context, token string, by int64, cl Client) error {
	return s.guardTokenGuess(ctx, cl, ErrInvalidConfirmToken, func() error { return s.confirmEmail(ctx, token, by, cl) })
}

func (s *Service) confirmEmail(ctx context.Context, token string, by int64, cl Client) error {
	if token == "" || len(token) > maxOpaqueLen {
		return ErrInvalidConfirmToken
	}
	now := s.now()
	var acct *Account
	oldEmail := "" // set by an email change token
	err := s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		ec, err := tx.confirmationByHash(ctx, hashOpaque(token))
		if err != nil {
			return err
		}
		if ec == nil || ec.UsedAt != nil || !now.Before(ec.ExpiresAt) {
			return ErrInvalidConfirmToken
		}
		// Compare-and-set: of concurrent confirmations only one wins.
		if won, err := tx.useConfirmation(ctx, ec.ID, now); err != nil || !won {
			return cmp.Or(err, error(ErrInvalidConfirmToken))
		}
		if acct, err = tx.accountByID(ctx, ec.UserID); err != nil {
			return err
		}
		if ec.NewEmail != "" {
			return s.applyEmailChange(ctx, tx, acct, ec, now, &oldEmail)
		}
		if acct.EmailKey != ec.Email {
			return ErrInvalidConfirmToken
		}
		if !acct.Confirmed && by != acct.ID {
			n, err := tx.deleteUnverifiedOAuthIdentities(ctx, acct.ID)
			if err != nil {
				return err
			}
			if n > 0 {
				s.log.InfoContext(ctx, "authgin: unverified social logins unlinked by the address's confirmation", "user_id", acct.ID, "identities", n)
			}
		}
		return tx.markConfirmed(ctx, acct.ID, now)
	})
	if errors.Is(err, ErrUserNotFound) {
		return ErrInvalidConfirmToken
	}
	if err != nil {
		return err
	}
	if oldEmail != "" {
		s.emailChanged(ctx, acct, oldEmail, cl)
		return nil
	}
	s.log.InfoContext(ctx, "authgin: email confirmed", "user_id", acct.ID)
	runHook(ctx, s.log, "OnConfirm", s.o.Hooks.OnConfirm, s.userEvent(acct, "", Client{}))
	return nil
}

// ChangeUsername renames account id on behalf of actor, who must be that
// user or an admin.
func (s *Service) ChangeUsername(ctx context.Context, actor User, id int64, username string, cl Client) (*Account, error) {
	if actor.ID != id && !actor.IsAdmin() {
		return nil, ErrForbidden
	}
	name, err := s.checkUsername(username)
	if err != nil {
		return nil, err
	}
	display := name.display
	acct, err := s.st.accountByID(ctx, id)
	if err != nil {
		return nil, err
	}
	old := acct.Username
	if old == display {
		return nil, ErrSameUsername
	}
	now := s.now()
	err = s.st.renameAccount(ctx, id, name.display, name.key, name.skeleton, now)
	if errors.Is(err, errDuplicate) {
		// Another account has the name or a look-alike.
		return nil, cmp.Or(s.duplicateError(ctx, "", name), error(ErrUsernameExists))
	}
	if err != nil {
		return nil, err
	}
	acct.Username, acct.UsernameKey, acct.UsernameSkeleton = name.display, name.key, &name.skeleton
	s.log.InfoContext(ctx, "authgin: username changed", "user_id", id, "actor_id", actor.ID)
	ev := SecurityEvent{UserID: id, Event: EventUsernameChange, SessionID: actor.SessionID, Detail: old + " -> " + display}
	if actor.ID != id {
		ev.ActorID, ev.SessionID = actor.ID, ""
	}
	s.record(ctx, ev, cl)
	runHook(ctx, s.log, "OnUsernameChange", s.o.Hooks.OnUsernameChange, UsernameChangeEvent{
		UserEvent: s.userEvent(acct, actor.SessionID, cl), ActorID: actor.ID, OldUsername: old, NewUsername: display,
	})
	return acct, nil
}

func (s *Service) userEvent(acct *Account, sid string, cl Client) UserEvent {
	return UserEvent{UserID: acct.ID, Username: acct.Username, SessionID: sid, IP: cl.IP, UserAgent: cl.UserAgent, Time: s.now()}
}

// hasPermission reports whether perms holds p.
func hasPermission(perms []string, p string) bool { return slices.Contains(perms, p) }

// maxOpaqueLen bounds opaque tokens read from clients; real ones are 43.
const maxOpaqueLen = 128

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// noNUL rejects strings that no backend stores faithfully.
func noNUL(fields ...string) error {
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return ErrInvalidInput.withDetail("Input must not contain NUL characters")
		}
	}
	return nil
}
