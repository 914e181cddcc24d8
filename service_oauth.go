package authgin

// Social login: OpenID Connect providers (ID tokens verified by go-oidc)
// and GitHub (OAuth 2.0 and its REST API), with golang.org/x/oauth2 for
// the protocol. The state of a login in flight is a row (oauth_states)
// that the callback deletes, so each state works once, bound to the
// browser by a cookie holding the state and the PKCE verifier.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
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

// oauthSet holds the configured providers.
type oauthSet struct {
	byName map[string]*oauthClient
	list   []OAuthProviderInfo
}

// OAuthProviderInfo describes a configured provider to front ends.
type OAuthProviderInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	// AuthorizePath is where a "Sign in with ..." link points: the
	// group's path + /oauth/{name}/authorize.
	AuthorizePath string `json:"authorizePath"`
}

// oauthClient speaks to one provider.
type oauthClient struct {
	p        OAuthProvider
	redirect string
	http     *http.Client
	now      func() time.Time

	mu       sync.Mutex
	endpoint oauth2.Endpoint
	provider *oidc.Provider // nil until discovered (OpenID Connect only)
	verifier *oidc.IDTokenVerifier
}

// newOAuthSet validates o.OAuth and prepares the providers; discovery
// happens at the first login, so that Register does not depend on the
// providers being up. base is the group's path.
func newOAuthSet(o *Options, base string) (*oauthSet, error) {
	ps, err := validateOAuth(o.OAuth, o.Debug)
	if err != nil {
		return nil, err
	}
	o.OAuth = ps
	set := &oauthSet{byName: map[string]*oauthClient{}}
	for _, p := range ps {
		c := &oauthClient{p: p, redirect: p.RedirectURL, http: &http.Client{Timeout: oauthHTTPTimeout}, now: o.Now}
		if c.redirect == "" {
			c.redirect = strings.TrimSuffix(o.BaseURL, "/") + base + "/oauth/" + p.Name + "/callback"
		}
		if p.GitHub != nil {
			c.endpoint = oauth2.Endpoint{AuthURL: p.GitHub.AuthURL, TokenURL: p.GitHub.TokenURL}
		}
		set.byName[p.Name] = c
		set.list = append(set.list, OAuthProviderInfo{Name: p.Name, DisplayName: p.DisplayName,
			AuthorizePath: base + "/oauth/" + p.Name + "/authorize"})
	}
	return set, nil
}

// get returns the provider named name; ErrUnknownProvider if none.
func (o *oauthSet) get(name string) (*oauthClient, error) {
	if c, ok := o.byName[name]; ok {
		return c, nil
	}
	return nil, ErrUnknownProvider
}

// ready discovers an OpenID Connect provider once; a failure is tried
// again at the next login.
func (c *oauthClient) ready(ctx context.Context) error {
	if c.p.GitHub != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.http), c.p.Issuer)
	if err != nil {
		return fmt.Errorf("discovering %s: %w", c.p.Issuer, err)
	}
	c.provider, c.endpoint = p, p.Endpoint()
	c.verifier = p.VerifierContext(oidc.ClientContext(context.Background(), c.http),
		&oidc.Config{ClientID: c.p.ClientID, Now: c.now})
	return nil
}

// config is the OAuth 2.0 client configuration (after ready).
func (c *oauthClient) config() *oauth2.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	scopes := []string{oidc.ScopeOpenID, "email", "profile"}
	if c.p.GitHub != nil {
		scopes = []string{"read:user", "user:email"}
	}
	return &oauth2.Config{ClientID: c.p.ClientID, ClientSecret: c.p.ClientSecret, Endpoint: c.endpoint,
		RedirectURL: c.redirect, Scopes: append(scopes, c.p.Scopes...)}
}

// providerIdentity is what a provider says about the user.
type providerIdentity struct {
	subject       string
	email         string
	emailVerified bool
	usernames     []string // hints for a new account's username, best first
}

