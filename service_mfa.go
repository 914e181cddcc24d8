package authgin

// Second factors: TOTP (RFC 6238, github.com/pquerna/otp) with single-use
// recovery codes, and the login step that asks for one. Every state lives
// in the database (store_mfa.go); TOTP secrets are sealed with a key
// derived from Options.MFAKey or Options.Secret (internal/sealbox).

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authgin/authgin/internal/sealbox"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	qrcode "github.com/skip2/go-qrcode"
)

// Second-factor errors.
var (
	ErrInvalidCode     = newError(http.StatusUnauthorized, "invalid_code", "Invalid code")
	ErrInvalidMFAToken = newError(http.StatusUnauthorized, "invalid_mfa_token", "Invalid or expired mfa_token")
	ErrMFARequired     = newError(http.StatusForbidden, "mfa_required", "A second factor is required")
	ErrTOTPEnabled     = newError(http.StatusBadRequest, "totp_enabled", "TOTP is already enabled")
	ErrTOTPNotSetUp    = newError(http.StatusBadRequest, "totp_not_set_up", "TOTP is not set up")
	ErrTOTPNotEnabled  = newError(http.StatusBadRequest, "totp_not_enabled", "TOTP is not enabled")
	ErrMFAUnavailable  = newError(http.StatusNotFound, "mfa_unavailable", "Second factors are not configured")
	ErrReauthRequired  = newError(http.StatusForbidden, "reauthentication_required", "Log in again to add a second factor")
)

// Security events of second factors.
const (
	EventTOTPEnabled   = "mfa_totp_enabled"
	EventTOTPDisabled  = "mfa_totp_disabled"
	EventMFAReset      = "mfa_reset" // an admin removed the user's factors
	EventRecoveryUsed  = "mfa_recovery_used"
	EventRecoveryCodes = "mfa_recovery_codes" // new recovery codes replaced the old
)

// Authentication method references (RFC 8176) of the amr claim.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRHardware = "hwk"
	// AMRFederated marks a social login: the provider authenticated the
	// user. RFC 8176 registers no value for it.
	AMRFederated = "fed"
)

// amrPassword is the amr of a password login.
func amrPassword() []string { return []string{AMRPassword} }

const (
	// recentLogin is how long after its login a session may add a second
	// factor: a stolen session older than this cannot add the thief's
	// authenticator or passkey.
	recentLogin = 10 * time.Minute
	// mfaTokenTTL is how long a login waits for its second factor.
	mfaTokenTTL = 5 * time.Minute
	// totpPeriod and totpSkew: 30-second steps, one step either side.
	totpPeriod = 30
	totpSkew   = 1
	// recoveryCodeCount codes of recoveryCodeBytes random bytes each.
	recoveryCodeCount = 10
	recoveryCodeBytes = 10 // 80 bits, 16 base32 characters
)

// amr returns the session's authentication methods.
func (s *session) amr() []string {
	if s.AMR == "" {
		return amrPassword()
	}
	return strings.Split(s.AMR, ",")
}

// mfaKeys seal TOTP secrets and key the recovery codes' hashes.
type mfaKeys struct {
	box     *sealbox.Box
	codeKey []byte
}

// newMFAKeys derives the keys from o.MFAKey, else o.Secret; nil when
// neither is set (TOTP and recovery codes off).
func newMFAKeys(o *Options) (*mfaKeys, error) {
	secret := o.MFAKey
	if len(secret) == 0 {
		secret = o.Secret
	}
	if len(secret) == 0 {
		return nil, nil
	}
	box, err := sealbox.New(secret, "totp secret")
	if err != nil {
		return nil, err
	}
	codeKey, err := hkdf.Key(sha256.New, secret, nil, "authgin recovery codes v1", 32)
	if err != nil {
		return nil, err
	}
	return &mfaKeys{box: box, codeKey: codeKey}, nil
}

// totpAD binds a sealed secret to its user.
func totpAD(id int64) []byte { return []byte("authgin totp user " + strconv.FormatInt(id, 10)) }

// codeHash is the stored form of a recovery code: HMAC-SHA256 under the
// MFA key of the normalised code, so that a copy of the table alone does
// not allow an offline search.
func (k *mfaKeys) codeHash(code string) string {
	m := hmac.New(sha256.New, k.codeKey)
	m.Write([]byte(normaliseRecoveryCode(code)))
	return hex.EncodeToString(m.Sum(nil))
}

// normaliseRecoveryCode drops separators and spaces and lower-cases.
func normaliseRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
}

