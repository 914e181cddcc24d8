package authgin

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// SigningConfig selects asymmetric signing of access tokens (Options.Signing).
//
// Algorithm is "EdDSA" (Key an ed25519.PrivateKey), "RS256" (Key an
// *rsa.PrivateKey of at least 2048 bits) or "ES256" (Key an *ecdsa.PrivateKey
// on P-256). Every token carries KeyID as its kid header; a token is verified
// with the key its kid names, either Key's public half or one of VerifyKeys.
// To rotate, move the old key's public half into VerifyKeys under its kid,
// set the new Key and KeyID, and drop the old entry once AccessTTL has passed.
type SigningConfig struct {
	Algorithm  string
	Key        crypto.Signer               // current private key
	KeyID      string                      // its kid (required)
	VerifyKeys map[string]crypto.PublicKey // kid -> retired public keys still accepted for verification (same Algorithm)
}

// AccessClaims are the claims of an access token: authx's id, username,
// permissions, iat, exp and type, plus sub, sid, iss, aud and nbf.
//
// Claims returned by the middleware may share their Permissions slice with
// the verified-token cache: treat it as read-only.
type AccessClaims struct {
	ID          int64    `json:"id"`
	Username    string   `json:"username"`
	Permissions []string `json:"permissions"`
	Type        string   `json:"type"` // always "access"
	Subject     string   `json:"sub"`  // decimal id
	SessionID   string   `json:"sid"`
	Issuer      string   `json:"iss"`
	Audience    string   `json:"aud"`
	IssuedAt    int64    `json:"iat"`
	NotBefore   int64    `json:"nbf"`
	ExpiresAt   int64    `json:"exp"`
}

const (
	// maxTokenLen bounds a raw access token; anything longer is rejected
	// before any decoding, so a huge cookie costs a length comparison.
	maxTokenLen = 4096
	// maxHeaderLen bounds the base64url header segment.
	maxHeaderLen = 1024
	// clockSkew is how far in the future iat and nbf may lie, for instances
	// whose clocks differ slightly. exp gets no leeway.
	clockSkew = 5
	// maxKeyIDLen bounds SigningConfig.KeyID and the kid header.
	maxKeyIDLen = 256
	// accessType is the type claim of access tokens.
	accessType = "access"
)

// tokens signs and verifies access tokens for one Auth. It is safe for
// concurrent use.
type tokens struct {
	method   jwt.SigningMethod
	signKey  any    // []byte (HS256) or the private key
	header   string // base64url of the fixed JOSE header of issued tokens
	verifier jwsVerifier
	issuer   string
	audience string
	ttl      time.Duration
	cache    *tokenCache
}

