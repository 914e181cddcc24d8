package authgin

// Passkeys (WebAuthn, github.com/go-webauthn/webauthn): registration of
// discoverable credentials, usernameless login with one, and a passkey as
// the second factor of a password login. The relying party is BaseURL's
// host and origin; ceremonies (challenges) and credentials live in the
// database (store_webauthn.go), so that begin and finish may reach
// different instances.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Passkey errors.
var (
	ErrInvalidCeremony     = newError(http.StatusBadRequest, "invalid_ceremony", "Unknown, used or expired ceremony")
	ErrInvalidPasskey      = newError(http.StatusBadRequest, "invalid_passkey", "The passkey response was not accepted")
	ErrPasskeyRefused      = newError(http.StatusUnauthorized, "invalid_passkey", "The passkey was not accepted")
	ErrPasskeyNotFound     = newError(http.StatusNotFound, "passkey_not_found", "Passkey not found")
	ErrNoPasskeys          = newError(http.StatusBadRequest, "no_passkeys", "The account has no passkey")
	ErrPasskeysUnavailable = newError(http.StatusNotFound, "passkeys_unavailable", "Passkeys are not configured")
)

// Security events of passkeys.
const (
	EventPasskeyAdded   = "passkey_added"
	EventPasskeyRemoved = "passkey_removed"
)

// ceremonyTTL is how long a WebAuthn ceremony waits for its finish.
const ceremonyTTL = 5 * time.Minute

// Ceremony kinds.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login" // usernameless
	ceremonyMFA      = "mfa"   // second factor of a password login
)

// passkeys is the relying party.
type passkeys struct {
	wa   *webauthn.WebAuthn
	rpID string
}

// newPasskeys configures the relying party from BaseURL: its host is the
// RP ID and its origin the only accepted origin. Nil (passkeys off) when
// go-webauthn refuses it, e.g. for an IP address, which is no valid RP ID.
func newPasskeys(o *Options) *passkeys {
	u, err := url.Parse(o.BaseURL)
	if err != nil {
		return nil
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: o.Site, RPOrigins: []string{u.Scheme + "://" + u.Host},
	})
	if err != nil {
		o.Logger.Warn("authgin: passkeys are off: BaseURL is no WebAuthn relying party", "err", err)
		return nil
	}
	return &passkeys{wa: wa, rpID: u.Hostname()}
}

// waUser is an account as go-webauthn sees it.
type waUser struct {
	acct   *Account
	handle []byte
	rows   []webauthnCredential
	creds  []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.acct.Username }
func (u *waUser) WebAuthnDisplayName() string                { return u.acct.Username }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// row returns the stored passkey of credential id raw.
func (u *waUser) row(raw []byte) *webauthnCredential {
	id := base64.RawURLEncoding.EncodeToString(raw)
	for i := range u.rows {
		if u.rows[i].CredentialID == id {
			return &u.rows[i]
		}
	}
	return nil
}

// loadWAUser loads acct's handle (created when create is set) and
// passkeys.
func (s *Service) loadWAUser(ctx context.Context, acct *Account, create bool) (*waUser, error) {
	u := &waUser{acct: acct}
	var h string
	var err error
	if create {
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		h, err = s.st.webauthnHandle(ctx, acct.ID, hex.EncodeToString(fresh))
	} else {
		h, err = s.st.webauthnHandle(ctx, acct.ID, "")
	}
	if err != nil {
		return nil, err
	}
	if u.handle, err = hex.DecodeString(h); err != nil {
		return nil, err
	}
	if u.rows, err = s.st.webauthnCredentials(ctx, acct.ID); err != nil {
		return nil, err
	}
	for _, r := range u.rows {
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(r.Data), &c); err != nil {
			return nil, err
		}
		if r.SignCount < 0 || r.SignCount > math.MaxUint32 {
			return nil, fmt.Errorf("authgin: passkey %d has sign count %d", r.ID, r.SignCount)
		}
		c.Authenticator.SignCount = uint32(r.SignCount) // #nosec G115 -- checked just above
		u.creds = append(u.creds, c)
	}
	return u, nil
}

func (s *Service) passkeysOn() error {
	if s.passkeys == nil {
		return ErrPasskeysUnavailable
	}
	return nil
}