// newRecoveryCodes returns fresh codes ("xxxx-xxxx-xxxx-xxxx") and their
// hashes.
func (k *mfaKeys) newRecoveryCodes() (codes, hashes []string, err error) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range recoveryCodeCount {
		b := make([]byte, recoveryCodeBytes)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		s := strings.ToLower(enc.EncodeToString(b))
		code := s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
		codes = append(codes, code)
		hashes = append(hashes, k.codeHash(code))
	}
	return codes, hashes, nil
}

// TOTPSetup is what POST /mfa/totp/setup answers: the secret to type or
// scan, as base32, an otpauth:// URI and that URI as a QR code PNG data URL.
type TOTPSetup struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	QRCode     string `json:"qr_png,omitempty"`
}

// MFAStatus is what GET /mfa answers: the user's second factors.
type MFAStatus struct {
	// Methods are the second factors a login may use ("totp",
	// "webauthn", "recovery").
	Methods []string `json:"methods"`
	TOTP    struct {
		Enabled   bool       `json:"enabled"`
		EnabledAt *time.Time `json:"enabled_at"`
	} `json:"totp"`
	RecoveryCodesLeft int64 `json:"recovery_codes_left"`
	// Passkeys are the registered passkeys.
	Passkeys []PasskeyInfo `json:"passkeys"`
}

// MFARequired is the error Login returns for a correct password of an
// account with a second factor: no session was opened; LoginMFA with
// Token and a code completes the login. POST /login answers it as 200.
type MFARequired struct {
	Token   string   `json:"mfa_token"`
	Methods []string `json:"methods"`
}

// Error says that the login waits for its second factor.
func (e *MFARequired) Error() string { return "authgin: a second factor is required to log in" }

// LoginMFAInput is the body of POST /login/mfa: the mfa_token and either
// a code (TOTP or recovery) or a passkey assertion (Credential, the
// PublicKeyCredential as JSON, answering the ceremony that POST
// /webauthn/login/begin started for the mfa_token).
type LoginMFAInput struct {
	MFAToken   string          `json:"mfa_token"`
	Code       string          `json:"code"`
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
}

// requireRecentLogin refuses a session of u that logged in more than
// recentLogin ago (ErrReauthRequired).
func (s *Service) requireRecentLogin(ctx context.Context, u User) error {
	at, found, err := s.st.sessionLoginTime(ctx, u.SessionID, u.ID)
	if err != nil {
		return err
	}
	if !found {
		return ErrUnauthorized
	}
	if s.now().Sub(at) > recentLogin {
		return ErrReauthRequired
	}
	return nil
}

func (s *Service) mfaOn() error {
	if s.mfa == nil {
		return ErrMFAUnavailable
	}
	return nil
}

// MFA lists user id's second factors.
func (s *Service) MFA(ctx context.Context, id int64) (MFAStatus, error) {
	var st MFAStatus
	st.Methods = []string{}
	f, err := s.st.totpOf(ctx, id)
	if err != nil {
		return st, err
	}
	if f != nil && f.Enabled {
		st.TOTP.Enabled = true
		if f.EnabledAt != nil {
			t := f.EnabledAt.UTC()
			st.TOTP.EnabledAt = &t
		}
		if st.RecoveryCodesLeft, err = s.st.recoveryCodesLeft(ctx, id); err != nil {
			return st, err
		}
	}
	if st.Passkeys, err = s.Passkeys(ctx, id); err != nil {
		return st, err
	}
	if st.TOTP.Enabled {
		st.Methods = append(st.Methods, "totp")
	}
	if len(st.Passkeys) > 0 {
		st.Methods = append(st.Methods, "webauthn")
	}
	if st.TOTP.Enabled {
		st.Methods = append(st.Methods, "recovery")
	}
	return st, nil
}

// SetupTOTP starts (or restarts) the TOTP setup of user u: a new secret,
// sealed and stored as pending until EnableTOTP sees a code from it. The
// session must have logged in recently (ErrReauthRequired), as for
// EnableTOTP.
func (s *Service) SetupTOTP(ctx context.Context, u User) (TOTPSetup, error) {
	if err := s.mfaOn(); err != nil {
		return TOTPSetup{}, err
	}
	acct, err := s.st.accountByID(ctx, u.ID)
	if err != nil {
		return TOTPSetup{}, err
	}
	if acct == nil {
		return TOTPSetup{}, ErrUnauthorized
	}
	if err := s.requireRecentLogin(ctx, u); err != nil {
		return TOTPSetup{}, err
	}
	if f, err := s.st.totpOf(ctx, u.ID); err != nil {
		return TOTPSetup{}, err
	} else if f != nil && f.Enabled {
		return TOTPSetup{}, ErrTOTPEnabled
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.o.Site, AccountName: acct.Email, Period: totpPeriod})
	if err != nil {
		return TOTPSetup{}, err
	}
	sealed, err := s.mfa.box.Seal([]byte(key.Secret()), totpAD(u.ID))
	if err != nil {
		return TOTPSetup{}, err
	}
	if err := s.st.putPendingTOTP(ctx, u.ID, sealed, s.now()); err != nil {
		if errors.Is(err, errDuplicate) {
			return TOTPSetup{}, ErrTOTPEnabled
		}
		return TOTPSetup{}, err
	}
	out := TOTPSetup{Secret: key.Secret(), OTPAuthURL: key.URL()}
	if png, err := qrcode.Encode(key.URL(), qrcode.Medium, 256); err == nil {
		out.QRCode = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	}
	return out, nil
}

