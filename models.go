package authgin

// The GORM models of every table. Two are exported because users meet
// them: Account, which the Service returns (and apps may query in their
// own code), and SecurityEvent, the entries of GET /events. The others are
// storage rows only the store reads.

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// Account is a stored user (table "users"). Service calls return it;
// handlers answer with its public or private view, never the whole row.
type Account struct {
	ID          int64  `gorm:"primaryKey"`
	Email       string `gorm:"size:320;not null"`
	EmailKey    string `gorm:"size:320;not null;uniqueIndex"` // lower-cased address
	Username    string `gorm:"size:64;not null"`
	UsernameKey string `gorm:"size:64;not null;uniqueIndex"` // PRECIS UsernameCaseMapped
	// UsernameSkeleton is the UTS #39 confusable skeleton of UsernameKey
	// (usernameSkeleton), unique, so that names that look alike, such as
	// Cyrillic "сосо" and Latin "coco", cannot both exist. NULL only for an
	// account that registered before the column existed and whose skeleton
	// another account had taken by then.
	UsernameSkeleton *string `gorm:"size:255;uniqueIndex" json:"-"`
	// PasswordHash is a PHC string (argon2id), a bcrypt or a Django
	// pbkdf2_sha256 hash; empty for an account without a password.
	PasswordHash string      `gorm:"size:255;not null;default:''"`
	Permissions  Permissions `gorm:"type:text;not null"`
	Confirmed    bool        `gorm:"not null;default:false"`
	Banned       bool        `gorm:"not null;default:false"`
	CreatedAt    time.Time   `gorm:"not null"`
	UpdatedAt    time.Time   `gorm:"not null"`
	LastLoginAt  *time.Time
}

// TableName keeps authx's table name.
func (Account) TableName() string { return "users" }

// IsAdmin reports whether the account has the "admin" permission (authx).
func (a *Account) IsAdmin() bool { return slices.Contains(a.Permissions, PermissionAdmin) }

// PermissionAdmin is the permission that makes a user an admin (authx).
const PermissionAdmin = "admin"

// Permissions is a set of permission names stored as a JSON array.
type Permissions []string

// Value implements driver.Valuer.
func (p Permissions) Value() (driver.Value, error) {
	if p == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(p))
	return string(b), err
}

// Scan implements sql.Scanner.
func (p *Permissions) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*p = Permissions{}
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return errors.New("authgin: unsupported type for Permissions")
	}
	var s []string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*p = s
	return nil
}

// session is one login: the family of refresh tokens that rotation issues
// (table "sessions"). Its ID is the sid claim of access tokens.
type session struct {
	ID         string    `gorm:"primaryKey;size:43"`
	UserID     int64     `gorm:"not null;index"`
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt time.Time `gorm:"not null"`
	// ExpiresAt is the absolute end of the session; rotation never moves it.
	ExpiresAt time.Time `gorm:"not null"`
	IP        string    `gorm:"size:64;not null;default:''"`
	UserAgent string    `gorm:"size:512;not null;default:''"`
	RevokedAt *time.Time
	// AMR is how the login was authenticated: the amr claim's values joined
	// by commas ("pwd", "pwd,otp", "hwk"); empty in rows older than it.
	AMR string `gorm:"column:amr;size:32;not null;default:''"`
}

// refreshToken is one refresh token of a session, stored as the SHA-256 of
// the opaque token (table "refresh_tokens").
type refreshToken struct {
	TokenHash string    `gorm:"primaryKey;size:64"` // hex SHA-256
	SessionID string    `gorm:"size:43;not null;index"`
	UserID    int64     `gorm:"not null;index"`
	CreatedAt time.Time `gorm:"not null"`
	// ConsumedAt is set when rotation replaced this token.
	ConsumedAt *time.Time
}

// emailConfirmation is an outstanding email confirmation token. Email is
// the address key it confirms; NewEmail, when set, makes it an email
// change token that sets the account's address to NewEmail (whose key is
// Email).
type emailConfirmation struct {
	ID        int64     `gorm:"primaryKey"`
	UserID    int64     `gorm:"not null;index"`
	Email     string    `gorm:"size:320;not null"`
	NewEmail  string    `gorm:"size:320;not null;default:''"`
	TokenHash string    `gorm:"size:64;not null;uniqueIndex"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
}

// passwordReset is an outstanding password reset token.
type passwordReset struct {
	ID        int64     `gorm:"primaryKey"`
	UserID    int64     `gorm:"not null;index"`
	TokenHash string    `gorm:"size:64;not null;uniqueIndex"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
}

// throttleRow is one rate-limit counter: Count events since WindowStart, and
// a lockout until BlockedUntil once the limit was reached. Times are Unix
// milliseconds so that the atomic upsert compares numbers on every backend.
type throttleRow struct {
	Key          string `gorm:"primaryKey;column:bucket;size:255"`
	WindowStart  int64  `gorm:"not null"`
	Count        int64  `gorm:"not null"`
	BlockedUntil int64  `gorm:"not null;default:0"`
}