// newTokens builds the signer and verifier from validated options: HS256
// with o.Secret, or o.Signing. o.Issuer, o.Audience and o.AccessTTL must be
// set. Errors name the option field.
func newTokens(o *Options) (*tokens, error) {
	if o.AccessTTL < time.Second {
		return nil, fmt.Errorf("authgin: Options.AccessTTL must be at least 1s (got %s)", o.AccessTTL)
	}
	if o.Issuer == "" || o.Audience == "" {
		return nil, fmt.Errorf("authgin: Options.Issuer and Options.Audience must not be empty")
	}
	t := &tokens{
		issuer:   o.Issuer,
		audience: o.Audience,
		ttl:      o.AccessTTL,
		cache:    newTokenCache(),
	}
	type joseHeader struct {
		Alg string `json:"alg"`
		Kid string `json:"kid,omitempty"`
		Typ string `json:"typ"`
	}
	h := joseHeader{Typ: "JWT"}
	if o.Signing == nil {
		if len(o.Secret) < 32 {
			return nil, fmt.Errorf("authgin: Options.Secret must be at least 32 bytes (got %d)", len(o.Secret))
		}
		key := bytes.Clone(o.Secret) // later changes to the caller's slice must not change the key
		t.method = jwt.SigningMethodHS256
		t.signKey = key
		t.verifier = jwsVerifier{alg: "HS256", method: jwt.SigningMethodHS256, noKid: key}
		h.Alg = "HS256"
	} else {
		s := o.Signing
		m, pub, err := checkSigningKey(s.Algorithm, s.Key)
		if err != nil {
			return nil, err
		}
		if s.KeyID == "" || len(s.KeyID) > maxKeyIDLen || !utf8.ValidString(s.KeyID) {
			return nil, fmt.Errorf("authgin: Options.Signing.KeyID is required (valid UTF-8, at most %d bytes)", maxKeyIDLen)
		}
		keys := map[string]any{s.KeyID: pub}
		for kid, k := range s.VerifyKeys {
			if kid == "" || len(kid) > maxKeyIDLen || !utf8.ValidString(kid) {
				return nil, fmt.Errorf("authgin: Options.Signing.VerifyKeys has an invalid kid %q", kid)
			}
			if kid == s.KeyID {
				return nil, fmt.Errorf("authgin: Options.Signing.VerifyKeys[%q] repeats Options.Signing.KeyID", kid)
			}
			vk, err := checkVerifyKey(s.Algorithm, k)
			if err != nil {
				return nil, fmt.Errorf("authgin: Options.Signing.VerifyKeys[%q] %w", kid, err)
			}
			keys[kid] = vk
		}
		t.method = m
		t.signKey = s.Key
		t.verifier = jwsVerifier{alg: s.Algorithm, method: m, keys: keys}
		h.Alg, h.Kid = s.Algorithm, s.KeyID
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("authgin: encoding the token header: %w", err)
	}
	t.header = base64.RawURLEncoding.EncodeToString(hj)
	return t, nil
}

// checkSigningKey validates Options.Signing's algorithm and private key and
// returns the signing method and the key's public half.
func checkSigningKey(alg string, key crypto.Signer) (jwt.SigningMethod, any, error) {
	if key == nil {
		return nil, nil, fmt.Errorf("authgin: Options.Signing.Key is required")
	}
	switch alg {
	case "EdDSA":
		k, ok := key.(ed25519.PrivateKey)
		if !ok || len(k) != ed25519.PrivateKeySize {
			return nil, nil, fmt.Errorf("authgin: Options.Signing.Key must be an ed25519.PrivateKey for EdDSA (got %T)", key)
		}
		return jwt.SigningMethodEdDSA, k.Public(), nil
	case "RS256":
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("authgin: Options.Signing.Key must be an *rsa.PrivateKey for RS256 (got %T)", key)
		}
		if k.N == nil || k.N.BitLen() < 2048 {
			return nil, nil, fmt.Errorf("authgin: Options.Signing.Key must be an RSA key of at least 2048 bits")
		}
		if err := k.Validate(); err != nil {
			return nil, nil, fmt.Errorf("authgin: Options.Signing.Key is not a valid RSA key: %w", err)
		}
		return jwt.SigningMethodRS256, &k.PublicKey, nil
	case "ES256":
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok || k == nil {
			return nil, nil, fmt.Errorf("authgin: Options.Signing.Key must be an *ecdsa.PrivateKey for ES256 (got %T)", key)
		}
		if k.Curve != elliptic.P256() {
			return nil, nil, fmt.Errorf("authgin: Options.Signing.Key must be on curve P-256 for ES256")
		}
		return jwt.SigningMethodES256, &k.PublicKey, nil
	default:
		return nil, nil, fmt.Errorf("authgin: Options.Signing.Algorithm must be EdDSA, RS256 or ES256 (got %q)", alg)
	}
}

// checkVerifyKey validates a verify-only public key for alg and returns it
// in the form golang-jwt's Verify expects. The error completes a sentence
// that starts with the option's name.
func checkVerifyKey(alg string, key crypto.PublicKey) (any, error) {
	switch alg {
	case "EdDSA":
		if k, ok := key.(ed25519.PublicKey); ok && len(k) == ed25519.PublicKeySize {
			return k, nil
		}
		return nil, fmt.Errorf("must be an ed25519.PublicKey for EdDSA (got %T)", key)
	case "RS256":
		k, ok := key.(*rsa.PublicKey)
		if !ok || k == nil || k.N == nil {
			return nil, fmt.Errorf("must be an *rsa.PublicKey for RS256 (got %T)", key)
		}
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("must be an RSA key of at least 2048 bits")
		}
		return k, nil
	default: // ES256; checkSigningKey rejected every other algorithm first
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k == nil {
			return nil, fmt.Errorf("must be an *ecdsa.PublicKey for ES256 (got %T)", key)
		}
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("must be on curve P-256 for ES256")
		}
		return k, nil
	}
}