// EnableTOTP turns on the pending TOTP setup of user u when code is a
// current code of its secret, and returns the user's new recovery codes
// (shown once; only their hashes are stored).
func (s *Service) EnableTOTP(ctx context.Context, u User, code string, cl Client) ([]string, error) {
	if err := s.mfaOn(); err != nil {
		return nil, err
	}
	f, err := s.st.totpOf(ctx, u.ID)
	switch {
	case err != nil:
		return nil, err
	case f == nil:
		return nil, ErrTOTPNotSetUp
	case f.Enabled:
		return nil, ErrTOTPEnabled
	}
	if err := s.requireRecentLogin(ctx, u); err != nil {
		return nil, err
	}
	var step int64
	if err := s.guardCode(ctx, u.ID, func() (bool, error) {
		var ok bool
		step, ok = s.matchTOTP(f, code)
		return ok, nil
	}); err != nil {
		return nil, err
	}
	codes, hashes, err := s.mfa.newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	ok, err := s.st.enableTOTP(ctx, u.ID, step, hashes, s.now())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrTOTPEnabled
	}
	s.factorChanged(ctx, u.ID, EventTOTPEnabled, 0, cl)
	return codes, nil
}

// PresenceProof proves the user's presence for a change of its second
// factors: the password, or a current TOTP or recovery code.
type PresenceProof struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

// enabledTOTP loads user u's account and checks that its TOTP factor is
// on and that in proves the user's presence.
func (s *Service) enabledTOTP(ctx context.Context, u User, in PresenceProof, cl Client) error {
	if err := s.mfaOn(); err != nil {
		return err
	}
	acct, err := s.st.accountByID(ctx, u.ID)
	if err != nil {
		return err
	}
	if acct == nil {
		return ErrUnauthorized
	}
	f, err := s.st.totpOf(ctx, u.ID)
	if err != nil {
		return err
	}
	if f == nil || !f.Enabled {
		return ErrTOTPNotEnabled
	}
	switch {
	case in.Password != "":
		return s.checkCurrentPassword(ctx, acct, in.Password, cl)
	case in.Code != "":
		_, err := s.checkSecondFactor(ctx, acct.ID, in.Code)
		return err
	}
	return ErrInvalidInput.withDetail("Send the password or a code")
}

// DisableTOTP removes user u's TOTP factor and recovery codes after the
// password or a code checks out.
func (s *Service) DisableTOTP(ctx context.Context, u User, in PresenceProof, cl Client) error {
	if err := s.enabledTOTP(ctx, u, in, cl); err != nil {
		return err
	}
	if _, err := s.st.deleteFactors(ctx, u.ID, false); err != nil {
		return err
	}
	s.factorChanged(ctx, u.ID, EventTOTPDisabled, 0, cl)
	return nil
}

// NewRecoveryCodes replaces user u's recovery codes with ten new ones,
// after the password or a code checks out, and returns them (shown once).
func (s *Service) NewRecoveryCodes(ctx context.Context, u User, in PresenceProof, cl Client) ([]string, error) {
	if err := s.enabledTOTP(ctx, u, in, cl); err != nil {
		return nil, err
	}
	codes, hashes, err := s.mfa.newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		return tx.replaceRecoveryCodes(ctx, u.ID, hashes)
	}); err != nil {
		return nil, err
	}
	s.factorChanged(ctx, u.ID, EventRecoveryCodes, 0, cl)
	return codes, nil
}

// ResetMFA removes every second factor of user id (an admin's help for a
// lost device); actor is the admin. ErrUserNotFound for no such user.
func (s *Service) ResetMFA(ctx context.Context, actor User, id int64, cl Client) error {
	acct, err := s.st.accountByID(ctx, id)
	if err != nil {
		return err
	}
	if acct == nil {
		return ErrUserNotFound
	}
	if _, err := s.st.deleteFactors(ctx, id, true); err != nil {
		return err
	}
	s.factorChanged(ctx, id, EventMFAReset, actor.ID, cl)
	return nil
}