func (throttleRow) TableName() string { return "throttles" }

// blackoutRow is the global "every token issued before Cutoff is invalid"
// (table "blackouts", at most one row, ID 1), set by POST /blackout.
type blackoutRow struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
	// CutoffMS is the cutoff in Unix milliseconds.
	CutoffMS int64 `gorm:"not null"`
	// SetBy is the admin who set it.
	SetBy int64 `gorm:"not null;default:0"`
}

func (blackoutRow) TableName() string { return "blackouts" }

// revocationRow is a user's latest revocation of all its sessions (table
// "revocations", one row per user): access tokens of the user issued before
// ValidAfterMS are void, except those of KeepSessionID (the session that
// changed the password, if any) issued at or after KeepAfterMS. Times are
// Unix milliseconds. Options.Revocation's cached mode holds the recent rows
// in memory.
type revocationRow struct {
	UserID        int64  `gorm:"primaryKey;autoIncrement:false"`
	ValidAfterMS  int64  `gorm:"not null;index"`
	KeepSessionID string `gorm:"size:43;not null;default:''"`
	KeepAfterMS   int64  `gorm:"not null;default:0"`
}

func (revocationRow) TableName() string { return "revocations" }

// SecurityEvent is one entry of a user's security log (table
// "security_events"): logins, logouts, refresh-token reuse, password and
// username changes and admin actions. It never holds a secret.
type SecurityEvent struct {
	ID     int64  `gorm:"primaryKey" json:"id"`
	UserID int64  `gorm:"not null;index:idx_security_events_user,priority:1" json:"userId"`
	Event  string `gorm:"size:32;not null;index:idx_security_events_kind,priority:1" json:"event"`
	// ActorID is the admin who acted on the user; zero when the user acted.
	ActorID   int64  `gorm:"not null;default:0" json:"actorId,omitempty"`
	SessionID string `gorm:"size:43;not null;default:''" json:"sessionId,omitempty"`
	IP        string `gorm:"size:64;not null;default:''" json:"ip"`
	UserAgent string `gorm:"size:512;not null;default:''" json:"userAgent"`
	// Detail is short, non-secret context, e.g. "old -> new" for a username.
	Detail    string    `gorm:"size:255;not null;default:''" json:"detail,omitempty"`
	CreatedAt time.Time `gorm:"not null;index:idx_security_events_user,priority:2;index:idx_security_events_kind,priority:2" json:"createdAt"`
}

// userField is one of the app's own fields of a user (UserFieldsOf): its
// value as text, a string's own characters or JSON (table "user_fields").
// The (name, value) index serves searches on a field; its columns fit
// MySQL's utf8mb4 index limit. Deleting the user deletes its fields.
type userField struct {
	UserID int64    `gorm:"primaryKey;autoIncrement:false"`
	Name   string   `gorm:"primaryKey;size:64;index:idx_user_fields_search,priority:1"`
	Value  string   `gorm:"size:512;not null;index:idx_user_fields_search,priority:2"`
	User   *Account `gorm:"foreignKey:UserID;constraint:OnDelete:CASCADE"`
}

// oauthIdentity links an account to its identity at a social login
// provider (table "oauth_identities"): the provider's name and its
// subject (the stable user id it issues), unique together; an account has
// at most one identity per provider. Email is the address the provider
// gave when the identity was linked.
type oauthIdentity struct {
	ID       int64  `gorm:"primaryKey"`
	Provider string `gorm:"size:32;not null;uniqueIndex:idx_oauth_identities_subject,priority:1;uniqueIndex:idx_oauth_identities_user,priority:2"`
	Subject  string `gorm:"size:255;not null;uniqueIndex:idx_oauth_identities_subject,priority:2"`
	UserID   int64  `gorm:"not null;uniqueIndex:idx_oauth_identities_user,priority:1"`
	Email    string `gorm:"size:320;not null;default:''"`
	// EmailVerified: the provider said Email was verified when linked.
	EmailVerified bool      `gorm:"not null;default:false"`
	CreatedAt     time.Time `gorm:"not null"`
	LastLoginAt   *time.Time
}

func (oauthIdentity) TableName() string { return "oauth_identities" }

