package authgin

// The oauth_identities and oauth_states tables (social login).

import (
	"context"
	"time"
)

// insertOAuthState stores a social login in flight.
func (s *store) insertOAuthState(ctx context.Context, st *oauthState) error {
	_, err := s.exec(ctx, `INSERT INTO oauth_states (id, provider, nonce_hash, next, link_user_id, link_session, bearer, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, st.ID, st.Provider, st.NonceHash, st.Next, st.LinkUserID, st.LinkSession, st.Bearer, st.CreatedAt, st.ExpiresAt)
	return err
}

// takeOAuthState deletes the state with this id and returns it when it had
// not expired at now; nil when there was none, it expired, or a concurrent
// call took it first (only one delete of a row counts).
func (s *store) takeOAuthState(ctx context.Context, id string, now time.Time) (*oauthState, error) {
	var st oauthState
	found, err := s.scanRow(ctx, "SELECT id, provider, nonce_hash, next, link_user_id, link_session, bearer, created_at, expires_at FROM oauth_states WHERE id = ?",
		[]any{id}, &st.ID, &st.Provider, &st.NonceHash, &st.Next, &st.LinkUserID, &st.LinkSession, &st.Bearer, &st.CreatedAt, &st.ExpiresAt)
	if err != nil || !found {
		return nil, err
	}
	n, err := s.exec(ctx, "DELETE FROM oauth_states WHERE id = ?", id)
	if err != nil || n != 1 || !st.ExpiresAt.After(now) {
		return nil, err
	}
	return &st, nil
}

// oauthIdentityColumns are the oauth_identities columns in scan order.
const oauthIdentityColumns = "id, provider, subject, user_id, email, created_at, last_login_at"

func (i *oauthIdentity) scanDest() []any {
	return []any{&i.ID, &i.Provider, &i.Subject, &i.UserID, &i.Email, &i.CreatedAt, &i.LastLoginAt}
}

// oauthIdentityBySubject loads the identity of a provider's subject; nil
// if none.
func (s *store) oauthIdentityBySubject(ctx context.Context, provider, subject string) (*oauthIdentity, error) {
	var i oauthIdentity
	found, err := s.scanRow(ctx, "SELECT "+oauthIdentityColumns+" FROM oauth_identities WHERE provider = ? AND subject = ?",
		[]any{provider, subject}, i.scanDest()...)
	if err != nil || !found {
		return nil, err
	}
	return &i, nil
}

// oauthIdentitiesOf lists an account's identities by provider name.
func (s *store) oauthIdentitiesOf(ctx context.Context, userID int64) ([]oauthIdentity, error) {
	db, cancel := s.gorm(ctx)
	defer cancel()
	var out []oauthIdentity
	err := db.Where("user_id = ?", userID).Order("provider").Find(&out).Error
	return out, dbError(err)
}

// insertOAuthIdentity links an identity. A subject already linked, or a
// second identity of the provider for the account, is errDuplicate.
func (s *store) insertOAuthIdentity(ctx context.Context, i *oauthIdentity) error {
	id, err := s.insertID(ctx, `INSERT INTO oauth_identities (provider, subject, user_id, email, email_verified, created_at, last_login_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`, i.Provider, i.Subject, i.UserID, i.Email, i.EmailVerified, i.CreatedAt, i.LastLoginAt)
	if err != nil {
		return err
	}
	i.ID = id
	return nil
}

// deleteUnverifiedOAuthIdentities unlinks the identities of account id
// whose provider did not verify their address.
func (s *store) deleteUnverifiedOAuthIdentities(ctx context.Context, id int64) (int64, error) {
	return s.exec(ctx, "DELETE FROM oauth_identities WHERE user_id = ? AND email_verified = ?", id, false)
}

// touchOAuthIdentity records a login through identity id.
func (s *store) touchOAuthIdentity(ctx context.Context, id int64, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE oauth_identities SET last_login_at = ? WHERE id = ?", now, id)
	return err
}

// deleteOAuthIdentity unlinks an account's identity at provider and
// reports whether there was one.
func (s *store) deleteOAuthIdentity(ctx context.Context, userID int64, provider string) (bool, error) {
	n, err := s.exec(ctx, "DELETE FROM oauth_identities WHERE user_id = ? AND provider = ?", userID, provider)
	return n > 0, err
}

// deleteOAuthIdentitiesOf unlinks every identity of an account.
func (s *store) deleteOAuthIdentitiesOf(ctx context.Context, userID int64) (int64, error) {
	return s.exec(ctx, "DELETE FROM oauth_identities WHERE user_id = ?", userID)
}