// factorChanged records the event and mails the "second factor changed"
// notice.
func (s *Service) factorChanged(ctx context.Context, id int64, event string, actor int64, cl Client) {
	s.log.InfoContext(ctx, "authgin: second factor changed", "user_id", id, "event", event, "ip", cl.IP)
	s.record(ctx, SecurityEvent{UserID: id, Event: event, ActorID: actor}, cl)
	acct, err := s.st.accountByID(ctx, id)
	if err != nil || acct == nil {
		return
	}
	email, username := acct.Email, acct.Username
	s.outbox.enqueueLater(queuedMail{to: email, what: "second factor changed", compose: func() (Message, error) {
		return s.mails.mfaChanged(email, username)
	}})
}

// mfaBucket is the MFAAccount counter of user id.
func mfaBucket(id int64) string { return "mfa:account:" + hashOpaque("id:"+strconv.FormatInt(id, 10)) }

// guardCode runs check, the verification of a code user id sent, under
// the MFAAccount limit: the try is counted before the code is looked at;
// a right code forgets the failures, a wrong one stays counted and is
// ErrInvalidCode.
func (s *Service) guardCode(ctx context.Context, id int64, check func() (bool, error)) error {
	key := mfaBucket(id)
	wait, err := s.limits.attempt(ctx, key, s.o.Limits.MFAAccount)
	if err != nil {
		return err
	}
	if wait > 0 {
		return ErrTooManyRequests.withRetry(wait)
	}
	ok, err := check()
	if err != nil {
		if !s.o.Limits.MFAAccount.off() {
			s.undoHits(ctx, key) // no guess was judged
		}
		return err
	}
	if !ok {
		return ErrInvalidCode
	}
	if !s.o.Limits.MFAAccount.off() {
		if err := s.limits.reset(ctx, key); err != nil {
			s.log.ErrorContext(ctx, "authgin: throttle reset failed", "err", err)
		}
	}
	return nil
}

// matchTOTP reports whether code is f's code for the current step or one
// step either side, later than the last step used; step is the one it
// matched. Codes are compared in constant time.
func (s *Service) matchTOTP(f *totpFactor, code string) (step int64, ok bool) {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	secret, err := s.mfa.box.Open(f.Secret, totpAD(f.UserID))
	if err != nil {
		s.log.Error("authgin: a TOTP secret does not open with the MFA key", "user_id", f.UserID)
		return 0, false
	}
	now := s.now()
	cur := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		st := cur + d
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(st*totpPeriod, 0),
			totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && st > f.LastStep {
			return st, true
		}
	}
	return 0, false
}

// checkSecondFactor verifies code, a TOTP code or a recovery code, for
// user id and consumes it (the TOTP step or the recovery code), under the
// MFAAccount limit. It returns the amr of the factor used.
func (s *Service) checkSecondFactor(ctx context.Context, id int64, code string) (string, error) {
	if err := noNUL(code); err != nil {
		return "", err
	}
	if len(code) > 64 {
		return "", ErrInvalidCode
	}
	used := ""
	err := s.guardCode(ctx, id, func() (bool, error) {
		if len(code) == 6 {
			f, err := s.st.totpOf(ctx, id)
			if err != nil || f == nil || !f.Enabled {
				return false, err
			}
			step, ok := s.matchTOTP(f, code)
			if !ok {
				return false, nil
			}
			if ok, err = s.st.useTOTPStep(ctx, id, step); !ok || err != nil {
				return false, err // a parallel request used the step: a replay
			}
			used = "totp"
			return true, nil
		}
		ok, err := s.st.useRecoveryCode(ctx, id, s.mfa.codeHash(code), s.now())
		if ok {
			used = "recovery"
		}
		return ok, err
	})
	return used, err
}

// mfaMethods lists the second factors of user id that a login may use;
// empty when it has none. An account with passkeys while passkeys are
// off (a BaseURL WebAuthn refuses) still needs its second factor: the
// login waits for it (and fails) rather than skip it.
func (s *Service) mfaMethods(ctx context.Context, id int64) ([]string, error) {
	totpOn, keys, err := s.st.secondFactors(ctx, id)
	if err != nil {
		return nil, err
	}
	var m []string
	if totpOn {
		m = append(m, "totp")
	}
	if keys {
		m = append(m, "webauthn")
	}
	if totpOn {
		m = append(m, "recovery")
	}
	return m, nil
}

