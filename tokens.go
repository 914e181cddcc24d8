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
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
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
	// AMR is how the session was authenticated (RFC 8176): "pwd" for a
	// password, "otp" for a one-time code, "hwk" for a passkey. Absent
	// from tokens issued before it existed.
	AMR []string `json:"amr,omitempty"`
}

const (
	// maxTokenLen bounds a raw access token; anything longer is rejected
	// before any decoding, so a huge cookie costs a length comparison.
	maxTokenLen = 4096
	// clockSkew is how far in the future iat and nbf may lie, for instances
	// whose clocks differ slightly. exp gets no leeway.
	clockSkew = 5
	// maxKeyIDLen bounds SigningConfig.KeyID and the kid header.
	maxKeyIDLen = 256
	// accessType is the type claim of access tokens.
	accessType = "access"
	// maxJSONDepth bounds the nesting of a token's header and claims.
	maxJSONDepth = 16
	// maxUnknownClaims bounds the ignored members of a claim set.
	maxUnknownClaims = 16
)

// tokenIssuer signs and verifies access tokens for one Auth. It is safe for
// concurrent use.
type tokenIssuer struct {
	method   jwt.SigningMethod
	signKey  any    // []byte (HS256) or the private key
	header   string // base64url of the fixed JOSE header of issued tokens
	keys     jwsKeys
	keyFunc  jwt.Keyfunc // keys.key, bound once
	issuer   string
	audience string
	ttl      time.Duration
	cache    *tokenCache
	states   sync.Pool // *parseState
}

// newTokenIssuer builds the signer and verifier from validated options: HS256
// with o.Secret, or o.Signing. o.Issuer, o.Audience and o.AccessTTL must be
// set. Errors name the option field.
func newTokenIssuer(o *Options) (*tokenIssuer, error) {
	if o.AccessTTL < time.Second {
		return nil, fmt.Errorf("authgin: Options.AccessTTL must be at least 1s (got %s)", o.AccessTTL)
	}
	if o.Issuer == "" || o.Audience == "" {
		return nil, fmt.Errorf("authgin: Options.Issuer and Options.Audience must not be empty")
	}
	t := &tokenIssuer{
		issuer:   o.Issuer,
		audience: o.Audience,
		ttl:      o.AccessTTL,
		cache:    newTokenCache(),
	}
	if o.Signing == nil {
		if len(o.Secret) < 32 {
			return nil, fmt.Errorf("authgin: Options.Secret must be at least 32 bytes (got %d)", len(o.Secret))
		}
		key := bytes.Clone(o.Secret) // later changes to the caller's slice must not change the key
		t.method = jwt.SigningMethodHS256
		t.signKey = key
		t.keys = jwsKeys{method: jwt.SigningMethodHS256, noKid: key, headers: map[string]any{}}
		h, err := joseHeader("HS256", "")
		if err != nil {
			return nil, err
		}
		t.header = h
		t.keys.headers[h] = key
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
		t.keys = jwsKeys{method: m, keys: keys, headers: make(map[string]any, len(keys))}
		for kid, k := range keys {
			h, err := joseHeader(s.Algorithm, kid)
			if err != nil {
				return nil, err
			}
			t.keys.headers[h] = k
		}
		if t.header, err = joseHeader(s.Algorithm, s.KeyID); err != nil {
			return nil, err
		}
	}
	t.keyFunc = t.keys.key
	validMethods := []string{t.method.Alg()}
	t.states.New = func() any {
		st := &parseState{}
		st.enc = json.NewEncoder(&st.buf)
		st.parser = jwt.NewParser(
			jwt.WithValidMethods(validMethods),
			jwt.WithStrictDecoding(),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(clockSkew*time.Second),
			jwt.WithIssuer(t.issuer),
			jwt.WithAudience(t.audience),
			jwt.WithTimeFunc(func() time.Time { return st.now }),
		)
		return st
	}
	return t, nil
}

