package authgin

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// OAuthProvider configures one social login provider (Options.OAuth): an
// OpenID Connect provider found by its issuer URL, or GitHub, which speaks
// OAuth 2.0 and has an API for the user and its email addresses. The
// presets GoogleProvider, MicrosoftProvider, GitHubProvider and
// OIDCProvider fill in everything but the client credentials.
type OAuthProvider struct {
	// Name is the provider's path segment (/oauth/{Name}/authorize) and the
	// key its identities are stored under: 1 to 32 characters of a-z, 0-9,
	// '_' and '-'. Renaming a provider unlinks every account from it.
	Name string
	// DisplayName is the name front ends show ("Sign in with Google").
	// Default: Name.
	DisplayName string
	// ClientID and ClientSecret are the credentials the provider issued
	// for this app.
	ClientID     string
	ClientSecret string
	// Issuer is an OpenID Connect provider's issuer URL; its discovery
	// document (/.well-known/openid-configuration) names the endpoints and
	// keys. https, or http on a loopback host or with Options.Debug.
	Issuer string
	// GitHub, when set, makes the provider GitHub (or GitHub Enterprise)
	// instead of OpenID Connect; Issuer must then be empty.
	GitHub *GitHubEndpoints
	// Scopes are requested in addition to those the kind needs ("openid",
	// "email", "profile" for OpenID Connect; "read:user", "user:email" for
	// GitHub).
	Scopes []string
	// RedirectURL is the callback URL registered with the provider.
	// Default: Options.BaseURL + the group's path + "/oauth/{Name}/callback",
	// which assumes that the front end and the API share an origin.
	RedirectURL string
}

// GitHubEndpoints are the URLs of a GitHub installation.
type GitHubEndpoints struct {
	// AuthURL is the authorization endpoint, e.g.
	// https://github.com/login/oauth/authorize.
	AuthURL string
	// TokenURL is the token endpoint, e.g.
	// https://github.com/login/oauth/access_token.
	TokenURL string
	// APIURL is the REST API's root, e.g. https://api.github.com; the
	// user is read from {APIURL}/user and {APIURL}/user/emails.
	APIURL string
}

// OIDCProvider is a generic OpenID Connect provider (Keycloak, Auth0, Okta,
// Dex, Zitadel...) named name, found by its issuer URL.
func OIDCProvider(name, issuer, clientID, clientSecret string) OAuthProvider {
	return OAuthProvider{Name: name, Issuer: issuer, ClientID: clientID, ClientSecret: clientSecret}
}

// GoogleProvider is Google's OpenID Connect provider, named "google".
func GoogleProvider(clientID, clientSecret string) OAuthProvider {
	return OAuthProvider{Name: "google", DisplayName: "Google", Issuer: "https://accounts.google.com",
		ClientID: clientID, ClientSecret: clientSecret}
}

// MicrosoftProvider is the Microsoft identity platform (Entra ID) for one
// tenant, named "microsoft". tenant is the directory's id (a GUID):
// the multi-tenant aliases "common" and "organizations" have no fixed
// issuer, which ID token verification needs. Microsoft does not say
// whether an email is verified, so its addresses count as unverified.
func MicrosoftProvider(tenant, clientID, clientSecret string) OAuthProvider {
	return OAuthProvider{Name: "microsoft", DisplayName: "Microsoft",
		Issuer:   "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/v2.0",
		ClientID: clientID, ClientSecret: clientSecret}
}

// GitHubProvider is github.com, named "github".
func GitHubProvider(clientID, clientSecret string) OAuthProvider {
	return OAuthProvider{Name: "github", DisplayName: "GitHub", ClientID: clientID, ClientSecret: clientSecret,
		GitHub: &GitHubEndpoints{ // #nosec G101 -- GitHub's public endpoint URLs, no credentials
			AuthURL:  "https://github.com/login/oauth/authorize",
			TokenURL: "https://github.com/login/oauth/access_token",
			APIURL:   "https://api.github.com",
		}}
}

var providerName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// validateOAuth checks Options.OAuth and fills in display names.
func validateOAuth(ps []OAuthProvider, debug bool) ([]OAuthProvider, error) {
	out := make([]OAuthProvider, len(ps))
	seen := map[string]bool{}
	for i, p := range ps {
		field := fmt.Sprintf("authgin: Options.OAuth[%d]", i)
		if !providerName.MatchString(p.Name) {
			return nil, fmt.Errorf("%s.Name %q must be 1 to 32 characters of a-z, 0-9, '_' and '-'", field, p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%s.Name %q is used twice", field, p.Name)
		}
		seen[p.Name] = true
		if p.ClientID == "" {
			return nil, fmt.Errorf("%s (%s): ClientID is required", field, p.Name)
		}
		urls := map[string]string{"RedirectURL": p.RedirectURL}
		switch {
		case p.GitHub != nil && p.Issuer != "":
			return nil, fmt.Errorf("%s (%s): set Issuer or GitHub, not both", field, p.Name)
		case p.GitHub != nil:
			gh := *p.GitHub
			p.GitHub = &gh
			urls["GitHub.AuthURL"], urls["GitHub.TokenURL"], urls["GitHub.APIURL"] = gh.AuthURL, gh.TokenURL, gh.APIURL
			for _, k := range []string{"GitHub.AuthURL", "GitHub.TokenURL", "GitHub.APIURL"} {
				if urls[k] == "" {
					return nil, fmt.Errorf("%s (%s): %s is required", field, p.Name, k)
				}
			}
		case p.Issuer == "":
			return nil, fmt.Errorf("%s (%s): Issuer (OpenID Connect) or GitHub is required", field, p.Name)
		default:
			urls["Issuer"] = p.Issuer
		}
		for k, v := range urls {
			if v == "" {
				continue
			}
			if err := checkProviderURL(v, debug); err != nil {
				return nil, fmt.Errorf("%s (%s).%s: %w", field, p.Name, k, err)
			}
		}
		if p.DisplayName == "" {
			p.DisplayName = p.Name
		}
		p.Scopes = append([]string(nil), p.Scopes...)
		out[i] = p
	}
	return out, nil
}

// checkProviderURL accepts an absolute https URL, or http on a loopback
// host or in Debug (a local provider in development and tests).
func checkProviderURL(s string, debug bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.Scheme == "http" && !debug && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("%q is plain http on a host that is not loopback; use https (or Debug for development)", s)
	}
	if u.User != nil || strings.ContainsAny(s, "\x00\r\n") {
		return fmt.Errorf("%q must not carry credentials or control characters", s)
	}
	return nil
}
