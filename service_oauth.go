package authgin

// Social login: the flow and the linking rules (docs/social-login.md); the
// providers' protocols are in service_oauth_providers.go. The state of a
// login in flight is a row (oauth_states) that the callback deletes, so
// each state works once, bound to the browser by a cookie holding the
// state and the PKCE verifier.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The security events of social login; Detail is the provider's name.
const (
	EventOAuthLogin  = "oauth_login"
	EventOAuthLink   = "oauth_link"
	EventOAuthUnlink = "oauth_unlink"
)

const (
	// oauthStateTTL is how long a user has at the provider between the
	// authorize redirect and the callback.
	oauthStateTTL = 10 * time.Minute
	// maxNextLength bounds the ?next= path kept in a state row.
	maxNextLength = 512
	// oauthHTTPTimeout bounds every call to a provider.
	oauthHTTPTimeout = 10 * time.Second
)

// OAuthProviders lists the configured providers, for front ends' buttons.
func (s *Service) OAuthProviders() []OAuthProviderInfo {
	return append([]OAuthProviderInfo{}, s.oauth.list...)
}

// OAuthStartInput starts a social login.
type OAuthStartInput struct {
	// Next is the path under BaseURL the callback redirects to; "" is "/".
	Next string
	// Link, when set, links the provider's identity to this user's
	// account instead of logging in. Its session must have logged in
	// within the last 10 minutes, and still live at the callback: a
	// stolen older session cannot add a way in.
	Link *User
	// Bearer answers the callback with the tokens in the body (bearer
	// clients) instead of cookies and a redirect.
	Bearer bool
}

// OAuthStart is where to send the browser, and the value of the cookie
// that binds the login to it until Expires.
type OAuthStart struct {
	URL     string
	Cookie  string
	Expires time.Time
}