// oauthState is a social login in flight, between GET
// /oauth/{provider}/authorize and its callback (table "oauth_states"). ID
// is the SHA-256 of the state parameter, NonceHash that of the OpenID
// nonce; the callback deletes the row, so a state works once.
type oauthState struct {
	ID         string `gorm:"primaryKey;size:64"`
	Provider   string `gorm:"size:32;not null"`
	NonceHash  string `gorm:"size:64;not null"`
	Next       string `gorm:"size:512;not null;default:''"`
	LinkUserID int64  `gorm:"not null;default:0"` // the account to link; 0 logs in
	// LinkSession is the session that started a link: the link is
	// made only while it lives.
	LinkSession string    `gorm:"size:64;not null;default:''"`
	Bearer      bool      `gorm:"not null;default:false"`
	CreatedAt   time.Time `gorm:"not null"`
	ExpiresAt   time.Time `gorm:"not null;index"`
}

func (oauthState) TableName() string { return "oauth_states" }

// models lists every table the plugin migrates.
func models() []any {
	return []any{&Account{}, &session{}, &refreshToken{}, &emailConfirmation{}, &passwordReset{}, &throttleRow{}, &SecurityEvent{}, &blackoutRow{}, &userField{}, &revocationRow{},
		&oauthIdentity{}, &oauthState{},
		&totpFactor{}, &recoveryCode{}, &mfaChallenge{}, &webauthnUser{}, &webauthnCredential{}, &webauthnCeremony{}}
}

// totpFactor is a user's TOTP authenticator (table "mfa_totp"): Secret is
// the base32 secret sealed with the MFA key (internal/sealbox), never the
// secret itself. A row with Enabled false is a setup awaiting its first
// code. LastStep is the time step of the last code accepted, so that no
// code is accepted twice.
type totpFactor struct {
	UserID    int64     `gorm:"primaryKey;autoIncrement:false"`
	Secret    string    `gorm:"size:255;not null"`
	Enabled   bool      `gorm:"not null;default:false"`
	LastStep  int64     `gorm:"not null;default:0"`
	CreatedAt time.Time `gorm:"not null"`
	EnabledAt *time.Time
}

func (totpFactor) TableName() string { return "mfa_totp" }

// recoveryCode is one single-use recovery code of a user (table
// "mfa_recovery_codes"), stored as a keyed hash (HMAC-SHA256, hex).
type recoveryCode struct {
	ID       int64  `gorm:"primaryKey"`
	UserID   int64  `gorm:"not null;index"`
	CodeHash string `gorm:"size:64;not null;uniqueIndex"`
	UsedAt   *time.Time
}

func (recoveryCode) TableName() string { return "mfa_recovery_codes" }

// mfaChallenge is a login waiting for its second factor (table
// "mfa_challenges"): the SHA-256 of the mfa_token that POST /login
// answered, single use and short-lived.
type mfaChallenge struct {
	TokenHash string    `gorm:"primaryKey;size:64"`
	UserID    int64     `gorm:"not null;index"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	UsedAt    *time.Time
	// FirstFactor is the amr of the login's first step: pwd, or fed for
	// a social login.
	FirstFactor string `gorm:"size:8;not null;default:pwd"`
}

func (mfaChallenge) TableName() string { return "mfa_challenges" }

// webauthnUser is a user's WebAuthn user handle (table "webauthn_users"):
// 32 random bytes, hex, the same for all of the user's passkeys, so that a
// discoverable login names the user without revealing its id.
type webauthnUser struct {
	UserID int64  `gorm:"primaryKey;autoIncrement:false"`
	Handle string `gorm:"size:64;not null;uniqueIndex"`
}

func (webauthnUser) TableName() string { return "webauthn_users" }

// webauthnCredential is a registered passkey (table
// "webauthn_credentials"): its credential id (base64url), the relying
// party it was registered for, go-webauthn's Credential record as JSON
// (public key, flags, authenticator data), its sign counter and name.
type webauthnCredential struct {
	ID           int64     `gorm:"primaryKey"`
	UserID       int64     `gorm:"not null;index"`
	CredentialID string    `gorm:"size:255;not null;uniqueIndex"`
	RPID         string    `gorm:"column:rp_id;size:255;not null"`
	Name         string    `gorm:"size:64;not null;default:''"`
	Data         string    `gorm:"type:text;not null"`
	SignCount    int64     `gorm:"not null;default:0"`
	CreatedAt    time.Time `gorm:"not null"`
	LastUsedAt   *time.Time
}

func (webauthnCredential) TableName() string { return "webauthn_credentials" }

// webauthnCeremony is a WebAuthn ceremony between its begin and finish
// calls (table "webauthn_ceremonies"): the SHA-256 of the ceremony token
// the client holds, the user it is bound to (0 for a passkey login), its
// kind, and go-webauthn's SessionData as JSON (the challenge). Single use.
type webauthnCeremony struct {
	TokenHash string    `gorm:"primaryKey;size:64"`
	UserID    int64     `gorm:"not null;default:0"`
	Kind      string    `gorm:"size:16;not null"`
	Data      string    `gorm:"type:text;not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

func (webauthnCeremony) TableName() string { return "webauthn_ceremonies" }