// issueAccess signs an access token for the user: iat = nbf = now,
// exp = now + AccessTTL, sub = the decimal id, type "access". It returns the
// token and its claims (as parseAccess would return them: strings that are
// not valid UTF-8 carry U+FFFD in place of the invalid bytes).
func (t *tokens) issueAccess(now time.Time, id int64, username string, perms []string, sid string) (string, AccessClaims, error) {
	if perms == nil {
		perms = []string{} // encode [] as authx does, never null
	}
	for i, p := range perms {
		if !utf8.ValidString(p) {
			perms = slices.Clone(perms)
			perms[i] = strings.ToValidUTF8(p, "\uFFFD")
		}
	}
	iat := now.Unix()
	c := AccessClaims{
		ID:          id,
		Username:    strings.ToValidUTF8(username, "\uFFFD"),
		Permissions: perms,
		Type:        accessType,
		Subject:     strconv.FormatInt(id, 10),
		SessionID:   strings.ToValidUTF8(sid, "\uFFFD"),
		Issuer:      t.issuer,
		Audience:    t.audience,
		IssuedAt:    iat,
		NotBefore:   iat,
		ExpiresAt:   now.Add(t.ttl).Unix(),
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", AccessClaims{}, fmt.Errorf("authgin: encoding access claims: %w", err)
	}
	signing := t.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := t.method.Sign(signing, t.signKey)
	if err != nil {
		return "", AccessClaims{}, fmt.Errorf("authgin: signing access token: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), c, nil
}

// parseAccess verifies raw at time now and returns its claims. Every
// failure is ErrInvalidToken, whatever the reason.
//
// Verified tokens are cached by their exact text; a hit re-checks exp, nbf
// and iat against now and costs no allocation. The returned Permissions
// slice is shared with the cache and must not be modified.
func (t *tokens) parseAccess(raw string, now time.Time) (AccessClaims, error) {
	if len(raw) == 0 || len(raw) > maxTokenLen {
		return AccessClaims{}, ErrInvalidToken
	}
	sec := now.Unix()
	if c, ok := t.cache.get(raw); ok {
		if !c.validAt(sec) {
			if c.ExpiresAt <= sec {
				t.cache.remove(raw) // expired for good: free the slot
			}
			return AccessClaims{}, ErrInvalidToken
		}
		return c, nil
	}
	c, ok := t.verify(raw)
	if !ok || !c.validAt(sec) {
		return AccessClaims{}, ErrInvalidToken
	}
	t.cache.put(raw, c)
	return c, nil
}

// verify checks raw's signature and decodes and checks its claims, except
// for the time-dependent ones (validAt).
func (t *tokens) verify(raw string) (AccessClaims, bool) {
	payload, ok := t.verifier.verify(raw)
	if !ok {
		return AccessClaims{}, false
	}
	var buf [maxTokenLen * 3 / 4]byte
	p, ok := b64Decode(buf[:0], payload)
	if !ok {
		return AccessClaims{}, false
	}
	return decodeClaims(p, t.issuer, t.audience)
}

// validAt reports whether claims that passed verify are valid at Unix time
// sec: not expired (no leeway), and iat and nbf not further than clockSkew
// in the future.
func (c *AccessClaims) validAt(sec int64) bool {
	return sec < c.ExpiresAt && c.IssuedAt <= sec+clockSkew && c.NotBefore <= sec+clockSkew
}

// jwsVerifier checks compact JWS tokens signed with one pinned algorithm.
type jwsVerifier struct {
	alg    string            // the only accepted alg header, compared exactly
	method jwt.SigningMethod // golang-jwt's implementation of alg
	keys   map[string]any    // kid -> verification key
	noKid  any               // key for tokens without kid; nil: a kid is required
}

// verify checks raw's form, header and signature and returns its payload
// segment (base64url, not yet decoded). The form must be exactly three
// base64url segments (only the payload may be empty) (URL alphabet, no padding, zero trailing
// bits). The header must be a JSON object holding only alg (equal to v.alg),
// an optional typ ("JWT") and kid (naming a configured key): jku, jwk, x5u,
// x5c, crit and every other parameter are refused, so a token can never
// bring its own key or key location.
func (v *jwsVerifier) verify(raw string) (string, bool) {
	d1, d2 := -1, -1
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '.' {
			switch {
			case d1 < 0:
				d1 = i
			case d2 < 0:
				d2 = i
			default:
				return "", false
			}
			continue
		}
		if b64Value(c) > 63 {
			return "", false
		}
	}
	if d2 < 0 {
		return "", false
	}
	h64, p64, s64 := raw[:d1], raw[d1+1:d2], raw[d2+1:]
	// An empty payload is a valid JWS (the claims decoder refuses it).
	if len(h64) == 0 || len(h64) > maxHeaderLen || len(s64) == 0 || !b64Canonical(p64) {
		return "", false
	}
	var hbuf [maxHeaderLen * 3 / 4]byte
	h, ok := b64Decode(hbuf[:0], h64)
	if !ok {
		return "", false
	}
	alg, kid, hasKid, ok := decodeHeader(h)
	if !ok || string(alg) != v.alg {
		return "", false
	}
	key := v.noKid
	if hasKid {
		key = v.keys[string(kid)]
	}
	if key == nil {
		return "", false
	}
	sig, ok := b64Decode(make([]byte, 0, len(s64)*3/4), s64)
	if !ok {
		return "", false
	}
	if v.method.Verify(raw[:d2], sig, key) != nil {
		return "", false
	}
	return p64, true
}

// b64Value returns the value of a base64url character, or 0xFF.
func b64Value(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return 0xFF
}

// b64Canonical reports whether s is a canonical unpadded base64url string:
// URL alphabet, a valid length and zero unused bits in the last character.
func b64Canonical(s string) bool {
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		v := b64Value(s[len(s)-1])
		return v <= 63 && v&0x0F == 0
	case 3:
		v := b64Value(s[len(s)-1])
		return v <= 63 && v&0x03 == 0
	}
	return len(s) == 0 || b64Value(s[len(s)-1]) <= 63
}