// OAuthAuthorize starts a social login with provider: a state row, a
// nonce and a PKCE verifier, and the provider's authorization URL.
func (s *Service) OAuthAuthorize(ctx context.Context, provider string, in OAuthStartInput, cl Client) (OAuthStart, error) {
	c, err := s.oauth.get(provider)
	if err != nil {
		return OAuthStart{}, err
	}
	next, err := cleanNext(in.Next)
	if err != nil {
		return OAuthStart{}, err
	}
	if err := s.throttle(ctx, "oauth:start:ip:"+cl.IP, s.o.Limits.LoginIP); err != nil {
		return OAuthStart{}, err
	}
	if err := c.ready(ctx); err != nil {
		s.log.WarnContext(ctx, "authgin: social login provider unavailable", "provider", provider, "err", err)
		return OAuthStart{}, ErrOAuthProvider
	}
	state, stateHash, err := newOpaqueToken()
	if err != nil {
		return OAuthStart{}, err
	}
	nonce, nonceHash, err := newOpaqueToken()
	if err != nil {
		return OAuthStart{}, err
	}
	verifier := oauth2.GenerateVerifier()
	now := s.now()
	row := &oauthState{ID: stateHash, Provider: provider, NonceHash: nonceHash, Next: next,
		Bearer: in.Bearer, CreatedAt: now, ExpiresAt: now.Add(oauthStateTTL)}
	if in.Link != nil {
		if err := s.requireRecentLogin(ctx, *in.Link); err != nil {
			return OAuthStart{}, err
		}
		row.LinkUserID, row.LinkSession = in.Link.ID, in.Link.SessionID
	}
	if err := s.st.insertOAuthState(ctx, row); err != nil {
		return OAuthStart{}, err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if c.p.GitHub == nil {
		opts = append(opts, oidc.Nonce(nonce))
	}
	return OAuthStart{URL: c.config().AuthCodeURL(state, opts...), Cookie: state + "." + verifier, Expires: row.ExpiresAt}, nil
}

// cleanNext accepts a path on this site ("/..."), never a URL of another
// one: no scheme, host or user info, no "//" or backslash that browsers
// read as another host, no control characters.
func cleanNext(next string) (string, error) {
	if next == "" {
		return "/", nil
	}
	bad := len(next) > maxNextLength || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsRune(next, '\\') || strings.IndexFunc(next, unicode.IsControl) >= 0 || !utf8.ValidString(next)
	if !bad {
		u, err := url.Parse(next)
		bad = err != nil || u.Scheme != "" || u.Host != "" || u.User != nil
	}
	if bad {
		return "", ErrInvalidNext
	}
	return next, nil
}

// OAuthCallbackInput is what the provider sent back to the callback, and
// the browser's state cookie.
type OAuthCallbackInput struct {
	Code   string
	State  string
	Error  string // the provider's error parameter, e.g. access_denied
	Cookie string
}

// OAuthResult is a completed social login or link.
type OAuthResult struct {
	Account *Account
	// Tokens are the new session's; zero for a link.
	Tokens Tokens
	// Next is the path under BaseURL to redirect to.
	Next string
	// Bearer: the flow was started by a bearer client.
	Bearer bool
	// Linked: the identity was linked to the logged-in account.
	Linked bool
	// Created: the login created the account.
	Created bool
	// MFA is set, and Tokens zero, when the account has a second factor:
	// LoginMFA with its token completes the login.
	MFA *MFARequired
}

// OAuthCallback completes a social login: it checks the state against the
// browser's cookie and consumes it, exchanges the code, verifies the
// identity, and then logs into the linked account, links the identity to
// the user who started a link, or creates an account. An email that an
// unlinked account has is ErrEmailExists, unless Options.LinkVerifiedEmail
// and both sides have it verified.
func (s *Service) OAuthCallback(ctx context.Context, provider string, in OAuthCallbackInput, cl Client) (OAuthResult, error) {
	c, err := s.oauth.get(provider)
	if err != nil {
		return OAuthResult{}, err
	}
	if err := s.throttle(ctx, "oauth:ip:"+cl.IP, s.o.Limits.LoginIP); err != nil {
		return OAuthResult{}, err
	}
	state, verifier, ok := strings.Cut(in.Cookie, ".")
	if !ok || in.State == "" || len(in.State) > maxOpaqueLen || subtle.ConstantTimeCompare([]byte(state), []byte(in.State)) != 1 {
		return OAuthResult{}, ErrOAuthState
	}
	row, err := s.st.takeOAuthState(ctx, hashOpaque(in.State), s.now())
	if err != nil {
		return OAuthResult{}, err
	}
	if row == nil || row.Provider != provider {
		return OAuthResult{}, ErrOAuthState
	}
	res := OAuthResult{Next: row.Next, Bearer: row.Bearer}
	switch {
	case in.Error == "access_denied":
		return res, ErrOAuthDenied
	case in.Error != "" || in.Code == "":
		s.log.WarnContext(ctx, "authgin: social login provider answered an error", "provider", provider, "error", clean(in.Error, 64))
		return res, ErrOAuthProvider
	}
	if err := c.ready(ctx); err != nil {
		s.log.WarnContext(ctx, "authgin: social login provider unavailable", "provider", provider, "err", err)
		return res, ErrOAuthProvider
	}
	id, err := c.identity(ctx, in.Code, verifier, row.NonceHash)
	if err != nil {
		s.log.WarnContext(ctx, "authgin: social login failed at the provider", "provider", provider, "ip", cl.IP, "err", err)
		return res, ErrOAuthProvider
	}
	if len(id.subject) > 255 || noNUL(id.subject) != nil {
		return res, ErrOAuthProvider
	}
	if row.LinkUserID != 0 {
		_, live, err := s.st.sessionLoginTime(ctx, row.LinkSession, row.LinkUserID)
		switch {
		case err != nil:
			return res, err
		case !live:
			return res, ErrUnauthorized // logged out or revoked meanwhile
		}
		res.Account, err = s.oauthLink(ctx, provider, row.LinkUserID, id, cl)
		res.Linked = err == nil
		return res, err
	}
	return s.oauthLogin(ctx, provider, id, res, cl)
}

// oauthLink links id to account userID (the user started a link).
func (s *Service) oauthLink(ctx context.Context, provider string, userID int64, id providerIdentity, cl Client) (*Account, error) {
	acct, err := s.st.accountByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	if acct.Banned {
		return nil, ErrUserBanned
	}
	ident := &oauthIdentity{Provider: provider, Subject: id.subject, UserID: acct.ID, Email: clean(id.email, 320),
		EmailVerified: id.emailVerified, CreatedAt: s.now()}
	if err := s.st.insertOAuthIdentity(ctx, ident); err != nil {
		if !errors.Is(err, errDuplicate) {
			return nil, err
		}
		have, err := s.st.oauthIdentityBySubject(ctx, provider, id.subject)
		switch {
		case err != nil:
			return nil, err
		case have != nil && have.UserID == acct.ID:
			return acct, nil // linked already
		case have != nil:
			return nil, ErrOAuthLinked.withDetail("This %s account is linked to another user", provider)
		default:
			return nil, ErrOAuthLinked.withDetail("Your account is linked to another %s account: unlink it first", provider)
		}
	}
	s.log.InfoContext(ctx, "authgin: social login linked", "user_id", acct.ID, "provider", provider, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventOAuthLink, Detail: provider}, cl)
	return acct, nil
}

