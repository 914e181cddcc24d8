package authgin

// The social login providers as the service talks to them: OpenID Connect
// discovery and ID token verification (go-oidc), GitHub's OAuth 2.0 and
// REST API, and the code exchange with PKCE (golang.org/x/oauth2).

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
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