// identity exchanges code for tokens and reads the user from them: the
// verified ID token (OpenID Connect, whose nonce must hash to nonceHash)
// or GitHub's API. Errors are the provider's fault (ErrOAuthProvider).
func (c *oauthClient) identity(ctx context.Context, code, verifier, nonceHash string) (providerIdentity, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	tok, err := c.config().Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		// Not err itself: a token endpoint's error text may echo the code.
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			return providerIdentity{}, fmt.Errorf("exchanging the code: the token endpoint answered %s %q", re.Response.Status, re.ErrorCode)
		}
		return providerIdentity{}, errors.New("exchanging the code: the token endpoint could not be reached or answered no token")
	}
	if c.p.GitHub != nil {
		return c.githubIdentity(ctx, tok)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return providerIdentity{}, errors.New("the token response has no id_token")
	}
	c.mu.Lock()
	v, p := c.verifier, c.provider
	c.mu.Unlock()
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return providerIdentity{}, fmt.Errorf("verifying the ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(hashOpaque(idt.Nonce)), []byte(nonceHash)) != 1 {
		return providerIdentity{}, errors.New("the ID token's nonce does not match the login's")
	}
	var claims struct {
		Email             string    `json:"email"`
		EmailVerified     claimBool `json:"email_verified"`
		PreferredUsername string    `json:"preferred_username"`
		Nickname          string    `json:"nickname"`
	}
	if err := idt.Claims(&claims); err != nil {
		return providerIdentity{}, fmt.Errorf("reading the ID token's claims: %w", err)
	}
	if claims.Email == "" && p.UserInfoEndpoint() != "" {
		// Some providers put the address only in the UserInfo answer.
		ui, err := p.UserInfo(oidc.ClientContext(ctx, c.http), oauth2.StaticTokenSource(tok))
		if err != nil {
			return providerIdentity{}, fmt.Errorf("reading UserInfo: %w", err)
		}
		if ui.Subject == idt.Subject {
			claims.Email, claims.EmailVerified = ui.Email, claimBool(ui.EmailVerified)
		}
	}
	if idt.Subject == "" {
		return providerIdentity{}, errors.New("the ID token has no subject")
	}
	return providerIdentity{subject: idt.Subject, email: claims.Email, emailVerified: bool(claims.EmailVerified),
		usernames: []string{claims.PreferredUsername, claims.Nickname}}, nil
}

// claimBool reads a boolean claim that some providers send as a string.
type claimBool bool

func (b *claimBool) UnmarshalJSON(p []byte) error {
	switch strings.Trim(string(p), `"`) {
	case "true":
		*b = true
	default:
		*b = false
	}
	return nil
}

// githubIdentity reads the user and its verified primary (else first
// verified) address from GitHub's REST API.
func (c *oauthClient) githubIdentity(ctx context.Context, tok *oauth2.Token) (providerIdentity, error) {
	api := strings.TrimSuffix(c.p.GitHub.APIURL, "/")
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
	}
	if err := c.githubGet(ctx, tok, api+"/user", &user); err != nil {
		return providerIdentity{}, err
	}
	if user.ID <= 0 {
		return providerIdentity{}, errors.New("GitHub's /user has no id")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := c.githubGet(ctx, tok, api+"/user/emails", &emails); err != nil {
		return providerIdentity{}, err
	}
	id := providerIdentity{subject: strconv.FormatInt(user.ID, 10), usernames: []string{user.Login}}
	for _, e := range emails {
		if e.Verified && (id.email == "" || e.Primary) {
			id.email, id.emailVerified = e.Email, true
		}
	}
	return id, nil
}

// githubGet GETs url with the access token and decodes its JSON into v.
func (c *oauthClient) githubGet(ctx context.Context, tok *oauth2.Token, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GitHub API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GitHub API %s: status %d", req.URL.Path, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GitHub API %s: %w", req.URL.Path, err)
	}
	return nil
}

// OAuthProviders lists the configured providers, for front ends' buttons.
func (s *Service) OAuthProviders() []OAuthProviderInfo {
	return append([]OAuthProviderInfo{}, s.oauth.list...)
}

// OAuthStartInput starts a social login.
type OAuthStartInput struct {
	// Next is the path under BaseURL the callback redirects to; "" is "/".
	Next string
	// LinkUserID, when set, links the provider's identity to this account
	// instead of logging in (the user is logged in already).
	LinkUserID int64
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
	row := &oauthState{ID: stateHash, Provider: provider, NonceHash: nonceHash, Next: next, LinkUserID: in.LinkUserID,
		Bearer: in.Bearer, CreatedAt: now, ExpiresAt: now.Add(oauthStateTTL)}
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
	ident := &oauthIdentity{Provider: provider, Subject: id.subject, UserID: acct.ID, Email: clean(id.email, 320), CreatedAt: s.now()}
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
		if res.Tokens, err = s.startSession(ctx, tx, acct, cl, now); err != nil {
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
				CreatedAt: now, LastLoginAt: &now}
			if err := tx.insertOAuthIdentity(ctx, ident); err != nil {
				return err
			}
			var err error
			if res.Tokens, err = s.startSession(ctx, tx, acct, cl, now); err != nil {
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

// dropUnverifiedLinks unlinks every provider of an account whose address
// was never confirmed, inside a password reset's transaction tx: the
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
	return err
}