// joseHeader returns the base64url JOSE header of tokens issued with alg
// and kid (none when empty).
func joseHeader(alg, kid string) (string, error) {
	h := struct {
		Alg string `json:"alg"`
		Kid string `json:"kid,omitempty"`
		Typ string `json:"typ"`
	}{alg, kid, "JWT"}
	hj, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("authgin: encoding the token header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(hj), nil
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
func (t *tokenIssuer) issueAccess(now time.Time, id int64, username string, perms []string, sid string) (string, AccessClaims, error) {
	return t.issueAccessAMR(now, id, username, perms, sid, nil)
}

// issueAccessAMR is issueAccess with an amr claim (omitted when empty).
func (t *tokenIssuer) issueAccessAMR(now time.Time, id int64, username string, perms []string, sid string, amr []string) (string, AccessClaims, error) {
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
		AMR:         amr,
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
func (t *tokenIssuer) parseAccess(raw string, now time.Time) (AccessClaims, error) {
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
	c, ok := t.verify(raw, now)
	if !ok || !c.validAt(sec) {
		return AccessClaims{}, ErrInvalidToken
	}
	t.cache.put(raw, c)
	return c, nil
}

// parseState is what one parse uses: a golang-jwt parser whose validator
// reads the time from now, the claims it decodes into, and buffers for
// checking the payload. tokens.states pools them, so that a parse builds
// no parser.
type parseState struct {
	now     time.Time
	claims  accessToken
	parser  *jwt.Parser
	seg     []byte        // the payload segment
	payload []byte        // the decoded payload
	issued  AccessClaims  // claims as issueAccess would have them
	canon   []byte        // issued encoded as issueAccess encodes it
	buf     bytes.Buffer  // enc's output
	enc     *json.Encoder // writes to buf
}

// verify parses raw with golang-jwt at time now: signature (algorithm and
// key pinned by keys.key), exp required, iat and nbf with clockSkew's
// leeway, iss, aud, and accessToken.Validate; then checkPayload. The
// caller's validAt takes the leeway off exp.
func (t *tokenIssuer) verify(raw string, now time.Time) (AccessClaims, bool) {
	if !oneSpelling(raw) {
		return AccessClaims{}, false
	}
	st := t.states.Get().(*parseState)
	st.now = now
	st.claims = accessToken{}
	_, err := st.parser.ParseWithClaims(raw, &st.claims, t.keyFunc)
	ok := err == nil && st.checkPayload(raw)
	c := st.claims.accessClaims()
	st.claims = accessToken{} // the pool must not keep the claims alive
	t.states.Put(st)
	if !ok {
		return AccessClaims{}, false
	}
	c.Audience = t.audience // aud may have been an array holding it
	if c.Permissions == nil {
		c.Permissions = []string{}
	}
	return c, true
}

// checkPayload makes sure that golang-jwt's reading of raw's payload, with
// encoding/json into st.claims, is the only reading: encoding/json matches
// names case-insensitively, keeps the last of duplicate names, replaces
// invalid UTF-8 and lone surrogates with U+FFFD, leaves a string as it was
// for null, and ignores unknown members, so another JWT library could read
// the same token differently. A payload as issueAccess writes it is exactly
// what encoding/json makes of the claims read from it, and has one reading;
// any other is read again with readStrict, which must find the same claims.
func (st *parseState) checkPayload(raw string) bool {
	_, rest, _ := strings.Cut(raw, ".")
	seg, _, _ := strings.Cut(rest, ".")
	st.seg = append(st.seg[:0], seg...)
	var err error
	if st.payload, err = base64.RawURLEncoding.Strict().AppendDecode(st.payload[:0], st.seg); err != nil {
		return false
	}
	st.issued = st.claims.accessClaims()
	canon, ok := appendIssued(st.canon[:0], &st.issued)
	if !ok {
		st.buf.Reset()
		if err = st.enc.Encode(&st.issued); err == nil {
			canon = append(canon[:0], bytes.TrimSuffix(st.buf.Bytes(), []byte("\n"))...)
		}
	}
	st.canon, st.issued = canon, AccessClaims{}
	if err == nil && bytes.Equal(canon, st.payload) {
		return true
	}
	var strict accessToken
	return strict.readStrict(st.payload) == nil && strict.equal(&st.claims)
}

// appendIssued appends c as encoding/json encodes it (issueAccess's
// json.Marshal), when none of its strings needs an escape; ok is false
// otherwise, and the caller asks encoding/json. What it writes is strict
// JSON by construction: the claim names once each, in AccessClaims's
// order, integers, and strings written as they are.
func appendIssued(b []byte, c *AccessClaims) (_ []byte, ok bool) {
	b = strconv.AppendInt(append(b, `{"id":`...), c.ID, 10)
	if b, ok = appendPlain(append(b, `,"username":`...), c.Username); !ok {
		return b, false
	}
	b = append(b, `,"permissions":`...)
	if c.Permissions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, p := range c.Permissions {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendPlain(b, p); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	for _, m := range [...]struct{ name, v string }{{`,"type":`, c.Type}, {`,"sub":`, c.Subject},
		{`,"sid":`, c.SessionID}, {`,"iss":`, c.Issuer}, {`,"aud":`, c.Audience}} {
		if b, ok = appendPlain(append(b, m.name...), m.v); !ok {
			return b, false
		}
	}
	b = strconv.AppendInt(append(b, `,"iat":`...), c.IssuedAt, 10)
	b = strconv.AppendInt(append(b, `,"nbf":`...), c.NotBefore, 10)
	b = strconv.AppendInt(append(b, `,"exp":`...), c.ExpiresAt, 10)
	if len(c.AMR) > 0 {
		b = append(b, `,"amr":[`...)
		for i, v := range c.AMR {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendPlain(b, v); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), true
}

// appendPlain appends s in quotes if encoding/json writes it unescaped:
// valid UTF-8 without control characters, '"', '\\', '<', '>', '&',
// U+2028 or U+2029.
func appendPlain(b []byte, s string) ([]byte, bool) {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return b, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && (!utf8.ValidString(s) || strings.Contains(s, "\u2028") || strings.Contains(s, "\u2029")) {
		return b, false
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// oneSpelling refuses CR and LF, which encoding/base64 skips inside a
// segment: with them, one signature would verify many token texts.
// golang-jwt's strict decoding refuses every other character outside the
// base64url alphabet, padding and non-zero trailing bits.
func oneSpelling(raw string) bool {
	return strings.IndexByte(raw, '\r') < 0 && strings.IndexByte(raw, '\n') < 0
}

// validAt reports whether claims that passed verify are valid at Unix time
// sec: not expired (no leeway), and iat and nbf not further than clockSkew
// in the future.
func (c *AccessClaims) validAt(sec int64) bool {
	return sec < c.ExpiresAt && c.IssuedAt <= sec+clockSkew && c.NotBefore <= sec+clockSkew
}

// jwsKeys is the header policy and the keys of one pinned algorithm. Its key
// method is golang-jwt's Keyfunc.
type jwsKeys struct {
	method  jwt.SigningMethod // the only accepted implementation
	keys    map[string]any    // kid -> verification key
	noKid   any               // key for tokens without kid; nil: a kid is required
	headers map[string]any    // exact header segment of issued tokens -> key
}

var (
	errTokenHeader = errors.New("authgin: access token header refused")
	errTokenClaims = errors.New("authgin: access token claims refused")
)

// key returns the key that verifies tok, whose alg golang-jwt has already
// matched against the single valid method. The header must be a JSON object
// holding only alg, an optional typ ("JWT") and kid (naming a configured
// key): jku, jwk, x5u, x5c, crit and every other parameter are refused, so
// a token can never bring its own key or key location. The method must be
// the configured implementation itself, not whatever is registered under
// its name.
func (k *jwsKeys) key(tok *jwt.Token) (any, error) {
	if tok.Method != k.method {
		return nil, errTokenHeader
	}
	h, _, _ := strings.Cut(tok.Raw, ".")
	if key, ok := k.headers[h]; ok {
		return key, nil // byte for byte the header of an issued token
	}
	key := k.noKid
	for name, v := range tok.Header {
		switch name {
		case "alg":
		case "typ":
			if v != "JWT" {
				return nil, errTokenHeader
			}
		case "kid":
			kid, ok := v.(string)
			if !ok {
				return nil, errTokenHeader
			}
			key = k.keys[kid]
		default:
			return nil, errTokenHeader
		}
	}
	if key == nil {
		return nil, errTokenHeader
	}
	// golang-jwt read the header with encoding/json, which keeps the last of
	// duplicate names and replaces invalid characters: read it again strictly.
	hj, err := base64.RawURLEncoding.Strict().DecodeString(h)
	if err != nil || !strictJSON(hj) {
		return nil, errTokenHeader
	}
	return key, nil
}

// accessToken is the typed claim set golang-jwt decodes an access token
// into: AccessClaims's members, with aud a string or an array of strings
// and the dates integers that may be absent. Validate checks what
// golang-jwt's validator has no option for.
type accessToken struct {
	ID          int64       `json:"id"`
	Username    string      `json:"username"`
	Permissions []string    `json:"permissions"`
	Type        string      `json:"type"`
	Subject     string      `json:"sub"`
	SessionID   string      `json:"sid"`
	Issuer      string      `json:"iss"`
	Audience    audience    `json:"aud"`
	IssuedAt    numericDate `json:"iat"`
	NotBefore   numericDate `json:"nbf"`
	ExpiresAt   numericDate `json:"exp"`
	AMR         []string    `json:"amr"`
}

func (c *accessToken) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.get(), nil }
func (c *accessToken) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.get(), nil }
func (c *accessToken) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.get(), nil }
func (c *accessToken) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *accessToken) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *accessToken) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience.list, nil }

// Validate is golang-jwt's ClaimsValidator hook: type "access", a positive
// id, sub its decimal form, and iat present (golang-jwt checks iat only when
// it is there).
func (c *accessToken) Validate() error {
	var buf [20]byte
	if c.Type != accessType || c.ID <= 0 || c.Subject != string(strconv.AppendInt(buf[:0], c.ID, 10)) || !c.IssuedAt.set {
		return errTokenClaims
	}
	return nil
}

// accessClaims returns c as AccessClaims, with Audience the first aud and
// absent dates zero.
func (c *accessToken) accessClaims() AccessClaims {
	a := AccessClaims{ID: c.ID, Username: c.Username, Permissions: c.Permissions, Type: c.Type, Subject: c.Subject,
		SessionID: c.SessionID, Issuer: c.Issuer, IssuedAt: c.IssuedAt.unix, NotBefore: c.NotBefore.unix, ExpiresAt: c.ExpiresAt.unix,
		AMR: c.AMR}
	if len(c.Audience.list) > 0 {
		a.Audience = c.Audience.list[0]
	}
	return a
}

// equal reports whether c and d hold the same claims.
func (c *accessToken) equal(d *accessToken) bool {
	return c.ID == d.ID && c.Username == d.Username && slices.Equal(c.Permissions, d.Permissions) &&
		c.Type == d.Type && c.Subject == d.Subject &&
		c.SessionID == d.SessionID && c.Issuer == d.Issuer && slices.Equal(c.Audience.list, d.Audience.list) &&
		c.IssuedAt.same(d.IssuedAt) && c.NotBefore.same(d.NotBefore) && c.ExpiresAt.same(d.ExpiresAt) &&
		slices.Equal(c.AMR, d.AMR)
}

// readStrict reads the claims from p by their exact (case-sensitive) names:
// p must pass strictJSON and hold an object with at most maxUnknownClaims
// ignored members; of the claims, only permissions may be null.
func (c *accessToken) readStrict(p []byte) error {
	if !strictJSON(p) {
		return errTokenClaims
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(p, &members); err != nil {
		return err // not an object
	}
	unknown := 0
	for name, v := range members {
		var dst any
		switch name {
		case "id":
			dst = &c.ID
		case "username":
			dst = &c.Username
		case "permissions":
			var err error
			if c.Permissions, err = readStrings(v); err != nil {
				return err
			}
			continue
		case "amr":
			var err error
			if c.AMR, err = readStrings(v); err != nil || c.AMR == nil {
				return errTokenClaims // null or not strings
			}
			continue
		case "type":
			dst = &c.Type
		case "sub":
			dst = &c.Subject
		case "sid":
			dst = &c.SessionID
		case "iss":
			dst = &c.Issuer
		case "aud":
			dst = &c.Audience
		case "iat":
			dst = &c.IssuedAt
		case "nbf":
			dst = &c.NotBefore
		case "exp":
			dst = &c.ExpiresAt
		default:
			if unknown++; unknown > maxUnknownClaims {
				return errTokenClaims
			}
			continue
		}
		if string(v) == "null" {
			return errTokenClaims // encoding/json would leave the field as it was
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return err
		}
	}
	return nil
}

// audience is the aud claim: a string or an array of strings (RFC 7519).
type audience struct {
	list []string
	one  [1]string // list's backing array for a string
}

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &a.one[0]); err != nil {
			return err
		}
		a.list = a.one[:]
		return nil
	}
	if string(b) == "null" {
		return errTokenClaims
	}
	var err error
	a.list, err = readStrings(b)
	return err
}