// b64Decode appends the decoding of the unpadded base64url s to dst.
// It is strict where encoding/base64 is lenient: no padding, no newlines,
// zero unused bits. It allocates only when dst lacks capacity.
func b64Decode(dst []byte, s string) ([]byte, bool) {
	if !b64Canonical(s) {
		return nil, false
	}
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a, b, c, d := b64Value(s[i]), b64Value(s[i+1]), b64Value(s[i+2]), b64Value(s[i+3])
		if a|b|c|d > 63 {
			return nil, false
		}
		n := uint(a)<<18 | uint(b)<<12 | uint(c)<<6 | uint(d)
		dst = append(dst, byte(n>>16), byte(n>>8), byte(n)) // #nosec G115 -- n holds 24 bits; each byte() takes 8 of them on purpose
	}
	switch len(s) - i {
	case 2:
		a, b := b64Value(s[i]), b64Value(s[i+1])
		if a|b > 63 {
			return nil, false
		}
		dst = append(dst, a<<2|b>>4)
	case 3:
		a, b, c := b64Value(s[i]), b64Value(s[i+1]), b64Value(s[i+2])
		if a|b|c > 63 {
			return nil, false
		}
		n := uint(a)<<12 | uint(b)<<6 | uint(c)
		dst = append(dst, byte(n>>10), byte(n>>2)) // #nosec G115 -- n holds 18 bits; each byte() takes 8 of them on purpose
	}
	return dst, true
}

