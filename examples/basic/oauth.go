package main

import (
	"errors"
	"os"

	"github.com/authgin/authgin"
)

// oauthProviders reads the social login providers from the environment:
// OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_NAME (default
// "oidc") for any OpenID Connect provider; GITHUB_CLIENT_ID and
// GITHUB_CLIENT_SECRET; GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET. The
// front end shows a button for each (GET /api/users/oauth/providers).
func oauthProviders() ([]authgin.OAuthProvider, error) {
	var ps []authgin.OAuthProvider
	if issuer := os.Getenv("OIDC_ISSUER"); issuer != "" {
		if os.Getenv("OIDC_CLIENT_ID") == "" {
			return nil, errors.New("OIDC_ISSUER is set without OIDC_CLIENT_ID")
		}
		ps = append(ps, authgin.OIDCProvider(env("OIDC_NAME", "oidc"), issuer, os.Getenv("OIDC_CLIENT_ID"), os.Getenv("OIDC_CLIENT_SECRET")))
	}
	if id := os.Getenv("GITHUB_CLIENT_ID"); id != "" {
		ps = append(ps, authgin.GitHubProvider(id, os.Getenv("GITHUB_CLIENT_SECRET")))
	}
	if id := os.Getenv("GOOGLE_CLIENT_ID"); id != "" {
		ps = append(ps, authgin.GoogleProvider(id, os.Getenv("GOOGLE_CLIENT_SECRET")))
	}
	return ps, nil
}