// oauthLogin logs into the account linked to id, or links it by verified
// email (Options.LinkVerifiedEmail), or creates an account.
func (s *Service) oauthLogin(ctx context.Context, provider string, id providerIdentity, res OAuthResult, cl Client) (OAuthResult, error) {
	ident, err := s.st.oauthIdentityBySubject(ctx, provider, id.subject)
	if err != nil {
		return res, err
	}
	if ident == nil {
		if id.email == "" {
			return res, ErrOAuthEmail
		}
		email, emailKey, err := canonicalEmail(id.email)
		if err != nil {
			return res, ErrOAuthEmail.withDetail("The provider's email address is not valid here")
		}
		acct, err := s.st.accountByEmail(ctx, emailKey)
		if err == nil && acct != nil {
			// The account may be this identity's, made by a concurrent
			// callback since the first look (in one transaction with it).
			if ident, err = s.st.oauthIdentityBySubject(ctx, provider, id.subject); err != nil {
				return res, err
			}
			if ident != nil {
				return s.oauthLogin(ctx, provider, id, res, cl)
			}
		}
		switch {
		case err != nil:
			return res, err
		case acct == nil:
			return s.oauthSignUp(ctx, provider, id, email, emailKey, res, cl)
		case !s.o.LinkVerifiedEmail || !id.emailVerified || !acct.Confirmed:
			// Never automatic by default: whoever controls an address at
			// some provider would take over the account that has it.
			return res, ErrEmailExists.withDetail(
				"An account with this email exists: log in to it and link %s from its settings", provider)
		}
		if acct.Banned {
			return res, ErrUserBanned
		}
		if _, err := s.oauthLink(ctx, provider, acct.ID, id, cl); err != nil {
			return res, err
		}
		if ident, err = s.st.oauthIdentityBySubject(ctx, provider, id.subject); err != nil {
			return res, err
		}
		if ident == nil { // unlinked again at once
			return res, ErrOAuthState
		}
	}
	acct, err := s.st.accountByID(ctx, ident.UserID)
	if err != nil {
		return res, err
	}
	if acct.Banned {
		return res, ErrUserBanned
	}
	// The provider stands for the password: an account with a second
	// factor still needs it (POST /login/mfa with res.MFA's token).
	if methods, err := s.mfaMethods(ctx, acct.ID); err != nil || len(methods) > 0 {
		if err == nil {
			err = s.startMFA(ctx, acct, methods, AMRFederated)
		}
		if mfa := (*MFARequired)(nil); errors.As(err, &mfa) {
			res.Account, res.MFA = acct, mfa
			return res, nil
		}
		return res, err
	}
	now := s.now()
	ev := s.newEvent(SecurityEvent{UserID: acct.ID, Event: EventOAuthLogin, Detail: provider}, cl)
	err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		if err := tx.recordLogin(ctx, acct.ID, now, acct.PasswordHash, acct.PasswordHash); err != nil {
			return err
		}
		if err := tx.touchOAuthIdentity(ctx, ident.ID, now); err != nil {
			return err
		}
		var err error
		if res.Tokens, err = s.startSessionAMR(ctx, tx, acct, cl, now, []string{AMRFederated}); err != nil {
			return err
		}
		ev.SessionID = res.Tokens.AccessClaims.SessionID
		return tx.insertEvent(ctx, &ev)
	})
	if err != nil {
		return res, err
	}
	acct.LastLoginAt, acct.UpdatedAt = &now, now
	res.Account = acct
	s.log.InfoContext(ctx, "authgin: social login", "user_id", acct.ID, "provider", provider, "ip", cl.IP)
	runHook(ctx, s.log, "OnSecurityEvent", s.o.Hooks.OnSecurityEvent, ev)
	runHook(ctx, s.log, "OnLogin", s.o.Hooks.OnLogin, s.userEvent(acct, ev.SessionID, cl))
	return res, nil
}