// PasskeyInfo describes a registered passkey (GET /webauthn/credentials).
type PasskeyInfo struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func passkeyInfo(r *webauthnCredential) PasskeyInfo {
	p := PasskeyInfo{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
	if r.LastUsedAt != nil {
		t := r.LastUsedAt.UTC()
		p.LastUsedAt = &t
	}
	return p
}

// Ceremony is what a begin call answers: the ceremony token to send to
// the finish call and the options for navigator.credentials.create() or
// .get() (their publicKey member).
type Ceremony struct {
	Token     string `json:"ceremony"`
	PublicKey any    `json:"publicKey"`
}

// startCeremony stores session under a new ceremony token.
func (s *Service) startCeremony(ctx context.Context, kind string, userID int64, session *webauthn.SessionData, options any) (Ceremony, error) {
	data, err := json.Marshal(session)
	if err != nil {
		return Ceremony{}, err
	}
	token, hash, err := newOpaqueToken()
	if err != nil {
		return Ceremony{}, err
	}
	if err := s.st.insertCeremony(ctx, &webauthnCeremony{TokenHash: hash, UserID: userID, Kind: kind, Data: string(data),
		ExpiresAt: s.now().Add(ceremonyTTL)}); err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Token: token, PublicKey: options}, nil
}

// takeCeremony consumes the ceremony of token and kind and returns its
// session data and user.
func (s *Service) takeCeremony(ctx context.Context, token, kind string) (webauthn.SessionData, int64, error) {
	var sd webauthn.SessionData
	if token == "" || len(token) > maxOpaqueLen {
		return sd, 0, ErrInvalidCeremony
	}
	c, err := s.st.takeCeremony(ctx, hashOpaque(token), kind, s.now())
	if err != nil {
		return sd, 0, err
	}
	if c == nil {
		return sd, 0, ErrInvalidCeremony
	}
	if err := json.Unmarshal([]byte(c.Data), &sd); err != nil {
		return sd, 0, err
	}
	return sd, c.UserID, nil
}

// BeginPasskeyRegistration starts registering a passkey (a discoverable
// credential with user verification) for user u, whose session must have
// logged in recently (ErrReauthRequired); the ceremony then lasts 5
// minutes.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, u User) (Ceremony, error) {
	if err := s.passkeysOn(); err != nil {
		return Ceremony{}, err
	}
	acct, err := s.st.accountByID(ctx, u.ID)
	if err != nil {
		return Ceremony{}, err
	}
	if acct == nil {
		return Ceremony{}, ErrUnauthorized
	}
	if err := s.requireRecentLogin(ctx, u); err != nil {
		return Ceremony{}, err
	}
	wu, err := s.loadWAUser(ctx, acct, true)
	if err != nil {
		return Ceremony{}, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range wu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.passkeys.wa.BeginRegistration(wu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return Ceremony{}, err
	}
	return s.startCeremony(ctx, ceremonyRegister, acct.ID, session, creation.Response)
}

// FinishPasskeyRegistration checks the authenticator's answer (credential,
// the PublicKeyCredential as JSON) to the ceremony of token and stores the
// passkey under name.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, u User, token, name string, credential []byte, cl Client) (PasskeyInfo, error) {
	if err := s.passkeysOn(); err != nil {
		return PasskeyInfo{}, err
	}
	if err := noNUL(name); err != nil {
		return PasskeyInfo{}, err
	}
	session, owner, err := s.takeCeremony(ctx, token, ceremonyRegister)
	if err != nil {
		return PasskeyInfo{}, err
	}
	if owner != u.ID {
		return PasskeyInfo{}, ErrInvalidCeremony
	}
	acct, err := s.st.accountByID(ctx, u.ID)
	if err != nil {
		return PasskeyInfo{}, err
	}
	if acct == nil {
		return PasskeyInfo{}, ErrUnauthorized
	}
	wu, err := s.loadWAUser(ctx, acct, false)
	if err != nil {
		return PasskeyInfo{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return PasskeyInfo{}, ErrInvalidPasskey
	}
	cred, err := s.passkeys.wa.CreateCredential(wu, session, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "authgin: passkey registration refused", "user_id", u.ID, "err", err)
		return PasskeyInfo{}, ErrInvalidPasskey
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return PasskeyInfo{}, err
	}
	name = clean(strings.TrimSpace(name), 64)
	if name == "" {
		name = "Passkey"
	}
	row := &webauthnCredential{UserID: u.ID, CredentialID: base64.RawURLEncoding.EncodeToString(cred.ID), RPID: s.passkeys.rpID,
		Name: name, Data: string(data), SignCount: int64(cred.Authenticator.SignCount), CreatedAt: s.now()}
	if err := s.st.insertWebauthnCredential(ctx, row); err != nil {
		if errors.Is(err, errDuplicate) {
			return PasskeyInfo{}, ErrInvalidPasskey.withDetail("The passkey is registered already")
		}
		return PasskeyInfo{}, err
	}
	s.factorChanged(ctx, u.ID, EventPasskeyAdded, 0, cl)
	return passkeyInfo(row), nil
}

