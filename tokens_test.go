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
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the fixed clock of the token tests.
var testNow = time.Unix(1_700_000_000, 0)

func tokSecret() []byte { return []byte("0123456789abcdef0123456789abcdef") }

// tokenOptions returns the options newTokens reads, for HS256 or signing.
func tokenOptions(s *SigningConfig) *Options {
	o := &Options{Issuer: "authgin", Audience: "authgin", AccessTTL: 15 * time.Minute, Signing: s}
	if s == nil {
		o.Secret = tokSecret()
	}
	return o
}

func mustTokens(t testing.TB, s *SigningConfig) *tokenIssuer {
	t.Helper()
	tk, err := newTokenIssuer(tokenOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// testRSAKey reads a fixed 2048-bit test key (generating one costs seconds
// under -race).
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/keys/rsa2048.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func testEd25519Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testECKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// forge builds a compact JWS from raw header and payload JSON, signed with
// m and key (no signature when m is nil).
func forge(t testing.TB, header, payload string, m jwt.SigningMethod, key any) string {
	t.Helper()
	s := b64(header) + "." + b64(payload)
	if m == nil {
		return s + "."
	}
	sig, err := m.Sign(s, key)
	if err != nil {
		t.Fatal(err)
	}
	return s + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// claimsJSON is a valid claim set at now, as the issuer writes it.
func claimsJSON(now int64) string {
	return fmt.Sprintf(`{"id":7,"username":"alice","permissions":["admin"],"type":"access","sub":"7","sid":"s1",`+
		`"iss":"authgin","aud":"authgin","iat":%d,"nbf":%d,"exp":%d}`, now, now, now+900)
}

const hsHeader = `{"alg":"HS256","typ":"JWT"}`

func signingConfigs(t *testing.T) map[string]*SigningConfig {
	return map[string]*SigningConfig{
		"HS256": nil,
		"EdDSA": {Algorithm: "EdDSA", Key: testEd25519Key(t), KeyID: "ed-1"},
		"RS256": {Algorithm: "RS256", Key: testRSAKey(t), KeyID: "rs-1"},
		"ES256": {Algorithm: "ES256", Key: testECKey(t, elliptic.P256()), KeyID: "es-1"},
	}
}

func TestTokensRoundTrip(t *testing.T) {
	for alg, s := range signingConfigs(t) {
		t.Run(alg, func(t *testing.T) {
			tk := mustTokens(t, s)
			raw, issued, err := tk.issueAccess(testNow, 42, "Zoë <&> \u2028\"q\"", []string{"admin", "write"}, "sess-1")
			if err != nil {
				t.Fatal(err)
			}
			want := AccessClaims{ID: 42, Username: "Zoë <&> \u2028\"q\"", Permissions: []string{"admin", "write"},
				Type: "access", Subject: "42", SessionID: "sess-1", Issuer: "authgin", Audience: "authgin",
				IssuedAt: testNow.Unix(), NotBefore: testNow.Unix(), ExpiresAt: testNow.Unix() + 900}
			if !reflect.DeepEqual(issued, want) {
				t.Fatalf("issued claims %+v, want %+v", issued, want)
			}
			// A fresh verifier (empty cache) and the issuer's own (miss, then hit).
			for _, v := range []*tokenIssuer{tk, tk, tk} {
				got, err := v.parseAccess(raw, testNow.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("parsed %+v, want %+v", got, want)
				}
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
			var h map[string]string
			if err := json.Unmarshal(hdr, &h); err != nil {
				t.Fatal(err)
			}
			wantKid := ""
			if s != nil {
				wantKid = s.KeyID
			}
			if h["alg"] != alg || h["typ"] != "JWT" || h["kid"] != wantKid {
				t.Fatalf("header %s", hdr)
			}
		})
	}
}

func TestIssueAccessNilPermissions(t *testing.T) {
	tk := mustTokens(t, nil)
	raw, c, err := tk.issueAccess(testNow, 1, "bob", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Permissions == nil || len(c.Permissions) != 0 {
		t.Fatalf("issued permissions %#v, want empty", c.Permissions)
	}
	p, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if !bytes.Contains(p, []byte(`"permissions":[]`)) {
		t.Fatalf("payload %s: permissions should be []", p)
	}
}

// TestIssueAccessInvalidUTF8 issues a token from strings that are not
// valid UTF-8: the issued claims are those parseAccess reads, U+FFFD in
// place of each invalid byte, and the caller's slice is left alone.
func TestIssueAccessInvalidUTF8(t *testing.T) {
	tk := mustTokens(t, nil)
	perms := []string{"ok", "b\xffd"}
	raw, issued, err := tk.issueAccess(testNow, 3, "al\xffice", perms, "s\xfe")
	if err != nil {
		t.Fatal(err)
	}
	if issued.Username != "al\uFFFDice" || issued.SessionID != "s\uFFFD" || !reflect.DeepEqual(issued.Permissions, []string{"ok", "b\uFFFDd"}) {
		t.Fatalf("issued %+v", issued)
	}
	if perms[1] != "b\xffd" {
		t.Fatal("the caller's permissions changed")
	}
	got, err := tk.parseAccess(raw, testNow)
	if err != nil || !reflect.DeepEqual(got, issued) {
		t.Fatalf("parsed %+v (%v), issued %+v", got, err, issued)
	}
}

// rejects asserts that tk refuses raw with exactly ErrInvalidToken.
func rejects(t *testing.T, tk *tokenIssuer, raw string, now time.Time) {
	t.Helper()
	n := tk.cache.len()
	c, err := tk.parseAccess(raw, now)
	if err != ErrInvalidToken {
		t.Fatalf("parseAccess(%.80q) = %+v, %v; want ErrInvalidToken", raw, c, err)
	}
	if !reflect.DeepEqual(c, AccessClaims{}) {
		t.Fatalf("claims returned with an error: %+v", c)
	}
	if tk.cache.len() != n {
		t.Fatalf("a rejected token changed the cache size from %d to %d", n, tk.cache.len())
	}
}

func TestParseAccessAlgNone(t *testing.T) {
	tk := mustTokens(t, nil)
	now := testNow.Unix()
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		for _, typ := range []string{``, `,"typ":"JWT"`} {
			s := b64(`{"alg":"`+alg+`"`+typ+`}`) + "." + b64(claimsJSON(now))
			rejects(t, tk, s+".", testNow)
			rejects(t, tk, s, testNow)
			// with a signature that is a valid HS256 MAC of the signing input
			sig, _ := jwt.SigningMethodHS256.Sign(s, tokSecret())
			rejects(t, tk, s+"."+base64.RawURLEncoding.EncodeToString(sig), testNow)
		}
	}
}

func TestParseAccessWrongAlgorithm(t *testing.T) {
	now := testNow.Unix()
	hs := mustTokens(t, nil)
	rsKey := testRSAKey(t)
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		rejects(t, hs, forge(t, `{"alg":"`+m.Alg()+`","typ":"JWT"}`, claimsJSON(now), m, tokSecret()), testNow)
	}
	rejects(t, hs, forge(t, `{"alg":"RS256","typ":"JWT"}`, claimsJSON(now), jwt.SigningMethodRS256, rsKey), testNow)
	// An HS256 header over another algorithm's MAC.
	rejects(t, hs, forge(t, hsHeader, claimsJSON(now), jwt.SigningMethodHS512, tokSecret()), testNow)

	rs := mustTokens(t, &SigningConfig{Algorithm: "RS256", Key: rsKey, KeyID: "k"})
	rejects(t, rs, forge(t, `{"alg":"PS256","kid":"k"}`, claimsJSON(now), jwt.SigningMethodPS256, rsKey), testNow)
	rejects(t, rs, forge(t, `{"alg":"RS512","kid":"k"}`, claimsJSON(now), jwt.SigningMethodRS512, rsKey), testNow)
	ec := testECKey(t, elliptic.P256())
	rejects(t, rs, forge(t, `{"alg":"ES256","kid":"k"}`, claimsJSON(now), jwt.SigningMethodES256, ec), testNow)
	// the control: the same claims properly signed pass
	if _, err := rs.parseAccess(forge(t, `{"alg":"RS256","kid":"k"}`, claimsJSON(now), jwt.SigningMethodRS256, rsKey), testNow); err != nil {
		t.Fatal(err)
	}
}

// acceptAll is a signing method that accepts every signature.
type acceptAll struct{ jwt.SigningMethod }

func (acceptAll) Verify(string, []byte, any) error { return nil }

// TestParseAccessPinsImplementation registers an implementation that
// accepts any signature under the configured algorithm's name: tokens keep
// verifying with the implementation they were built with.
func TestParseAccessPinsImplementation(t *testing.T) {
	tk := mustTokens(t, nil)
	jwt.RegisterSigningMethod("HS256", func() jwt.SigningMethod { return acceptAll{jwt.SigningMethodHS256} })
	t.Cleanup(func() { jwt.RegisterSigningMethod("HS256", func() jwt.SigningMethod { return jwt.SigningMethodHS256 }) })
	rejects(t, tk, forge(t, hsHeader, claimsJSON(testNow.Unix()), jwt.SigningMethodHS256, []byte("another key, 32 bytes long......")), testNow)
	raw, _, err := tk.issueAccess(testNow, 7, "alice", nil, "s")
	if err != nil {
		t.Fatal(err)
	}
	rejects(t, tk, raw[:len(raw)-4]+"AAAA", testNow)
}

// TestParseAccessKeyConfusion signs an HS256 token with the RSA public key
// (PEM and DER) as the HMAC secret: a verifier configured for RS256 must
// not treat its public key as an HMAC key.
func TestParseAccessKeyConfusion(t *testing.T) {
	k := testRSAKey(t)
	rs := mustTokens(t, &SigningConfig{Algorithm: "RS256", Key: k, KeyID: "k"})
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, secret := range [][]byte{pemBytes, der, x509.MarshalPKCS1PublicKey(&k.PublicKey)} {
		for _, h := range []string{`{"alg":"HS256","kid":"k","typ":"JWT"}`, `{"alg":"HS256","typ":"JWT"}`, `{"alg":"RS256","kid":"k"}`} {
			rejects(t, rs, forge(t, h, claimsJSON(testNow.Unix()), jwt.SigningMethodHS256, secret), testNow)
		}
	}
}

func TestParseAccessTampered(t *testing.T) {
	for alg, s := range signingConfigs(t) {
		t.Run(alg, func(t *testing.T) {
			tk := mustTokens(t, s)
			raw, _, err := tk.issueAccess(testNow, 7, "alice", []string{"user"}, "s")
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(raw, ".")
			// payload: promote to admin
			p, _ := base64.RawURLEncoding.DecodeString(parts[1])
			evil := bytes.Replace(p, []byte(`["user"]`), []byte(`["admin"]`), 1)
			rejects(t, tk, parts[0]+"."+base64.RawURLEncoding.EncodeToString(evil)+"."+parts[2], testNow)
			// signature: flip one bit of it
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[len(sig)/2] ^= 1
			rejects(t, tk, parts[0]+"."+parts[1]+"."+base64.RawURLEncoding.EncodeToString(sig), testNow)
			// signature truncated, extended, missing; extra segment
			rejects(t, tk, raw[:len(raw)-2], testNow)
			rejects(t, tk, raw+"AA", testNow)
			rejects(t, tk, parts[0]+"."+parts[1]+".", testNow)
			rejects(t, tk, parts[0]+"."+parts[1], testNow)
			rejects(t, tk, raw+".", testNow)
			rejects(t, tk, raw+"."+parts[2], testNow)
			// non-canonical base64: padding, newline, standard alphabet
			rejects(t, tk, raw+"=", testNow)
			rejects(t, tk, parts[0]+".\n"+parts[1]+"."+parts[2], testNow)
			rejects(t, tk, parts[0]+"."+parts[1]+".+"+parts[2][1:], testNow)
			if std := strings.NewReplacer("-", "+", "_", "/").Replace(raw); std != raw {
				rejects(t, tk, std, testNow)
			}
			if _, err := tk.parseAccess(raw, testNow); err != nil {
				t.Fatalf("the untampered token fails: %v", err)
			}
		})
	}
}

// TestParseAccessClaims signs hand-written claim sets with the right key:
// only the claim checks stand between them and acceptance.
func TestParseAccessClaims(t *testing.T) {
	now := testNow.Unix()
	base := claimsJSON(now)
	edit := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("claims lack %s", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	exp := fmt.Sprintf(`"exp":%d`, now+900)
	iat := fmt.Sprintf(`"iat":%d`, now)
	nbf := fmt.Sprintf(`"nbf":%d`, now)
	bad := map[string]string{
		"expired":              edit(exp, fmt.Sprintf(`"exp":%d`, now-1)),
		"exp equals now":       edit(exp, fmt.Sprintf(`"exp":%d`, now)),
		"missing exp":          edit(","+exp, ""),
		"future iat":           edit(iat, fmt.Sprintf(`"iat":%d`, now+60)),
		"future nbf":           edit(nbf, fmt.Sprintf(`"nbf":%d`, now+60)),
		"missing iat":          edit(iat+",", ""),
		"wrong iss":            edit(`"iss":"authgin"`, `"iss":"evil"`),
		"missing iss":          edit(`"iss":"authgin",`, ""),
		"iss case":             edit(`"iss":"authgin"`, `"iss":"Authgin"`),
		"wrong aud":            edit(`"aud":"authgin"`, `"aud":"other"`),
		"aud array without":    edit(`"aud":"authgin"`, `"aud":["other","x"]`),
		"aud empty array":      edit(`"aud":"authgin"`, `"aud":[]`),
		"aud number":           edit(`"aud":"authgin"`, `"aud":1`),
		"aud array of numbers": edit(`"aud":"authgin"`, `"aud":["authgin",1]`),
		"missing aud":          edit(`"aud":"authgin",`, ""),
		"type refresh":         edit(`"type":"access"`, `"type":"refresh"`),
		"type Access":          edit(`"type":"access"`, `"type":"Access"`),
		"missing type":         edit(`"type":"access",`, ""),
		"sub mismatch":         edit(`"sub":"7"`, `"sub":"8"`),
		"sub padded":           edit(`"sub":"7"`, `"sub":"07"`),
		"sub number":           edit(`"sub":"7"`, `"sub":7`),
		"missing sub":          edit(`"sub":"7",`, ""),
		"missing id":           edit(`"id":7,`, ""),
		"id zero":              strings.Replace(edit(`"id":7`, `"id":0`), `"sub":"7"`, `"sub":"0"`, 1),
		"id negative":          strings.Replace(edit(`"id":7`, `"id":-7`), `"sub":"7"`, `"sub":"-7"`, 1),
		"id string":            edit(`"id":7`, `"id":"7"`),
		"id float":             edit(`"id":7`, `"id":7.0`),
		"id exponent":          edit(`"id":7`, `"id":7e0`),
		"id leading zero":      edit(`"id":7`, `"id":07`),
		"id overflow":          edit(`"id":7`, `"id":9223372036854775808`),
		"exp float":            edit(exp, fmt.Sprintf(`"exp":%d.5`, now+900)),
		"exp string":           edit(exp, fmt.Sprintf(`"exp":"%d"`, now+900)),
		"exp null":             edit(exp, `"exp":null`),
		"exp overflow":         edit(exp, `"exp":99999999999999999999`),
		"exp minus zero":       edit(exp, `"exp":-0`),
		"duplicate exp":        edit(exp, exp+","+exp),
		"duplicate type":       edit(`"type":"access"`, `"type":"access","type":"refresh"`),
		"duplicate escaped":    edit(`"type":"access"`, `"type":"access","\u0074ype":"access"`),
		"duplicate unknown":    edit(`"sid":"s1"`, `"sid":"s1","x":1,"x":1`),
		"duplicate nested":     edit(`"sid":"s1"`, `"sid":"s1","x":{"a":1,"a":2}`),
		"username number":      edit(`"username":"alice"`, `"username":1`),
		"username null":        edit(`"username":"alice"`, `"username":null`),
		"username bad utf8":    edit(`"username":"alice"`, "\"username\":\"al\xffice\""),
		"username control":     edit(`"username":"alice"`, "\"username\":\"al\x01ice\""),
		"username lone high":   edit(`"username":"alice"`, `"username":"\ud83d"`),
		"username lone low":    edit(`"username":"alice"`, `"username":"\ude00x"`),
		"username bad escape":  edit(`"username":"alice"`, `"username":"\x41"`),
		"username short \\u":   edit(`"username":"alice"`, `"username":"\u00e"`),
		"permissions string":   edit(`["admin"]`, `"admin"`),
		"permissions numbers":  edit(`["admin"]`, `[1]`),
		"permissions trailing": edit(`["admin"]`, `["admin",]`),
		"permissions nested":   edit(`["admin"]`, `[["admin"]]`),
		"trailing data":        base + "{}",
		"trailing comma":       edit(`}`, `,}`),
		"two objects":          base + base,
		"not an object":        `["id",7]`,
		"empty object":         `{}`,
		"null":                 `null`,
		"empty":                ``,
		"bom":                  "\ufeff" + base,
		"unquoted key":         edit(`"sid":"s1"`, `sid:"s1"`),
		"single quotes":        edit(`"sid":"s1"`, `'sid':'s1'`),
		"unknown bad json":     edit(`"sid":"s1"`, `"sid":"s1","x":[1,]`),
		"unknown bad literal":  edit(`"sid":"s1"`, `"sid":"s1","x":tru`),
		"unknown bad number":   edit(`"sid":"s1"`, `"sid":"s1","x":1.`),
		"unknown too deep":     edit(`"sid":"s1"`, `"sid":"s1","x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)),
		"too many unknown":     edit(`"sid":"s1"`, `"sid":"s1"`+strings.Repeat(`,"u":1`, 1)+manyUnknown(20)),
		"unknown lone high":    edit(`"sid":"s1"`, `"sid":"s1","x":"\ud83d"`),
		"unknown bad utf8":     edit(`"sid":"s1"`, "\"sid\":\"s1\",\"x\":[\"\xff\"]"),
		"name lone surrogate":  edit(`"sid":"s1"`, `"sid":"s1","\udc00":1`),
		"id case-folded twin":  edit(`"id":7`, `"id":7,"ID":8`),
		"type only folded":     edit(`"type":"access"`, `"TYPE":"access"`),
		"sub only folded":      edit(`"sub":"7"`, `"\u017fub":"7"`),
		"sid null":             edit(`"sid":"s1"`, `"sid":null`),
		"iat null":             edit(iat, `"iat":null`),
		"nbf null":             edit(nbf, `"nbf":null`),
		"aud null":             edit(`"aud":"authgin"`, `"aud":null`),
		"aud array null":       edit(`"aud":"authgin"`, `"aud":["authgin",null]`),
		"permissions null one": edit(`["admin"]`, `["admin",null]`),
		"aud object":           edit(`"aud":"authgin"`, `"aud":{"authgin":1}`),
		// An escaped U+FFFD cannot be told from a lone surrogate once
		// encoding/json has read it: both are refused (issueAccess writes
		// U+FFFD as is).
		"escaped replacement": edit(`"username":"alice"`, `"username":"\ufffd"`),
	}
	tk := mustTokens(t, nil)
	for name, payload := range bad {
		t.Run(name, func(t *testing.T) {
			rejects(t, tk, forge(t, hsHeader, payload, jwt.SigningMethodHS256, tokSecret()), testNow)
		})
	}

	good := map[string]string{
		"as issued":              base,
		"iat within skew":        edit(iat, fmt.Sprintf(`"iat":%d`, now+clockSkew)),
		"nbf within skew":        edit(nbf, fmt.Sprintf(`"nbf":%d`, now+clockSkew)),
		"missing nbf":            edit(nbf+",", ""),
		"aud array":              edit(`"aud":"authgin"`, `"aud":["other","authgin"]`),
		"whitespace everywhere":  " {\n\t\"id\" : 7 ,\r\n" + base[len(`{"id":7,`):] + " \n",
		"unknown claims ignored": edit(`"sid":"s1"`, `"sid":"s1","jti":"x","n":[1,-2.5e+3,{"a":[true,false,null]}],"o":{}`),
		"escapes":                edit(`"username":"alice"`, `"username":"\u0061lice"`),
		"permissions null":       edit(`["admin"]`, `null`),
		"permissions empty":      edit(`["admin"]`, `[]`),
		"arrays spaced":          strings.Replace(edit(`["admin"]`, "[ \"admin\" ,\n\"x\" ]"), `"aud":"authgin"`, `"aud":[ "authgin" ]`, 1),
		"folded twin, same":      edit(`"sid":"s1"`, `"sid":"s1","SID":"s1"`),
		"literal replacement":    edit(`"sid":"s1"`, `"sid":"s1","x":"\ud83d\ude00 �"`),
	}
	for name, payload := range good {
		t.Run(name, func(t *testing.T) {
			c, err := mustTokens(t, nil).parseAccess(forge(t, hsHeader, payload, jwt.SigningMethodHS256, tokSecret()), testNow)
			if err != nil {
				t.Fatalf("rejected: %s", payload)
			}
			if c.ID != 7 || c.Subject != "7" || c.Username != "alice" || c.Type != "access" ||
				c.Issuer != "authgin" || c.Audience != "authgin" || c.Permissions == nil {
				t.Fatalf("claims %+v", c)
			}
		})
	}
}

func manyUnknown(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"u%d":1`, i)
	}
	return b.String()
}

func TestParseAccessHeader(t *testing.T) {
	now := testNow.Unix()
	hs := mustTokens(t, nil)
	jwk := fmt.Sprintf(`{"kty":"oct","k":"%s"}`, base64.RawURLEncoding.EncodeToString(tokSecret()))
	bad := map[string]string{
		"typ lower":     `{"alg":"HS256","typ":"jwt"}`,
		"typ JWS":       `{"alg":"HS256","typ":"JWS"}`,
		"typ at+jwt":    `{"alg":"HS256","typ":"at+jwt"}`,
		"typ number":    `{"alg":"HS256","typ":1}`,
		"kid under HS":  `{"alg":"HS256","kid":"k"}`,
		"jku":           `{"alg":"HS256","jku":"https://evil.example/jwks"}`,
		"jwk":           `{"alg":"HS256","jwk":` + jwk + `}`,
		"x5u":           `{"alg":"HS256","x5u":"https://evil.example/cert"}`,
		"x5c":           `{"alg":"HS256","x5c":["MIIB"]}`,
		"x5t":           `{"alg":"HS256","x5t":"abc"}`,
		"crit":          `{"alg":"HS256","crit":["exp"],"exp":1}`,
		"b64":           `{"alg":"HS256","b64":false,"crit":["b64"]}`,
		"cty":           `{"alg":"HS256","cty":"JWT"}`,
		"duplicate alg": `{"alg":"HS256","alg":"HS256"}`,
		"duplicate typ": `{"alg":"HS256","typ":"JWT","typ":"JWT"}`,
		"missing alg":   `{"typ":"JWT"}`,
		"alg number":    `{"alg":256}`,
		"alg lower":     `{"alg":"hs256"}`,
		"alg spaced":    `{"alg":"HS256 "}`,
		"not an object": `["HS256"]`,
		"trailing data": `{"alg":"HS256"}x`,
		"empty":         ``,
	}
	for name, h := range bad {
		t.Run(name, func(t *testing.T) {
			rejects(t, hs, forge(t, h, claimsJSON(now), jwt.SigningMethodHS256, tokSecret()), testNow)
		})
	}
	for _, h := range []string{`{"alg":"HS256"}`, `{"typ":"JWT","alg":"HS256"}`, ` { "alg" : "HS256" } `, `{"alg":"HS\u0032\u0035\u0036"}`} {
		if _, err := mustTokens(t, nil).parseAccess(forge(t, h, claimsJSON(now), jwt.SigningMethodHS256, tokSecret()), testNow); err != nil {
			t.Fatalf("header %s rejected", h)
		}
	}
}

func TestParseAccessKeyRotation(t *testing.T) {
	oldKey, newKey := testEd25519Key(t), testEd25519Key(t)
	old := mustTokens(t, &SigningConfig{Algorithm: "EdDSA", Key: oldKey, KeyID: "2024"})
	cur := mustTokens(t, &SigningConfig{Algorithm: "EdDSA", Key: newKey, KeyID: "2025",
		VerifyKeys: map[string]crypto.PublicKey{"2024": oldKey.Public()}})
	fresh := mustTokens(t, &SigningConfig{Algorithm: "EdDSA", Key: newKey, KeyID: "2025"})

	oldRaw, _, err := old.issueAccess(testNow, 1, "a", nil, "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cur.parseAccess(oldRaw, testNow); err != nil {
		t.Fatalf("a token of the retired key is refused: %v", err)
	}
	rejects(t, fresh, oldRaw, testNow) // once the old key is dropped
	newRaw, _, _ := cur.issueAccess(testNow, 1, "a", nil, "s")
	if _, err := fresh.parseAccess(newRaw, testNow); err != nil {
		t.Fatal(err)
	}
	c := claimsJSON(testNow.Unix())
	rejects(t, cur, forge(t, `{"alg":"EdDSA","kid":"2099"}`, c, jwt.SigningMethodEdDSA, newKey), testNow) // unknown kid
	rejects(t, cur, forge(t, `{"alg":"EdDSA"}`, c, jwt.SigningMethodEdDSA, newKey), testNow)              // no kid
	rejects(t, cur, forge(t, `{"alg":"EdDSA","kid":"2024"}`, c, jwt.SigningMethodEdDSA, newKey), testNow) // kid of another key
	rejects(t, cur, forge(t, `{"alg":"EdDSA","kid":""}`, c, jwt.SigningMethodEdDSA, newKey), testNow)
	if _, err := cur.parseAccess(forge(t, `{"alg":"EdDSA","kid":"2025"}`, c, jwt.SigningMethodEdDSA, newKey), testNow); err != nil {
		t.Fatal(err)
	}
}

func TestParseAccessOversize(t *testing.T) {
	tk := mustTokens(t, nil)
	raw, _, _ := tk.issueAccess(testNow, 1, "a", nil, "s")
	rejects(t, tk, "", testNow)
	rejects(t, tk, raw+strings.Repeat("A", maxTokenLen-len(raw)+1), testNow)
	huge := strings.Repeat("A", 1<<20)
	huge = raw + huge // a valid prefix does not help
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := tk.parseAccess(huge, testNow); err == nil {
			t.Fatal("accepted")
		}
	})
	if allocs != 0 {
		t.Fatalf("a 1 MB token costs %v allocations, want 0", allocs)
	}
	// A long username still fits within the bound when issued: the limit is
	// generous for real claims.
	long, _, err := tk.issueAccess(testNow, 1, strings.Repeat("x", 150), []string{"a", "b", "c"}, strings.Repeat("s", 64))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.parseAccess(long, testNow); err != nil {
		t.Fatal(err)
	}
}

func TestParseAccessCache(t *testing.T) {
	tk := mustTokens(t, nil)
	raw, _, _ := tk.issueAccess(testNow, 5, "cached", []string{"p"}, "s")
	if _, err := tk.parseAccess(raw, testNow); err != nil {
		t.Fatal(err)
	}
	if tk.cache.len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1", tk.cache.len())
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := tk.parseAccess(raw, testNow.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a cache hit costs %v allocations, want 0", allocs)
	}
	// Still cached one second before exp; rejected at exp and after.
	if _, err := tk.parseAccess(raw, testNow.Add(15*time.Minute-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.parseAccess(raw, testNow.Add(15*time.Minute)); err != ErrInvalidToken {
		t.Fatalf("an expired cached token: %v", err)
	}
	if tk.cache.len() != 0 {
		t.Fatal("an expired token stays cached")
	}
	// A hit re-checks nbf/iat too (a clock set back).
	if _, err := tk.parseAccess(raw, testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.parseAccess(raw, testNow.Add(-time.Minute)); err != ErrInvalidToken {
		t.Fatalf("a cached token before its nbf: %v", err)
	}

	// Failures are never cached: an expired token stays a miss.
	tk2 := mustTokens(t, nil)
	rejects(t, tk2, raw, testNow.Add(time.Hour))
	rejects(t, tk2, raw, testNow.Add(time.Hour))
}

func TestTokenCacheBounded(t *testing.T) {
	tk := mustTokens(t, nil)
	for i := range cacheCapacity + cacheCapacity/2 {
		raw, _, _ := tk.issueAccess(testNow, int64(i+1), "u", nil, "s")
		if _, err := tk.parseAccess(raw, testNow); err != nil {
			t.Fatal(err)
		}
		if n := tk.cache.len(); n > cacheCapacity {
			t.Fatalf("cache grew to %d entries", n)
		}
	}
	if n := tk.cache.len(); n < cacheCapacity/2 {
		t.Fatalf("cache keeps only %d entries", n)
	}
}

// TestParseAccessConcurrent runs hits, misses and failures in parallel
// (meaningful under -race).
func TestParseAccessConcurrent(t *testing.T) {
	tk := mustTokens(t, nil)
	var raws []string
	for i := range 64 {
		raw, _, _ := tk.issueAccess(testNow, int64(i+1), "u", nil, "s")
		raws = append(raws, raw)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				raw := raws[(g*7+i)%len(raws)]
				c, err := tk.parseAccess(raw, testNow)
				if err != nil || c.Subject == "" {
					errs <- fmt.Errorf("valid token refused: %v", err)
					return
				}
				if _, err := tk.parseAccess(raw[:len(raw)-1], testNow); err == nil {
					errs <- errors.New("a truncated token passed")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestNewTokensOptions(t *testing.T) {
	ed := testEd25519Key(t)
	rsaKey := testRSAKey(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384 := testECKey(t, elliptic.P384())
	p256 := testECKey(t, elliptic.P256())
	cases := []struct {
		name string
		o    *Options
		want string
	}{
		{"short secret", &Options{Secret: []byte("short"), Issuer: "i", Audience: "a", AccessTTL: time.Minute}, "Options.Secret"},
		{"zero ttl", &Options{Secret: tokSecret(), Issuer: "i", Audience: "a"}, "Options.AccessTTL"},
		{"sub-second ttl", &Options{Secret: tokSecret(), Issuer: "i", Audience: "a", AccessTTL: time.Millisecond}, "Options.AccessTTL"},
		{"unknown algorithm", tokenOptions(&SigningConfig{Algorithm: "HS256", Key: ed, KeyID: "k"}), "Options.Signing.Algorithm"},
		{"none algorithm", tokenOptions(&SigningConfig{Algorithm: "none", Key: ed, KeyID: "k"}), "Options.Signing.Algorithm"},
		{"lowercase algorithm", tokenOptions(&SigningConfig{Algorithm: "eddsa", Key: ed, KeyID: "k"}), "Options.Signing.Algorithm"},
		{"nil key", tokenOptions(&SigningConfig{Algorithm: "EdDSA", KeyID: "k"}), "Options.Signing.Key"},
		{"rsa key for EdDSA", tokenOptions(&SigningConfig{Algorithm: "EdDSA", Key: rsaKey, KeyID: "k"}), "Options.Signing.Key"},
		{"ed key for RS256", tokenOptions(&SigningConfig{Algorithm: "RS256", Key: ed, KeyID: "k"}), "Options.Signing.Key"},
		{"rsa 1024", tokenOptions(&SigningConfig{Algorithm: "RS256", Key: small, KeyID: "k"}), "Options.Signing.Key"},
		{"P-384 for ES256", tokenOptions(&SigningConfig{Algorithm: "ES256", Key: p384, KeyID: "k"}), "Options.Signing.Key"},
		{"ec key for EdDSA", tokenOptions(&SigningConfig{Algorithm: "EdDSA", Key: p256, KeyID: "k"}), "Options.Signing.Key"},
		{"missing kid", tokenOptions(&SigningConfig{Algorithm: "EdDSA", Key: ed}), "Options.Signing.KeyID"},
		{"huge kid", tokenOptions(&SigningConfig{Algorithm: "EdDSA", Key: ed, KeyID: strings.Repeat("k", 300)}), "Options.Signing.KeyID"},
		{"verify key wrong type", tokenOptions(&SigningConfig{Algorithm: "EdDSA", Key: ed, KeyID: "k",
			VerifyKeys: map[string]crypto.PublicKey{"old": &rsaKey.PublicKey}}), `Options.Signing.VerifyKeys["old"]`},
		{"verify key private", tokenOptions(&SigningConfig{Algorithm: "ES256", Key: p256, KeyID: "k",
			VerifyKeys: map[string]crypto.PublicKey{"old": p256}}), `Options.Signing.VerifyKeys["old"]`},
		{"verify key wrong curve", tokenOptions(&SigningConfig{Algorithm: "ES256", Key: p256, KeyID: "k",
			VerifyKeys: map[string]crypto.PublicKey{"old": &p384.PublicKey}}), `Options.Signing.VerifyKeys["old"]`},
		{"verify key small rsa", tokenOptions(&SigningConfig{Algorithm: "RS256", Key: rsaKey, KeyID: "k",
			VerifyKeys: map[string]crypto.PublicKey{"old": &small.PublicKey}}), `Options.Signing.VerifyKeys["old"]`},
		{"verify key nil", tokenOptions(&SigningConfig{Algorithm: "EdDSA", Key: ed, KeyID: "k",
			VerifyKeys: map[string]crypto.PublicKey{"old": nil}}), `Options.Signing.VerifyKeys["old"]`},
		{"verify kid repeats KeyID", tokenOptions(&SigningConfig{Algorithm: "EdDSA", Key: ed, KeyID: "k",
			VerifyKeys: map[string]crypto.PublicKey{"k": ed.Public()}}), "Options.Signing.VerifyKeys"},
		{"verify kid empty", tokenOptions(&SigningConfig{Algorithm: "EdDSA", Key: ed, KeyID: "k",
			VerifyKeys: map[string]crypto.PublicKey{"": ed.Public()}}), "Options.Signing.VerifyKeys"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := newTokenIssuer(c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "authgin: ") {
				t.Fatalf("err = %v, want one naming %s", err, c.want)
			}
		})
	}
	// The secret is copied: changing the caller's slice changes nothing.
	o := tokenOptions(nil)
	tk, err := newTokenIssuer(o)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, _ := tk.issueAccess(testNow, 1, "a", nil, "")
	o.Secret[0] ^= 1
	if _, err := tk.parseAccess(raw, testNow); err != nil {
		t.Fatal("the key changed with the caller's slice")
	}
}

func TestOpaqueToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, hash, err := newOpaqueToken()
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
		if err != nil || len(b) != 32 || len(tok) != 43 {
			t.Fatalf("token %q: %d bytes, %v", tok, len(b), err)
		}
		sum := sha256.Sum256([]byte(tok))
		if hash != hex.EncodeToString(sum[:]) || hash != hashOpaque(tok) {
			t.Fatalf("hash %s", hash)
		}
		if seen[tok] {
			t.Fatal("repeated token")
		}
		seen[tok] = true
	}
}

// unmarshalClaims reads an access token payload strictly.
func unmarshalClaims(p []byte) (accessToken, error) {
	var c accessToken
	err := c.readStrict(p)
	return c, err
}

// TestClaimsMatchEncodingJSON issues tokens with every kind of string the
// issuer may write and checks that parsing returns the issued claims, which
// are what encoding/json reads from the payload, and that the strict
// decoding of a payload that is not as issued (a space added) agrees.
func TestClaimsMatchEncodingJSON(t *testing.T) {
	tk := mustTokens(t, nil)
	names := []string{"", "plain", "Zoë", "日本語", "emoji 😀", "<script>&amp;", "tab\tnl\nnul\x00", "quote\"back\\slash",
		"\u2028\u2029", "\x7f\u0080", "invalid \xff utf8", "/slash", "\ufffd", strings.Repeat("é", 100)}
	for _, n := range names {
		raw, issued, err := tk.issueAccess(testNow, 9, n, []string{n, "x"}, n)
		if err != nil {
			t.Fatal(err)
		}
		if v := strings.ToValidUTF8(n, "\uFFFD"); issued.Username != v || issued.SessionID != v || issued.Permissions[0] != v {
			t.Fatalf("%q: issued %+v", n, issued)
		}
		got, err := tk.parseAccess(raw, testNow)
		if err != nil || !reflect.DeepEqual(got, issued) {
			t.Fatalf("%q: parsed %+v (%v), issued %+v", n, got, err, issued)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
		var want AccessClaims
		if err := json.Unmarshal(payload, &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parsed %+v, encoding/json %+v (%v)", n, got, want, err)
		}
		var lenient accessToken
		err1 := json.Unmarshal(payload, &lenient)
		strict, err2 := unmarshalClaims(append([]byte("{ "), payload[1:]...))
		if err1 != nil || err2 != nil || !strict.equal(&lenient) {
			t.Fatalf("%q: encoding/json %+v (%v), strict %+v (%v)", n, lenient, err1, strict, err2)
		}
	}
}

// TestAppendIssuedMatchesEncodingJSON checks the fast encoder of
// checkPayload against encoding/json: equal bytes whenever it encodes,
// and it encodes every claim set whose strings need no escape.
func TestAppendIssuedMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "Zoë", "日本語", "emoji 😀", "\uFFFD", "sp ace/slash", strings.Repeat("é", 100),
		"<b>", "a&b", "q\"q", "back\\slash", "tab\t", "nul\x00", "\x7f", "\u2028", "\u2029", "bad \xff"}
	for _, n := range strs {
		for _, perms := range [][]string{nil, {}, {n}, {"a", n, "b"}} {
			c := AccessClaims{ID: 1<<63 - 1, Username: n, Permissions: perms, Type: "access", Subject: n,
				SessionID: n, Issuer: n, Audience: n, IssuedAt: -1 << 63, NotBefore: 0, ExpiresAt: -5}
			want, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendIssued([]byte("prefix"), &c)
			plain := !strings.ContainsAny(n, "<>&\"\\\t\x00\u2028\u2029") && utf8.ValidString(n)
			if ok != plain || (ok && string(got) != "prefix"+string(want)) {
				t.Fatalf("%q %q: appendIssued %q %v, encoding/json %q", n, perms, got, ok, want)
			}
		}
	}
}

// TestUnmarshalClaimsIntegers checks the integer claims over int64's range.
func TestUnmarshalClaimsIntegers(t *testing.T) {
	for _, v := range []int64{1, 9, 10, 1<<53 + 1, 1<<63 - 1} {
		b := fmt.Appendf(nil, `{"id":%d,"sub":"%d","type":"access","iss":"i","aud":"a","iat":%d,"exp":%d}`, v, v, -v, v)
		c, err := unmarshalClaims(b)
		if err != nil || c.ID != v || c.IssuedAt.unix != -v || c.ExpiresAt.unix != v || c.Validate() != nil {
			t.Fatalf("%d: %+v %v", v, c, err)
		}
	}
	b := []byte(`{"id":1,"sub":"1","type":"access","iss":"i","aud":"a","iat":-9223372036854775808,"exp":1}`)
	if c, err := unmarshalClaims(b); err != nil || c.IssuedAt.unix != -1<<63 {
		t.Fatalf("min int64: %+v %v", c, err)
	}
	b = []byte(`{"id":1,"sub":"1","type":"access","iss":"i","aud":"a","iat":-9223372036854775809,"exp":1}`)
	if _, err := unmarshalClaims(b); err == nil {
		t.Fatal("below min int64 accepted")
	}
}

// TestParseAccessBase64Spelling checks that a token has one spelling: the
// same signature bytes written with non-zero trailing bits, padding or a
// line break inside are refused, though encoding/base64 decodes some of
// them to the same bytes.
func TestParseAccessBase64Spelling(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	tk := mustTokens(t, nil)
	raw, _, err := tk.issueAccess(testNow, 7, "alice", nil, "s")
	if err != nil {
		t.Fatal(err)
	}
	dot := strings.LastIndexByte(raw, '.')
	sig := raw[dot+1:]
	if len(sig)%4 != 3 {
		t.Fatalf("signature segment of %d characters", len(sig))
	}
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	for bits := 1; bits < 4; bits++ { // the two unused bits of the last character
		rejects(t, tk, raw[:len(raw)-1]+string(alphabet[last|bits]), testNow)
	}
	for _, v := range []string{raw + "=", raw[:dot+5] + "\n" + raw[dot+5:], raw[:dot+5] + "\r\n" + raw[dot+5:], raw + "\n",
		strings.Replace(raw, ".", "\n.", 1)} {
		rejects(t, tk, v, testNow)
	}
	if _, err := tk.parseAccess(raw, testNow); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkParseAccessHit(b *testing.B) {
	tk := mustTokens(b, nil)
	raw, _, _ := tk.issueAccess(testNow, 42, "alice", []string{"admin"}, "0f7c2a9d-session")
	if _, err := tk.parseAccess(raw, testNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := tk.parseAccess(raw, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAccessMiss verifies a token the cache does not hold on
// every iteration (as with a new token per request): the full parse,
// including the cache insertion, then a removal so the next one misses too.
func BenchmarkParseAccessMiss(b *testing.B) {
	tk := mustTokens(b, nil)
	raw, _, _ := tk.issueAccess(testNow, 42, "alice", []string{"admin"}, "0f7c2a9d-session")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := tk.parseAccess(raw, testNow); err != nil {
			b.Fatal(err)
		}
		tk.cache.remove(raw)
	}
}