// oauthSignUp creates an account for id, without a password, confirmed
// when the provider verified the address (else a confirmation mail goes
// out), and logs it in.
func (s *Service) oauthSignUp(ctx context.Context, provider string, id providerIdentity, email, emailKey string, res OAuthResult, cl Client) (OAuthResult, error) {
	if err := s.throttle(ctx, "register:ip:"+cl.IP, s.o.Limits.RegisterIP); err != nil {
		return res, err
	}
	local, _, _ := strings.Cut(email, "@")
	base := s.oauthUsernameBase(append(id.usernames, local)...)
	now := s.now()
	var confirmToken string
	for try := 0; ; try++ {
		name, err := s.freeUsername(ctx, base)
		if err != nil {
			return res, err
		}
		acct := &Account{
			Email: email, EmailKey: emailKey, Username: name.display, UsernameKey: name.key, UsernameSkeleton: &name.skeleton,
			Permissions: Permissions{}, Confirmed: id.emailVerified, CreatedAt: now, UpdatedAt: now, LastLoginAt: &now,
		}
		err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
			if err := tx.insertAccount(ctx, acct); err != nil {
				return err
			}
			ident := &oauthIdentity{Provider: provider, Subject: id.subject, UserID: acct.ID, Email: clean(id.email, 320),
				EmailVerified: id.emailVerified, CreatedAt: now, LastLoginAt: &now}
			if err := tx.insertOAuthIdentity(ctx, ident); err != nil {
				return err
			}
			var err error
			if res.Tokens, err = s.startSessionAMR(ctx, tx, acct, cl, now, []string{AMRFederated}); err != nil {
				return err
			}
			if !acct.Confirmed {
				confirmToken, err = s.newConfirmation(ctx, tx, acct, now, false)
			}
			return err
		})
		if errors.Is(err, errDuplicate) && try == 3 {
			return res, ErrUsernameExists
		}
		if errors.Is(err, errDuplicate) {
			// A concurrent callback of the same identity created the
			// account: log into it. Else the address was taken meanwhile,
			// or the username: try another.
			i, err := s.st.oauthIdentityBySubject(ctx, provider, id.subject)
			if err != nil {
				return res, err
			}
			if i != nil {
				return s.oauthLogin(ctx, provider, id, res, cl)
			}
			a, err := s.st.accountByEmail(ctx, emailKey)
			if err != nil {
				return res, err
			}
			if a != nil {
				return res, ErrEmailExists.withDetail(
					"An account with this email exists: log in to it and link %s from its settings", provider)
			}
			continue
		}
		if err != nil {
			return res, err
		}
		res.Account, res.Created = acct, true
		break
	}
	acct := res.Account
	if confirmToken != "" {
		email, username, link := acct.Email, acct.Username, s.o.link(linkConfirm, confirmToken)
		s.outbox.enqueueLater(queuedMail{to: email, what: "confirmation", compose: func() (Message, error) {
			return s.mails.confirmation(email, username, link)
		}})
	}
	sid := res.Tokens.AccessClaims.SessionID
	s.log.InfoContext(ctx, "authgin: registered through social login", "user_id", acct.ID, "provider", provider, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventRegister, SessionID: sid, Detail: provider}, cl)
	s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventOAuthLogin, SessionID: sid, Detail: provider}, cl)
	runHook(ctx, s.log, "OnRegister", s.o.Hooks.OnRegister, s.userEvent(acct, sid, cl))
	runHook(ctx, s.log, "OnLogin", s.o.Hooks.OnLogin, s.userEvent(acct, sid, cl))
	return res, nil
}

