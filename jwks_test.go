package authgin

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// TestJWKSVerifiesInGoJose: a service that knows only the JWKS document
// verifies an access token with go-jose, for every algorithm; verify-only
// keys are listed too.
func TestJWKSVerifiesInGoJose(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, oldEd, _ := ed25519.GenerateKey(rand.Reader)
	for _, s := range []*SigningConfig{
		{Algorithm: "EdDSA", Key: edKey, KeyID: "ed-2026", VerifyKeys: map[string]crypto.PublicKey{"ed-2025": oldEd.Public()}},
		{Algorithm: "ES256", Key: ecKey, KeyID: "ec-1"},
		{Algorithm: "RS256", Key: rsaKey, KeyID: "rsa-1"},
	} {
		t.Run(s.Algorithm, func(t *testing.T) {
			e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.Signing = s })
			c := e.client()
			c.register("jwks@example.com", "jwks", "correct horse battery")
			token := c.jarCookie("/", accessCookie)

			r := e.client().do("GET", testBase+"/.well-known/jwks.json", nil)
			wantStatus(t, r, 200)
			if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
				t.Fatalf("Cache-Control %q", cc)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(r.raw, &set); err != nil {
				t.Fatalf("go-jose cannot read %s: %v", r.raw, err)
			}
			if len(set.Keys) != 1+len(s.VerifyKeys) {
				t.Fatalf("%d keys, want %d", len(set.Keys), 1+len(s.VerifyKeys))
			}
			for _, k := range set.Keys {
				if k.Use != "sig" || k.Algorithm != s.Algorithm || k.KeyID == "" || !k.IsPublic() || !k.Valid() {
					t.Fatalf("key %+v", k)
				}
			}
			if strings.Contains(string(r.raw), `"d"`) {
				t.Fatal("the JWKS holds a private key")
			}

			tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(s.Algorithm)})
			if err != nil {
				t.Fatal(err)
			}
			kid := tok.Headers[0].KeyID
			keys := set.Key(kid)
			if kid != s.KeyID || len(keys) != 1 {
				t.Fatalf("kid %q names %d keys", kid, len(keys))
			}
			var claims struct {
				josejwt.Claims
				Username string `json:"username"`
				Type     string `json:"type"`
			}
			if err := tok.Claims(keys[0].Key, &claims); err != nil {
				t.Fatalf("go-jose refuses the token with the JWKS key: %v", err)
			}
			if err := claims.ValidateWithLeeway(josejwt.Expected{Issuer: "authgin", AnyAudience: josejwt.Audience{"authgin"},
				Time: e.clock.Now()}, 0); err != nil || claims.Username != "jwks" || claims.Type != "access" {
				t.Fatalf("claims %+v: %v", claims, err)
			}
			// Another key of the set does not verify it.
			for _, k := range set.Keys {
				if k.KeyID != kid && tok.Claims(k.Key, &claims) == nil {
					t.Fatal("a verify-only key verifies the current key's token")
				}
			}
		})
	}
}

// TestJWKSWithHS256: a shared secret has no public half: 404.
func TestJWKSWithHS256(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"))
	r := e.client().do("GET", testBase+"/.well-known/jwks.json", nil)
	wantError(t, r, 404, "not_found", "")
	if strings.Contains(string(r.raw), string(testSecret)) {
		t.Fatal("the secret leaked")
	}
}

// TestKeyThumbprint checks RFC 7638's own example (section 3.1).
func TestKeyThumbprint(t *testing.T) {
	var k jose.JSONWebKey
	if err := json.Unmarshal([]byte(`{"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`), &k); err != nil {
		t.Fatal(err)
	}
	got, err := KeyThumbprint(k.Key)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %q, %v", got, err)
	}
}

// TestSigningKeyFromPEM reads PKCS#8 keys of each kind; the kid is the
// thumbprint, and the config signs tokens that its JWKS verifies.
func TestSigningKeyFromPEM(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	encode := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	for alg, key := range map[string]crypto.Signer{"EdDSA": ed, "ES256": ec, "RS256": rk} {
		s, err := SigningKeyFromPEM(encode(key))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		want, _ := KeyThumbprint(key.Public())
		if s.Algorithm != alg || s.KeyID != want || len(want) != 43 {
			t.Fatalf("%s: %+v", alg, s)
		}
		toks, err := newTokenIssuer(&Options{Signing: s, Issuer: "i", Audience: "a", AccessTTL: time.Minute})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if _, _, err := toks.issueAccess(time.Now(), 1, "u", nil, "s"); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string][]byte{
		"P-384":     encode(ec384),
		"not PEM":   []byte("hello"),
		"PKCS#1":    pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
		"truncated": encode(ed)[:60],
	} {
		if _, err := SigningKeyFromPEM(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
