package authgin

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Options configures Register. Only DB, Secret and BaseURL are required;
// every other field has the default given in its comment.
type Options struct {
	// DB is the database the plugin keeps users, sessions, one-time tokens
	// and throttling counters in. SQLite and PostgreSQL are supported; see
	// OpenSQLite for a SQLite handle configured for concurrent use.
	DB *gorm.DB

	// Secret is the HS256 key for access tokens, at least 32 bytes.
	// Required unless Signing selects an asymmetric key.
	Secret []byte

	// MFAKey, when set (at least 32 bytes), is the key that TOTP secrets
	// and recovery codes are sealed with (HKDF-derived AES-256-GCM and
	// HMAC keys); otherwise they are derived from Secret. With neither,
	// TOTP is off (passkeys need no key). Changing it makes stored secrets unreadable:
	// users then set up their authenticators again.
	MFAKey []byte

	// Signing selects asymmetric access-token signing (EdDSA, RS256, ES256)
	// with a key id and verify-only keys for rotation. Nil means HS256 with
	// Secret.
	Signing *SigningConfig

	// BaseURL is the absolute http(s) URL of the front end. Links in mails
	// are built from it, never from the request's Host.
	BaseURL string

	// Debug drops the Secure attribute and the __Host-/__Secure- name
	// prefixes from cookies (plain-HTTP development), skips reCAPTCHA and
	// makes the log mailer print whole mails. Without it BaseURL must be
	// https, or http on a loopback host (localhost, 127.0.0.1, [::1]):
	// browsers drop Secure cookies that arrive over plain http elsewhere.
	Debug bool

	// Issuer and Audience are the iss and aud claims of access tokens.
	// Defaults: "authgin" and "authgin".
	Issuer   string
	Audience string

	// AccessTTL is the access token lifetime. Default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is the absolute lifetime of a refresh session (a login):
	// rotation never extends it. Default 30 days.
	RefreshTTL time.Duration
	// RefreshIdleTTL ends a refresh session that was not used for this long.
	// Default 7 days.
	RefreshIdleTTL time.Duration
	// DisableRotation keeps one refresh token for a session's whole life
	// instead of replacing it on every refresh.
	DisableRotation bool
	// RotationGrace is how long a just-rotated refresh token may still be
	// presented (parallel tabs) before a reuse revokes the session.
	// Default 30 seconds.
	RotationGrace time.Duration

	// Revocation selects how soon revoking sessions (logout, logout
	// everywhere, password change or reset, ban, kick, permission change)
	// reaches the access tokens already issued, and what the middleware
	// pays per request for it: RevocationStateless (the default: at
	// expiry, no lookup), RevocationCached (a user's revocation of all
	// sessions at once through this instance and within BlackoutRefresh
	// through others, one map lookup) or RevocationStrict (every
	// revocation at once, one database read). See RevocationMode.
	Revocation RevocationMode
	// Strict is Revocation: RevocationStrict: the middleware checks the
	// token's session on every request, so logout, ban and password change
	// end access at once. Default false.
	Strict bool
	// StrictCacheTTL caches strict-mode session checks in process for this
	// long. Zero disables the cache.
	StrictCacheTTL time.Duration
	// BlackoutRefresh is how often each instance re-reads the blackout
	// (POST /blackout) that the stateless middleware enforces, and the
	// revocations of RevocationCached, so that one set on one instance
	// reaches the others within it. Default 10 seconds.
	BlackoutRefresh time.Duration

	// AccessCookie and RefreshCookie name the cookies. Defaults
	// "access_token" and "refresh_token". Outside Debug the names get the
	// prefixes browsers enforce, "__Host-" (access) and "__Secure-"
	// (refresh), unless Cookie.Unprefixed; see CookieOptions.
	AccessCookie  string
	RefreshCookie string
	// Cookie sets the cookies' SameSite, Domain and name prefixes.
	Cookie CookieOptions

	// BearerClients serves clients that keep their tokens themselves
	// (mobile and native apps, SPAs on another site, other services): a
	// request to POST /register, /login, /token/refresh or /logout with the
	// header "X-Auth-Mode: bearer" gets the tokens in the JSON body and no
	// cookie, and sends its refresh token in the body. Default false: the
	// header is ignored.
	BearerClients bool
	// RefreshBodyToken makes POST /token/refresh answer {"access": <jwt>}
	// besides setting the cookie, as authx does. False answers {} for
	// cookie-only clients, so that no script ever sees the access token.
	// Nil means true.
	RefreshBodyToken *bool

	// ConfirmTTL is how long an email confirmation link works. Default 48 h.
	ConfirmTTL time.Duration
	// ResetTTL is how long a password reset link works. Default 1 h.
	ResetTTL time.Duration
	// ConfirmPath and ResetPath are the front-end paths under BaseURL that
	// receive ?token=. Defaults "/confirm" and "/reset_password" (authx).
	// The page at ConfirmPath POSTs the token to /confirm; it confirms a
	// registration or an email change alike.
	ConfirmPath string
	ResetPath   string
	// LinkBuilder, when set, replaces the default link construction. kind is
	// "confirm", "email_change" (a new address's confirmation, which the
	// default sends to ConfirmPath too) or "reset".
	LinkBuilder func(kind, token string) string

	// Mailer delivers mails. Default: a LogMailer writing to Logger.
	Mailer Mailer
	// MailQueueSize bounds the mails waiting for background delivery.
	// Default 1024.
	MailQueueSize int
	// Site and DisplayName appear in mails (authx's site and display_name).
	// Defaults "authgin" and "authgin".
	Site        string
	DisplayName string
	// Templates overrides the embedded mail templates. Nil keeps them.
	Templates *MailTemplates

	// RecaptchaSecret enables reCAPTCHA on register (not in Debug).
	RecaptchaSecret string
	// RecaptchaVerifyURL is the siteverify endpoint.
	// Default "https://www.google.com/recaptcha/api/siteverify".
	RecaptchaVerifyURL string
	// RecaptchaHostnames are the hostnames a captcha may have been solved
	// on (siteverify's hostname), compared ignoring case. Default: BaseURL's
	// host name.
	RecaptchaHostnames []string
	// RecaptchaAction is the action a reCAPTCHA v3 token must have been
	// made for. Default "register". reCAPTCHA v2 answers carry none.
	RecaptchaAction string
	// RecaptchaMinScore is the lowest reCAPTCHA v3 score (0 to 1) accepted.
	// Default 0.5; a negative value accepts any score. reCAPTCHA v2 answers
	// carry none.
	RecaptchaMinScore float64
	// RecaptchaMaxAge is how long before the registration the captcha may
	// have been solved (siteverify's challenge_ts). Default 5 minutes.
	RecaptchaMaxAge time.Duration

	// Password rules. MinPasswordLength and MaxPasswordLength count
	// characters after NFC normalisation. Defaults 8 and 128.
	MinPasswordLength int
	MaxPasswordLength int
	// PasswordPolicy is called after the built-in checks; a non-nil error
	// rejects the password and its text is shown to the user.
	PasswordPolicy func(password string, info PasswordInfo) error
	// Argon2 sets the password hash cost. Default m=19 MiB, t=2, p=1.
	Argon2 Argon2Params
	// HashConcurrency bounds password hashes in flight. Default GOMAXPROCS.
	HashConcurrency int
	// HashQueueTimeout is how long a request waits for a hashing slot before
	// it gets 503 with Retry-After. Default 5 seconds.
	HashQueueTimeout time.Duration

	// ReservedUsernames cannot be registered (compared by canonical key).
	// Nil means a small built-in list ("admin", "root", ...); an empty,
	// non-nil slice reserves none.
	ReservedUsernames []string

	// Limits configures throttling. Zero fields take the defaults of
	// DefaultLimits.
	Limits Limits

	// TrustedOrigins are extra origins allowed to make unsafe cross-origin
	// requests (CSRF protection), e.g. "https://admin.example".
	TrustedOrigins []string

	// OAuth lists the social login providers: OpenID Connect by issuer
	// (OIDCProvider, GoogleProvider, MicrosoftProvider) and GitHub
	// (GitHubProvider). See docs/social-login.md. Default none.
	OAuth []OAuthProvider
	// LinkVerifiedEmail links a social login to the existing account with
	// the same email when the provider and the account both have the
	// address verified. Default false: such a login is refused with
	// email_exists, and the user links the provider while logged in.
	LinkVerifiedEmail bool

	// NotFoundOnUnknownLogin restores authx's 404 for a login with an
	// unknown user. Default false: one 401 for every failure.
	NotFoundOnUnknownLogin bool

	// SkipMigration leaves the schema alone; the tables must exist.
	SkipMigration bool

	// UserFields declares the app's own user fields: UserFieldsOf[P]() for
	// a struct P. Register accepts them, GET and PATCH /me read and change
	// them, admin search filters on them. Zero: none.
	UserFields UserFields

	// Hooks are called after the corresponding event was committed.
	Hooks Hooks

	// Logger receives the plugin's events. Default slog.Default().
	Logger *slog.Logger

	// Now is the clock. Default time.Now. Tests inject a fake one.
	Now func() time.Time

	// DBTimeout bounds every database call of a request. Default 5 seconds.
	DBTimeout time.Duration

	// PruneInterval is how often the plugin deletes the rows no request can
	// use any more (see Service.Prune): the first time a minute after
	// Register (or after PruneInterval when that is shorter), then at this
	// interval. Every instance prunes; the deletes are idempotent. Default
	// 1 hour; negative turns it off.
	PruneInterval time.Duration
	// EventRetention makes Prune delete security events older than this;
	// at least AccessTTL, which the blacklist looks back over. Default 0:
	// events are kept.
	EventRetention time.Duration
}