// oauthUsernameBase makes a username from the first hint that yields a
// valid one once stripped of characters usernames cannot have; "user"
// when none does. It leaves room for freeUsername's suffix.
func (s *Service) oauthUsernameBase(hints ...string) string {
	for _, h := range hints {
		var b strings.Builder
		n := 0
		for _, r := range h {
			if n == maxUsernameLength-5 {
				break
			}
			if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == '-' {
				b.WriteRune(r)
				n++
			}
		}
		if _, err := s.checkUsername(b.String()); err == nil {
			return b.String()
		}
	}
	return "user"
}

// freeUsername returns base, or base with a random number, that no
// account has (nor a look-alike of).
func (s *Service) freeUsername(ctx context.Context, base string) (username, error) {
	cand := base
	for range 20 {
		name, err := s.checkUsername(cand)
		if err == nil {
			err = s.checkFree(ctx, "", name)
		}
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, ErrUsernameExists) && !errors.Is(err, ErrInvalidUsername) {
			return username{}, err
		}
		n, err := rand.Int(rand.Reader, big.NewInt(10000))
		if err != nil {
			return username{}, err
		}
		cand = fmt.Sprintf("%s-%d", base, n.Int64())
	}
	return username{}, ErrUsernameExists
}

// LinkedProvider is one of a user's linked social login identities.
type LinkedProvider struct {
	Provider    string     `json:"provider"`
	Email       string     `json:"email"`
	CreatedAt   time.Time  `json:"createdAt"`
	LastLoginAt *time.Time `json:"lastLoginAt"`
}

// OAuthLinks lists the providers linked to the user's account.
func (s *Service) OAuthLinks(ctx context.Context, userID int64) ([]LinkedProvider, error) {
	ids, err := s.st.oauthIdentitiesOf(ctx, userID)
	out := make([]LinkedProvider, len(ids))
	for i, id := range ids {
		out[i] = LinkedProvider{Provider: id.Provider, Email: id.Email, CreatedAt: id.CreatedAt.UTC(), LastLoginAt: id.LastLoginAt}
	}
	return out, err
}

// OAuthUnlink unlinks provider from the user's account; refused with
// ErrLastLoginMethod when the account has no password and no other
// linked provider.
func (s *Service) OAuthUnlink(ctx context.Context, u User, provider string, cl Client) error {
	err := s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		acct, err := tx.lockAccount(ctx, u.ID)
		if err != nil {
			return err
		}
		ids, err := tx.oauthIdentitiesOf(ctx, acct.ID)
		if err != nil {
			return err
		}
		found := false
		for _, id := range ids {
			found = found || id.Provider == provider
		}
		switch {
		case !found:
			return ErrOAuthNotLinked
		case acct.PasswordHash == "" && len(ids) == 1:
			return ErrLastLoginMethod
		}
		_, err = tx.deleteOAuthIdentity(ctx, acct.ID, provider)
		return err
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "authgin: social login unlinked", "user_id", u.ID, "provider", provider, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: u.ID, Event: EventOAuthUnlink, SessionID: u.SessionID, Detail: provider}, cl)
	return nil
}

// dropUnverifiedLinks unlinks every provider, and removes every second
// factor and passkey, of an account whose address was never confirmed, inside a password reset's transaction tx: the
// reset proves the mailbox is the user's, and an identity linked before
// that may be an attacker's who signed up first with the victim's address
// at a provider that does not verify it (pre-account takeover).
func (s *Service) dropUnverifiedLinks(ctx context.Context, tx *store, acct *Account) error {
	if acct.Confirmed {
		return nil
	}
	n, err := tx.deleteOAuthIdentitiesOf(ctx, acct.ID)
	if n > 0 {
		s.log.InfoContext(ctx, "authgin: unconfirmed account's social logins unlinked by a password reset", "user_id", acct.ID, "identities", n)
	}
	if err != nil {
		return err
	}
	// The same for second factors and passkeys: whoever registered the
	// address first could have added them, and would keep a way in (or
	// lock the owner out behind a factor the owner never had).
	had, err := tx.deleteFactors(ctx, acct.ID, true)
	if had {
		s.log.InfoContext(ctx, "authgin: unconfirmed account's second factors removed by a password reset", "user_id", acct.ID)
	}
	return err
}