// startMFA stores a challenge for acct's login and returns it as the
// MFARequired error.
func (s *Service) startMFA(ctx context.Context, acct *Account, methods []string, firstFactor string) error {
	token, hash, err := newOpaqueToken()
	if err != nil {
		return err
	}
	now := s.now()
	if err := s.st.insertChallenge(ctx, &mfaChallenge{TokenHash: hash, UserID: acct.ID, CreatedAt: now, ExpiresAt: now.Add(mfaTokenTTL), FirstFactor: firstFactor}); err != nil {
		return err
	}
	return &MFARequired{Token: token, Methods: methods}
}

// LoginMFA completes a login that Login answered with MFARequired: the
// mfa_token must be live (single use, 5 minutes) and the code a TOTP or
// recovery code of its account, or the assertion one of its passkeys. A
// wrong factor counts as a failed login (security event, OnLoginFailed,
// the MFAAccount backoff) and keeps the token; the right one consumes it
// and opens the session.
func (s *Service) LoginMFA(ctx context.Context, in LoginMFAInput, cl Client) (*Account, Tokens, error) {
	if err := noNUL(in.MFAToken, in.Code, in.Ceremony); err != nil {
		return nil, Tokens{}, err
	}
	acct, first, err := s.challengeAccount(ctx, in.MFAToken, cl)
	if err != nil {
		return nil, Tokens{}, err
	}
	used, amr := "", []string{first, AMROTP}
	if len(in.Credential) > 0 && string(in.Credential) != "null" {
		used, amr = "passkey", []string{first, AMRHardware}
		err = s.checkPasskeyFactor(ctx, acct, in.Ceremony, in.Credential)
	} else if err = s.mfaOn(); err == nil {
		used, err = s.checkSecondFactor(ctx, acct.ID, in.Code)
	}
	if errors.Is(err, ErrInvalidCode) {
		s.log.InfoContext(ctx, "authgin: login failed", "known_user", true, "second_factor", true, "ip", cl.IP)
		s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventLoginFailed, Detail: "second factor"}, cl)
		runHook(ctx, s.log, "OnLoginFailed", s.o.Hooks.OnLoginFailed, LoginFailedEvent{
			Login: acct.Username, UserEvent: UserEvent{UserID: acct.ID, Username: acct.Username, IP: cl.IP, UserAgent: cl.UserAgent, Time: s.now()}})
	}
	if err != nil {
		return nil, Tokens{}, err
	}
	a, toks, err := s.completeLogin(ctx, acct, hashOpaque(in.MFAToken), amr, used, cl)
	if err == nil && used == "recovery" {
		s.record(ctx, SecurityEvent{UserID: acct.ID, Event: EventRecoveryUsed, SessionID: toks.AccessClaims.SessionID}, cl)
	}
	return a, toks, err
}

// completeLogin opens the session of a login whose factors checked out,
// consuming the mfa challenge with hash first (when not empty): one
// transaction for the challenge, the login time, the session and its
// event. how is the login event's detail.
func (s *Service) completeLogin(ctx context.Context, acct *Account, challenge string, amr []string, how string, cl Client) (*Account, Tokens, error) {
	now := s.now()
	ev := s.newEvent(SecurityEvent{UserID: acct.ID, Event: EventLogin, Detail: how}, cl)
	var toks Tokens
	err := s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		if challenge != "" {
			ok, err := tx.useChallenge(ctx, challenge, now)
			if err != nil {
				return err
			}
			if !ok {
				return ErrInvalidMFAToken // a parallel request used it
			}
		}
		if err := tx.recordLogin(ctx, acct.ID, now, acct.PasswordHash, acct.PasswordHash); err != nil {
			return err
		}
		var err error
		if toks, err = s.startSessionAMR(ctx, tx, acct, cl, now, amr); err != nil {
			return err
		}
		ev.SessionID = toks.AccessClaims.SessionID
		return tx.insertEvent(ctx, &ev)
	})
	if err != nil {
		return nil, Tokens{}, err
	}
	acct.LastLoginAt, acct.UpdatedAt = &now, now
	s.log.InfoContext(ctx, "authgin: login", "user_id", acct.ID, "ip", cl.IP, "method", how)
	runHook(ctx, s.log, "OnSecurityEvent", s.o.Hooks.OnSecurityEvent, ev)
	runHook(ctx, s.log, "OnLogin", s.o.Hooks.OnLogin, s.userEvent(acct, toks.AccessClaims.SessionID, cl))
	return acct, toks, nil
}

// hasSecondFactor reports whether claims show a second factor.
func (c *AccessClaims) hasSecondFactor() bool {
	return slices.Contains(c.AMR, AMROTP) || slices.Contains(c.AMR, AMRHardware)
}