// decodeHeader reads a JOSE header: alg (required), typ (optional, "JWT")
// and kid (optional). Any other member, a duplicate or a wrong type fails.
// alg and kid may alias h.
func decodeHeader(h []byte) (alg, kid []byte, hasKid, ok bool) {
	s := jsonScanner{b: h}
	var keyBuf, valBuf [64]byte
	var seen uint8
	more, ok := s.objectStart()
	for ok && more {
		var k, v []byte
		if k, ok = s.key(keyBuf[:0]); !ok {
			break
		}
		var bit uint8
		switch string(k) {
		case "alg":
			bit = 1
			alg, ok = s.str(nil) // own allocation if escaped: must outlive valBuf
		case "typ":
			bit = 2
			v, ok = s.str(valBuf[:0])
			ok = ok && string(v) == "JWT"
		case "kid":
			bit = 4
			kid, ok = s.str(nil)
			hasKid = true
		default:
			ok = false
		}
		if !ok || seen&bit != 0 {
			return nil, nil, false, false
		}
		seen |= bit
		more, ok = s.next()
	}
	if !ok || !s.end() || seen&1 == 0 {
		return nil, nil, false, false
	}
	return alg, kid, hasKid, true
}

// Claim bits for duplicate and presence checks in decodeClaims.
const (
	claimID = 1 << iota
	claimUsername
	claimPermissions
	claimType
	claimSub
	claimSid
	claimIss
	claimAud
	claimIat
	claimNbf
	claimExp
	claimsRequired = claimID | claimType | claimSub | claimIss | claimAud | claimIat | claimExp
)

// maxUnknownClaims bounds the ignored members of a claim set.
const maxUnknownClaims = 16

// decodeClaims reads an access token's claim set strictly: integers for id,
// iat, nbf and exp (no fraction, no exponent, within int64), strings where
// strings belong, no duplicate member, valid UTF-8. It checks type, iss, aud
// (a string or an array containing it) and sub == id. Member names match
// exactly (RFC 7519 claim names are case-sensitive; encoding/json would
// also read "usernAme" as username). Unknown claims are ignored (RFC 7519)
// but must be well-formed JSON.
func decodeClaims(p []byte, issuer, audience string) (AccessClaims, bool) {
	s := jsonScanner{b: p}
	var c AccessClaims
	var keyBuf, valBuf [64]byte
	var subBuf [24]byte
	var sub []byte
	var seen uint16
	var unknown [maxUnknownClaims][]byte
	nUnknown := 0
	more, ok := s.objectStart()
	for ok && more {
		var k, v []byte
		if k, ok = s.key(keyBuf[:0]); !ok {
			break
		}
		var bit uint16
		switch string(k) {
		case "id":
			bit = claimID
			c.ID, ok = s.int()
			ok = ok && c.ID > 0
		case "username":
			bit = claimUsername
			if v, ok = s.str(valBuf[:0]); ok {
				c.Username = string(v)
			}
		case "permissions":
			bit = claimPermissions
			c.Permissions, ok = s.strings()
		case "type":
			bit = claimType
			v, ok = s.str(valBuf[:0])
			ok = ok && string(v) == accessType
			c.Type = accessType
		case "sub":
			bit = claimSub
			v, ok = s.str(valBuf[:0])
			ok = ok && len(v) <= len(subBuf)
			if ok {
				sub = append(subBuf[:0], v...)
			}
		case "sid":
			bit = claimSid
			if v, ok = s.str(valBuf[:0]); ok {
				c.SessionID = string(v)
			}
		case "iss":
			bit = claimIss
			v, ok = s.str(valBuf[:0])
			ok = ok && string(v) == issuer
			c.Issuer = issuer
		case "aud":
			bit = claimAud
			ok = s.audience(audience)
			c.Audience = audience
		case "iat":
			bit = claimIat
			c.IssuedAt, ok = s.int()
		case "nbf":
			bit = claimNbf
			c.NotBefore, ok = s.int()
		case "exp":
			bit = claimExp
			c.ExpiresAt, ok = s.int()
		default:
			// An ignored claim: only its form and uniqueness matter.
			if nUnknown == maxUnknownClaims {
				return AccessClaims{}, false
			}
			for _, u := range unknown[:nUnknown] {
				if bytes.Equal(u, k) {
					return AccessClaims{}, false
				}
			}
			unknown[nUnknown] = bytes.Clone(k) // k may alias keyBuf
			nUnknown++
			ok = s.skip(0)
		}
		if !ok || seen&bit != 0 {
			return AccessClaims{}, false
		}
		seen |= bit
		more, ok = s.next()
	}
	if !ok || !s.end() || seen&claimsRequired != claimsRequired {
		return AccessClaims{}, false
	}
	var idBuf [20]byte
	if !bytes.Equal(sub, strconv.AppendInt(idBuf[:0], c.ID, 10)) {
		return AccessClaims{}, false
	}
	c.Subject = string(sub)
	if c.Permissions == nil {
		c.Permissions = []string{}
	}
	return c, true
}

