package authgin

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
)

// JSON Web Key Set.
//
// With asymmetric signing (Options.Signing) other services verify access
// tokens with the public keys alone: GET {group}/.well-known/jwks.json
// serves them as a JWK Set (RFC 7517), the current key first and then every
// verify-only key, each with its kid, alg and use "sig". Verifiers pick the
// key by the token's kid. The document may be cached for jwksMaxAge; after
// a rotation, verifiers that meet an unknown kid fetch it again. With HS256
// there is no public key and the route answers 404.

// jwksMaxAge is the Cache-Control max-age of the JWK Set, in seconds.
const jwksMaxAge = 300

// newJWKS encodes the public keys of s, which newTokens validated; nil
// for HS256 (s nil).
func newJWKS(s *SigningConfig) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	keys := []jose.JSONWebKey{{Key: s.Key.Public(), KeyID: s.KeyID, Algorithm: s.Algorithm, Use: "sig"}}
	kids := make([]string, 0, len(s.VerifyKeys))
	for kid := range s.VerifyKeys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	for _, kid := range kids {
		keys = append(keys, jose.JSONWebKey{Key: s.VerifyKeys[kid], KeyID: kid, Algorithm: s.Algorithm, Use: "sig"})
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("authgin: encoding the JWK Set of Options.Signing: %w", err)
	}
	return b, nil
}

// serveJWKS is GET /.well-known/jwks.json.
func (a *Auth) serveJWKS(c *gin.Context) {
	if a.jwks == nil {
		abortError(c, nil, ErrNoPublicKeys)
		return
	}
	c.Header("Cache-Control", fmt.Sprintf("public, max-age=%d", jwksMaxAge))
	c.Data(http.StatusOK, "application/json", a.jwks)
}

// SigningKeyFromPEM builds the SigningConfig of a PEM-encoded PKCS#8
// private key ("-----BEGIN PRIVATE KEY-----"): Ed25519 signs with EdDSA,
// RSA (at least 2048 bits) with RS256, ECDSA P-256 with ES256. Its KeyID
// is the key's RFC 7638 JWK thumbprint (SHA-256, base64url), so that every
// instance given the same file names the key alike. Generate one with
// "openssl genpkey -algorithm ed25519 -out signing.pem".
func SigningKeyFromPEM(data []byte) (*SigningConfig, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("authgin: signing key: want a PEM block \"PRIVATE KEY\" (PKCS#8)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("authgin: signing key: %w", err)
	}
	var alg string
	var signer crypto.Signer
	switch k := key.(type) {
	case ed25519.PrivateKey:
		alg, signer = "EdDSA", k
	case *rsa.PrivateKey:
		alg, signer = "RS256", k
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("authgin: signing key: an ECDSA key must be on curve P-256 (ES256)")
		}
		alg, signer = "ES256", k
	default:
		return nil, fmt.Errorf("authgin: signing key: unsupported key type %T (want Ed25519, RSA or ECDSA P-256)", key)
	}
	kid, err := KeyThumbprint(signer.Public())
	if err != nil {
		return nil, err
	}
	return &SigningConfig{Algorithm: alg, Key: signer, KeyID: kid}, nil
}

// KeyThumbprint returns the RFC 7638 JWK thumbprint of a public key
// (SHA-256, base64url without padding), a stable key id for
// SigningConfig.KeyID and VerifyKeys.
func KeyThumbprint(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("authgin: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