// Passkeys lists user id's passkeys.
func (s *Service) Passkeys(ctx context.Context, id int64) ([]PasskeyInfo, error) {
	rows, err := s.st.webauthnCredentials(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]PasskeyInfo, 0, len(rows))
	for i := range rows {
		out = append(out, passkeyInfo(&rows[i]))
	}
	return out, nil
}

// DeletePasskey removes user u's passkey id. Like adding one, it needs a
// session that logged in within the last 10 minutes (ErrReauthRequired):
// a stolen older session must not strip a second factor.
func (s *Service) DeletePasskey(ctx context.Context, u User, id int64, cl Client) error {
	if err := s.requireRecentLogin(ctx, u); err != nil {
		return err
	}
	ok, err := s.st.deleteWebauthnCredential(ctx, u.ID, id)
	if err != nil {
		return err
	}
	if !ok {
		return ErrPasskeyNotFound
	}
	s.factorChanged(ctx, u.ID, EventPasskeyRemoved, 0, cl)
	return nil
}

// BeginPasskeyLogin starts a login with a passkey: without mfaToken a
// usernameless login (any discoverable credential of this relying party,
// with user verification); with it, the second factor of the password
// login that mfaToken stands for (the account's passkeys).
func (s *Service) BeginPasskeyLogin(ctx context.Context, mfaToken string, cl Client) (Ceremony, error) {
	if err := s.passkeysOn(); err != nil {
		return Ceremony{}, err
	}
	if err := noNUL(mfaToken); err != nil {
		return Ceremony{}, err
	}
	if mfaToken == "" {
		// Each try stores a ceremony: count it like a login try.
		if err := s.throttle(ctx, "login:ip:"+cl.IP, s.o.Limits.LoginIP); err != nil {
			return Ceremony{}, err
		}
		assertion, session, err := s.passkeys.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return Ceremony{}, err
		}
		return s.startCeremony(ctx, ceremonyLogin, 0, session, assertion.Response)
	}
	acct, _, err := s.challengeAccount(ctx, mfaToken, cl)
	if err != nil {
		return Ceremony{}, err
	}
	wu, err := s.loadWAUser(ctx, acct, false)
	if err != nil {
		return Ceremony{}, err
	}
	if len(wu.creds) == 0 {
		return Ceremony{}, ErrNoPasskeys
	}
	assertion, session, err := s.passkeys.wa.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return Ceremony{}, err
	}
	return s.startCeremony(ctx, ceremonyMFA, acct.ID, session, assertion.Response)
}