// withDefaults returns a copy of o with every zero field set to its default,
// or an error naming the first invalid field.
func (o Options) withDefaults() (Options, error) {
	if o.DB == nil {
		return o, errors.New("authgin: Options.DB is required")
	}
	if o.UserFields.err != nil {
		return o, o.UserFields.err
	}
	if o.Signing == nil && len(o.Secret) < 32 {
		return o, fmt.Errorf("authgin: Options.Secret must be at least 32 bytes (got %d)", len(o.Secret))
	}
	if len(o.MFAKey) > 0 && len(o.MFAKey) < 32 {
		return o, fmt.Errorf("authgin: Options.MFAKey must be at least 32 bytes (got %d)", len(o.MFAKey))
	}
	u, err := url.Parse(o.BaseURL)
	if o.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("authgin: Options.BaseURL must be an absolute http(s) URL (got %q)", o.BaseURL)
	}
	if u.Scheme == "http" && !o.Debug && !loopbackHost(u.Hostname()) {
		return o, fmt.Errorf("authgin: Options.BaseURL %q is plain http on a host that is not loopback: browsers drop "+
			"the Secure cookies authgin sets outside Debug there, so every call after login would be 401; "+
			"serve the front end over https, or set Debug for plain-http development", o.BaseURL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"AccessTTL", o.AccessTTL}, {"RefreshTTL", o.RefreshTTL}, {"RefreshIdleTTL", o.RefreshIdleTTL},
		{"RotationGrace", o.RotationGrace}, {"StrictCacheTTL", o.StrictCacheTTL}, {"BlackoutRefresh", o.BlackoutRefresh},
		{"ConfirmTTL", o.ConfirmTTL}, {"ResetTTL", o.ResetTTL},
		{"HashQueueTimeout", o.HashQueueTimeout}, {"DBTimeout", o.DBTimeout}, {"EventRetention", o.EventRetention},
		{"RecaptchaMaxAge", o.RecaptchaMaxAge},
	} {
		if d.v < 0 {
			return o, fmt.Errorf("authgin: Options.%s must not be negative (got %s)", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"MinPasswordLength", o.MinPasswordLength}, {"MaxPasswordLength", o.MaxPasswordLength},
		{"HashConcurrency", o.HashConcurrency}, {"MailQueueSize", o.MailQueueSize},
	} {
		if n.v < 0 {
			return o, fmt.Errorf("authgin: Options.%s must not be negative (got %d)", n.name, n.v)
		}
	}

	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	switch {
	case o.Revocation < RevocationStateless || o.Revocation > RevocationStrict:
		return o, fmt.Errorf("authgin: Options.Revocation: unknown mode %d", int(o.Revocation))
	case o.Strict && o.Revocation == RevocationCached:
		return o, errors.New("authgin: Options.Strict selects RevocationStrict, but Options.Revocation is RevocationCached")
	case o.Strict:
		o.Revocation = RevocationStrict
	}
	o.Strict = o.Revocation == RevocationStrict
	def(&o.AccessTTL, 15*time.Minute)
	def(&o.RefreshTTL, 30*24*time.Hour)
	def(&o.RefreshIdleTTL, 7*24*time.Hour)
	def(&o.RotationGrace, 30*time.Second)
	def(&o.BlackoutRefresh, 10*time.Second)
	def(&o.ConfirmTTL, 48*time.Hour)
	def(&o.ResetTTL, time.Hour)
	def(&o.HashQueueTimeout, 5*time.Second)
	def(&o.DBTimeout, 5*time.Second)
	def(&o.PruneInterval, time.Hour)
	if o.EventRetention > 0 && o.EventRetention < o.AccessTTL {
		return o, fmt.Errorf("authgin: Options.EventRetention (%s) must be at least AccessTTL (%s)", o.EventRetention, o.AccessTTL)
	}
	str := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	str(&o.Issuer, "authgin")
	str(&o.Audience, "authgin")
	str(&o.AccessCookie, "access_token")
	str(&o.RefreshCookie, "refresh_token")
	str(&o.ConfirmPath, "/confirm")
	str(&o.ResetPath, "/reset_password")
	str(&o.Site, "authgin")
	str(&o.DisplayName, "authgin")
	str(&o.RecaptchaVerifyURL, "https://www.google.com/recaptcha/api/siteverify")
	str(&o.RecaptchaAction, "register")
	def(&o.RecaptchaMaxAge, 5*time.Minute)
	if o.RecaptchaMinScore > 1 {
		return o, fmt.Errorf("authgin: Options.RecaptchaMinScore must be at most 1 (got %g)", o.RecaptchaMinScore)
	}
	if o.RecaptchaMinScore == 0 {
		o.RecaptchaMinScore = 0.5
	}
	if o.RecaptchaHostnames == nil {
		o.RecaptchaHostnames = []string{u.Hostname()}
	}
	if o.MinPasswordLength == 0 {
		o.MinPasswordLength = 8
	}
	if o.MaxPasswordLength == 0 {
		o.MaxPasswordLength = 128
	}
	if o.MinPasswordLength > o.MaxPasswordLength {
		return o, fmt.Errorf("authgin: Options.MinPasswordLength (%d) exceeds MaxPasswordLength (%d)",
			o.MinPasswordLength, o.MaxPasswordLength)
	}
	if o.HashConcurrency == 0 {
		o.HashConcurrency = runtime.GOMAXPROCS(0)
	}
	if o.MailQueueSize == 0 {
		o.MailQueueSize = 1024
	}
	if o.Argon2 == (Argon2Params{}) {
		o.Argon2 = DefaultArgon2()
	}
	if err := o.Argon2.validate(); err != nil {
		return o, err
	}
	if o.ReservedUsernames == nil {
		o.ReservedUsernames = defaultReservedUsernames()
	}
	if o.Limits, err = o.Limits.withDefaults(); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Mailer == nil {
		o.Mailer = LogMailer{Logger: o.Logger, ShowBody: o.Debug}
	}
	if err := o.Cookie.validate(o.Debug); err != nil {
		return o, err
	}
	return o, nil
}

// refreshBodyToken reports whether /token/refresh's cookie answer carries
// the access token (Options.RefreshBodyToken).
func (o *Options) refreshBodyToken() bool { return o.RefreshBodyToken == nil || *o.RefreshBodyToken }

// loopbackHost reports whether host names this machine: localhost, a name
// under .localhost, or a loopback address. Browsers treat such origins as
// secure and keep Secure cookies from them over plain http.
func loopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