// jsonScanner is a minimal, strict reader of the JSON that access tokens
// carry (RFC 8259 syntax; numbers read as int64 only where claims need
// integers). It never allocates for unescaped strings: they alias b.
type jsonScanner struct {
	b []byte
	i int
}

// maxJSONDepth bounds nesting inside ignored claim values.
const maxJSONDepth = 16

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// eat consumes c after optional whitespace.
func (s *jsonScanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// objectStart reads `{` and reports whether a member follows.
func (s *jsonScanner) objectStart() (more, ok bool) {
	if !s.eat('{') {
		return false, false
	}
	if s.eat('}') {
		return false, true
	}
	return true, true
}

// key reads a member name and its colon.
func (s *jsonScanner) key(scratch []byte) ([]byte, bool) {
	s.ws()
	k, ok := s.str(scratch)
	if !ok || !s.eat(':') {
		return nil, false
	}
	s.ws()
	return k, true
}

// next reads `,` (more members follow) or `}` (the object ends).
func (s *jsonScanner) next() (more, ok bool) {
	s.ws()
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case ',':
			s.i++
			return true, true
		case '}':
			s.i++
			return false, true
		}
	}
	return false, false
}

// end reports whether only whitespace remains.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a string. Without escapes the result aliases s.b; with escapes
// it is decoded into scratch (appending). Control characters, invalid
// escapes, lone surrogates and invalid UTF-8 fail.
func (s *jsonScanner) str(scratch []byte) ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	s.i++
	start := s.i
	var high byte // OR of all bytes: UTF-8 needs checking only if >= 0x80
	for s.i < len(s.b) {
		c := s.b[s.i]
		high |= c
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, high < utf8.RuneSelf || utf8.Valid(v)
		case c == '\\':
			return s.strEscaped(append(scratch[:0], s.b[start:s.i]...))
		case c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// strEscaped continues str at the first backslash, decoding into out.
func (s *jsonScanner) strEscaped(out []byte) ([]byte, bool) {
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return out, utf8.Valid(out)
		case c < 0x20:
			return nil, false
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, false
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one.
				if r >= 0xDC00 || s.i+1 >= len(s.b) || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
					return nil, false
				}
				s.i += 2
				r2, ok := s.hex4()
				if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
					return nil, false
				}
				r = utf16.DecodeRune(r, r2)
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false
		}
	}
	return nil, false
}

// hex4 reads the four hex digits of a \u escape.
func (s *jsonScanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return r, true
}

// int reads an integer in JSON's grammar without fraction or exponent
// (those make the following `,` or `}` check fail) and within int64.
// "-0" and leading zeros fail.
func (s *jsonScanner) int() (int64, bool) {
	neg := false
	if s.i < len(s.b) && s.b[s.i] == '-' {
		neg = true
		s.i++
	}
	if s.i >= len(s.b) || s.b[s.i] < '0' || s.b[s.i] > '9' {
		return 0, false
	}
	if s.b[s.i] == '0' {
		s.i++
		if neg || (s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9') {
			return 0, false
		}
		return 0, true
	}
	var u uint64
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, false
		}
		u = u*10 + d
		s.i++
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u-1) - 1, true // #nosec G115 -- u <= 1<<63 checked above, so u-1 fits in int64
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// strings reads an array of strings, or null (nil).
func (s *jsonScanner) strings() ([]string, bool) {
	if s.literal("null") {
		return nil, true
	}
	if !s.eat('[') {
		return nil, false
	}
	out := []string{}
	if s.eat(']') {
		return out, true
	}
	var buf [64]byte
	for {
		s.ws()
		v, ok := s.str(buf[:0])
		if !ok {
			return nil, false
		}
		out = append(out, string(v))
		if s.eat(']') {
			return out, true
		}
		if !s.eat(',') {
			return nil, false
		}
	}
}