// readStrings reads a JSON array of strings, or null (nil). encoding/json
// alone would read a null element as "".
func readStrings(b []byte) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil || items == nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, v := range items {
		if v[0] != '"' {
			return nil, errTokenClaims
		}
		if err := json.Unmarshal(v, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// numericDate is an iat, nbf or exp claim: an integer (RFC 7519 allows a
// fraction; authgin writes none and accepts none), or absent.
type numericDate struct {
	unix int64
	set  bool
	date jwt.NumericDate // what get returns
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	// b is a valid JSON value (encoding/json checked it), so ParseInt's
	// grammar leaves only JSON's integers without exponent.
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return errTokenClaims
	}
	d.unix, d.set = v, true
	return nil
}

// get returns the date for golang-jwt's validator, nil when absent.
func (d *numericDate) get() *jwt.NumericDate {
	if !d.set {
		return nil
	}
	d.date.Time = time.Unix(d.unix, 0)
	return &d.date
}

func (d numericDate) same(e numericDate) bool { return d.unix == e.unix && d.set == e.set }

// strictJSON reports whether p is one JSON value that also meets what
// encoding/json does not check: valid UTF-8, member names unique within
// each object (compared after unescaping), at most maxJSONDepth levels of
// nesting, and every U+FFFD in a string written as such. encoding/json
// reads a lone surrogate escape as U+FFFD, and an escaped U+FFFD cannot be
// told from it, so both are refused. RFC 7519 allows a parser to keep the
// last of duplicate names, but then two parsers may read one token
// differently.
func strictJSON(p []byte) bool {
	if !utf8.Valid(p) {
		return false
	}
	type level struct {
		names   map[string]struct{} // nil in an array
		wantKey bool
	}
	var stack []level
	seen := false
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return seen && len(stack) == 0
		}
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && strings.Contains(s, "\uFFFD") &&
			strings.Count(s, "\uFFFD") != bytes.Count(p[start:dec.InputOffset()], []byte("\uFFFD")) {
			return false
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			top := &stack[n-1]
			if top.wantKey { // Token returns only a name or '}' here
				name := tok.(string)
				if _, dup := top.names[name]; dup {
					return false
				}
				top.names[name] = struct{}{}
				top.wantKey = false
				continue
			}
			top.wantKey = true // tok starts the member's value
		} else if n == 0 {
			if seen {
				return false // a second value
			}
			seen = true
		}
		if d, ok := tok.(json.Delim); ok { // '{' or '['
			if len(stack) == maxJSONDepth {
				return false
			}
			l := level{}
			if d == '{' {
				l = level{names: map[string]struct{}{}, wantKey: true}
			}
			stack = append(stack, l)
		}
	}
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