// challengeAccount returns the account of a live mfa_token (counted
// against the client's TokenGuessIP limit when it is not).
func (s *Service) challengeAccount(ctx context.Context, mfaToken string, cl Client) (acct *Account, firstFactor string, err error) {
	var userID int64
	err = s.guardTokenGuess(ctx, cl, ErrInvalidMFAToken, func() error {
		if mfaToken == "" || len(mfaToken) > maxOpaqueLen {
			return ErrInvalidMFAToken
		}
		var err error
		if userID, firstFactor, err = s.st.liveChallenge(ctx, hashOpaque(mfaToken), s.now()); err == nil && userID == 0 {
			err = ErrInvalidMFAToken
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	if acct, err = s.st.accountByID(ctx, userID); err != nil {
		return nil, "", err
	}
	if acct == nil {
		return nil, "", ErrInvalidMFAToken
	}
	if acct.Banned {
		return nil, "", ErrUserBanned
	}
	return acct, firstFactor, nil
}

// usePasskey records a login with the passkey of wu whose credential id
// is cred.ID: the new sign counter and record, compare-and-set on the old
// counter. A counter that did not grow where the authenticator keeps one
// (a possible clone) refuses the login.
func (s *Service) usePasskey(ctx context.Context, wu *waUser, cred *webauthn.Credential) error {
	row := wu.row(cred.ID)
	if row == nil {
		return ErrPasskeyRefused
	}
	if cred.Authenticator.CloneWarning {
		s.log.WarnContext(ctx, "authgin: passkey sign counter went back: a cloned authenticator?", "user_id", row.UserID, "passkey", row.ID)
		return ErrPasskeyRefused
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	newCount := int64(cred.Authenticator.SignCount)
	ok, err := s.st.useWebauthnCredential(ctx, row.ID, row.SignCount, newCount, string(data), s.now())
	if err != nil {
		return err
	}
	if !ok && newCount > 0 {
		return ErrPasskeyRefused // a parallel login used the same count
	}
	// An authenticator without a counter (always 0) has nothing to race
	// on; MySQL may report its unchanged row as not updated.
	return nil
}

// FinishPasskeyLogin completes a usernameless login: the assertion
// (credential, the PublicKeyCredential as JSON) must answer the ceremony
// of token with a registered passkey and user verification. The session's
// amr is "hwk". Its begin counted the try against the client's LoginIP
// limit; a ceremony is answered once.
func (s *Service) FinishPasskeyLogin(ctx context.Context, token string, credential []byte, cl Client) (*Account, Tokens, error) {
	if err := s.passkeysOn(); err != nil {
		return nil, Tokens{}, err
	}
	session, _, err := s.takeCeremony(ctx, token, ceremonyLogin)
	if err != nil {
		return nil, Tokens{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, Tokens{}, ErrInvalidPasskey
	}
	var wu *waUser
	var lookupErr error
	_, cred, err := s.passkeys.wa.ValidatePasskeyLogin(func(_, userHandle []byte) (webauthn.User, error) {
		id, err := s.st.userByHandle(ctx, hex.EncodeToString(userHandle))
		if err == nil && id == 0 {
			err = ErrPasskeyRefused
		}
		var acct *Account
		if err == nil {
			acct, err = s.st.accountByID(ctx, id)
		}
		if err == nil && acct == nil {
			err = ErrPasskeyRefused
		}
		if err == nil {
			wu, err = s.loadWAUser(ctx, acct, false)
		}
		lookupErr = err
		return wu, err
	}, session, parsed)
	if lookupErr != nil && !errors.Is(lookupErr, ErrPasskeyRefused) {
		return nil, Tokens{}, lookupErr
	}
	if err != nil || wu == nil {
		s.log.InfoContext(ctx, "authgin: passkey login refused", "ip", cl.IP, "err", err)
		return nil, Tokens{}, ErrPasskeyRefused
	}
	if wu.acct.Banned {
		return nil, Tokens{}, ErrUserBanned
	}
	if err := s.usePasskey(ctx, wu, cred); err != nil {
		return nil, Tokens{}, err
	}
	return s.completeLogin(ctx, wu.acct, "", []string{AMRHardware}, "passkey", cl)
}

// checkPasskeyFactor verifies a passkey assertion as the second factor of
// user id's password login, under the MFAAccount limit.
func (s *Service) checkPasskeyFactor(ctx context.Context, acct *Account, token string, credential []byte) error {
	if err := s.passkeysOn(); err != nil {
		return err
	}
	session, owner, err := s.takeCeremony(ctx, token, ceremonyMFA)
	if err != nil {
		return err
	}
	if owner != acct.ID {
		return ErrInvalidCeremony
	}
	return s.guardCode(ctx, acct.ID, func() (bool, error) {
		parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
		if err != nil {
			return false, nil
		}
		wu, err := s.loadWAUser(ctx, acct, false)
		if err != nil {
			return false, err
		}
		cred, err := s.passkeys.wa.ValidateLogin(wu, session, parsed)
		if err != nil {
			return false, nil
		}
		if err := s.usePasskey(ctx, wu, cred); err != nil {
			if errors.Is(err, ErrPasskeyRefused) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	})
}