// audience reads an aud claim, a string or an array of strings, and
// reports whether it is or contains want.
func (s *jsonScanner) audience(want string) bool {
	var buf [64]byte
	if s.i < len(s.b) && s.b[s.i] == '"' {
		v, ok := s.str(buf[:0])
		return ok && string(v) == want
	}
	if !s.eat('[') {
		return false
	}
	found := false
	if s.eat(']') {
		return false
	}
	for {
		s.ws()
		v, ok := s.str(buf[:0])
		if !ok {
			return false
		}
		found = found || string(v) == want
		if s.eat(']') {
			return found
		}
		if !s.eat(',') {
			return false
		}
	}
}

// literal consumes word (true, false, null) if it comes next.
func (s *jsonScanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// skip reads and discards any JSON value, checking its syntax.
func (s *jsonScanner) skip(depth int) bool {
	if depth > maxJSONDepth || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		var buf [64]byte
		_, ok := s.str(buf[:0])
		return ok
	case c == '{':
		more, ok := s.objectStart()
		var keys [][]byte // duplicates are refused at every level
		var buf [64]byte
		for ok && more {
			var k []byte
			if k, ok = s.key(buf[:0]); !ok || !s.skipValue(depth+1) {
				return false
			}
			for _, p := range keys {
				if bytes.Equal(p, k) {
					return false
				}
			}
			keys = append(keys, bytes.Clone(k))
			more, ok = s.next()
		}
		return ok
	case c == '[':
		s.i++
		if s.eat(']') {
			return true
		}
		for {
			s.ws()
			if !s.skip(depth + 1) {
				return false
			}
			if s.eat(']') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

// skipValue is skip after optional whitespace.
func (s *jsonScanner) skipValue(depth int) bool {
	s.ws()
	return s.skip(depth)
}

// number reads any JSON number (for ignored claims).
func (s *jsonScanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// Cache of verified tokens: sharded maps keyed by the exact token text.
const (
	cacheShards   = 16
	cacheCapacity = 4096
	shardCapacity = cacheCapacity / cacheShards
)

// tokenCache remembers tokens whose signature and claims were verified, so
// that a token seen again costs a map lookup. Only successes are stored;
// time checks are repeated by the caller on every hit. Each shard holds at
// most shardCapacity entries and drops half of them (in map order, which is
// random) when full.
type tokenCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]AccessClaims
	_  [64]byte // keep shards on separate cache lines
}

func newTokenCache() *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]AccessClaims)
	}
	return c
}

func (c *tokenCache) shard(raw string) *cacheShard {
	return &c.shards[maphash.String(c.seed, raw)%cacheShards]
}

func (c *tokenCache) get(raw string) (AccessClaims, bool) {
	sh := c.shard(raw)
	sh.mu.RLock()
	v, ok := sh.m[raw]
	sh.mu.RUnlock()
	return v, ok
}

func (c *tokenCache) put(raw string, v AccessClaims) {
	raw = strings.Clone(raw) // raw may point into a much larger header
	sh := c.shard(raw)
	sh.mu.Lock()
	if len(sh.m) >= shardCapacity {
		n := 0
		for k := range sh.m {
			delete(sh.m, k)
			if n++; n >= shardCapacity/2 {
				break
			}
		}
	}
	sh.m[raw] = v
	sh.mu.Unlock()
}

func (c *tokenCache) remove(raw string) {
	sh := c.shard(raw)
	sh.mu.Lock()
	delete(sh.m, raw)
	sh.mu.Unlock()
}

// len returns the number of cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// newOpaqueToken returns a random opaque token (256 bits, base64url without
// padding) and the hash to store (hex SHA-256). Refresh, confirmation and
// reset tokens are opaque tokens.
func newOpaqueToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("authgin: reading random bytes: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashOpaque(token), nil
}

// hashOpaque returns the hex SHA-256 of an opaque token, the form stored in
// the database.
func hashOpaque(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
