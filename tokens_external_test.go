package authgin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
)

// wycheproofJWK is the part of a JWK the vectors use.
type wycheproofJWK struct {
	Kty    string   `json:"kty"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Kid    string   `json:"kid"`
	Crv    string   `json:"crv"`
	K      string   `json:"k"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

type wycheproofFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		Comment string          `json:"comment"`
		Private *wycheproofJWK  `json:"private"`
		Public  *wycheproofJWK  `json:"public"`
		Tests   []wycheproofJWS `json:"tests"`
	} `json:"testGroups"`
}

type wycheproofJWS struct {
	TcID    int             `json:"tcId"`
	Comment string          `json:"comment"`
	JWS     json.RawMessage `json:"jws"`
	Result  string          `json:"result"`
	Flags   []string        `json:"flags"`
}

// wycheproofAlgs are the algorithms golang-jwt implements and the vectors
// are checked with.
var wycheproofAlgs = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// wycheproofDeviations are vectors where authgin is deliberately stricter
// than the expected result.
var wycheproofDeviations = map[int]string{
	// RFC 7520 figure 20: the key declares alg PS256 but signs with PS384.
	// authgin pins the algorithm of each key, so the token is refused.
	346: "key alg PS256 used with PS384",
	350: "key alg PS256 used with PS384",
	// A '?' inside a base64url segment: the vector expects a decoder that
	// skips invalid characters; authgin refuses anything outside the
	// alphabet.
	372: "invalid base64url character",
	373: "invalid base64url character",
	// These two are marked invalid ("invalidBase64Padding") but their text
	// is byte for byte that of tcId 357, which is valid: the padding their
	// names refer to is not in the file.
	367: "identical to valid tcId 357",
	370: "identical to valid tcId 357",
}

// registerStrictPSS registers, for the test's duration, RSASSA-PSS methods
// that verify with the salt as long as the hash, as RFC 7518 requires and
// the vectors expect; golang-jwt's own PS* accept any salt length. jwsKeys
// pins the registered implementation, so the strict ones must be the
// registered ones. (authgin offers no PS* algorithm.)
func registerStrictPSS(t *testing.T) {
	for _, alg := range []string{"PS256", "PS384", "PS512"} {
		orig := jwt.GetSigningMethod(alg)
		pss := orig.(*jwt.SigningMethodRSAPSS)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		strict := &jwt.SigningMethodRSAPSS{SigningMethodRSA: pss.SigningMethodRSA, Options: opts, VerifyOptions: opts}
		jwt.RegisterSigningMethod(alg, func() jwt.SigningMethod { return strict })
		t.Cleanup(func() { jwt.RegisterSigningMethod(alg, func() jwt.SigningMethod { return orig }) })
	}
}

// verifyJWS runs raw through the JWS layer of tokens.verify with k: the
// oneSpelling check, then what golang-jwt's ParseWithClaims does up to the
// signature, with the parser's strict decoding and k.key as the key
// function. Most Wycheproof payloads are not JSON, which ParseWithClaims
// refuses before it checks a signature, so the steps are run with
// golang-jwt's exported parts; where the payload is JSON, ParseWithClaims
// itself must agree.
func verifyJWS(t *testing.T, k *jwsKeys, raw string) bool {
	t.Helper()
	got := jwsLayer(k, raw)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return got
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !json.Valid(payload) {
		return got
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{k.method.Alg()}), jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
	_, err = p.ParseWithClaims(raw, &anyClaims{}, k.key)
	if full := err == nil && oneSpelling(raw); full != got {
		t.Errorf("%.60q: ParseWithClaims says %v (%v), the JWS layer %v", raw, full, err, got)
	}
	return got
}

func jwsLayer(k *jwsKeys, raw string) bool {
	if !oneSpelling(raw) {
		return false
	}
	p := jwt.NewParser(jwt.WithStrictDecoding())
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	h, err := p.DecodeSegment(parts[0])
	if err != nil {
		return false
	}
	tok := &jwt.Token{Raw: raw}
	if json.Unmarshal(h, &tok.Header) != nil {
		return false
	}
	alg, _ := tok.Header["alg"].(string)
	if tok.Method = jwt.GetSigningMethod(alg); tok.Method == nil || alg != k.method.Alg() {
		return false
	}
	if _, err := p.DecodeSegment(parts[1]); err != nil {
		return false
	}
	sig, err := p.DecodeSegment(parts[2])
	if err != nil {
		return false
	}
	key, err := k.key(tok)
	if err != nil {
		return false
	}
	return tok.Method.Verify(parts[0]+"."+parts[1], sig, key) == nil
}

// anyClaims accepts any JSON payload.
type anyClaims struct{ jwt.RegisteredClaims }

func (*anyClaims) UnmarshalJSON([]byte) error { return nil }

func b64d(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("JWK field %q: %v", s, err)
	}
	return b
}

// wycheproofKey converts a group's JWK into a verification key, its pinned
// algorithm and whether the JWK allows verification at all (use, key_ops).
func wycheproofKey(t *testing.T, j *wycheproofJWK) (key any, alg string, usable bool) {
	usable = (j.Use == "" || j.Use == "sig") && (j.KeyOps == nil || slices.Contains(j.KeyOps, "verify"))
	alg = j.Alg
	switch j.Kty {
	case "oct":
		key = b64d(t, j.K)
	case "RSA":
		key = &rsa.PublicKey{N: new(big.Int).SetBytes(b64d(t, j.N)), E: int(new(big.Int).SetBytes(b64d(t, j.E)).Int64())}
	case "EC":
		curve, a := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[j.Crv],
			map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[j.Crv]
		size := (curve.Params().BitSize + 7) / 8
		point := append([]byte{4}, append(leftPad(b64d(t, j.X), size), leftPad(b64d(t, j.Y), size)...)...)
		k, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			t.Fatal(err)
		}
		key = k
		if !slices.Contains(wycheproofAlgs, alg) {
			alg = a // "ES521" in the RFC 7520 groups
		}
	default:
		t.Fatalf("kty %q", j.Kty)
	}
	return key, alg, usable
}

func leftPad(b []byte, n int) []byte {
	return append(make([]byte, n-len(b)), b...)
}

// headerAlg returns the alg of a compact JWS header, if readable.
func headerAlg(jws string) string {
	h, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var v struct {
		Alg string `json:"alg"`
	}
	_ = json.Unmarshal(b, &v)
	return v.Alg
}

// TestWycheproofJWS runs every Wycheproof JSON Web Signature vector through
// authgin's signature layer (verifyJWS) with the group's key, pinned to the
// key's algorithm, and checks that a verifier pinned to any other algorithm
// refuses every token whose alg differs (none included).
func TestWycheproofJWS(t *testing.T) {
	raw, err := os.ReadFile("testdata/wycheproof/json_web_signature_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	registerStrictPSS(t)
	checked, skipped, pinnedChecks, total := 0, 0, 0, 0
	for _, g := range f.TestGroups {
		j := g.Public
		if j == nil {
			j = g.Private
		}
		key, alg, usable := wycheproofKey(t, j)
		for _, tc := range g.Tests {
			total++
			var jws string
			if json.Unmarshal(tc.JWS, &jws) != nil {
				jws = string(tc.JWS) // the JSON serialization: not a compact token
			}
			if alg != "" && !slices.Contains(wycheproofAlgs, alg) {
				skipped++
				t.Logf("tcId %d skipped: algorithm %q", tc.TcID, alg)
				continue
			}
			checked++
			got := false
			if usable && alg != "" {
				k := jwsKeys{method: jwt.GetSigningMethod(alg), keys: map[string]any{j.Kid: key}, noKid: key}
				got = verifyJWS(t, &k, jws)
			}
			want := tc.Result == "valid"
			if reason, ok := wycheproofDeviations[tc.TcID]; ok {
				if got != !want {
					t.Errorf("tcId %d (%s): deviation %q no longer holds", tc.TcID, tc.Comment, reason)
				}
				continue
			}
			if got != want {
				t.Errorf("tcId %d (%s, %s): verified=%v, want %s", tc.TcID, g.Comment, tc.Comment, got, tc.Result)
			}

			// Pinned to another algorithm, with this key (or its bytes as an
			// HMAC secret), nothing with a different alg header passes.
			for _, pin := range append(slices.Clone(wycheproofAlgs), "none") {
				if pin == headerAlg(jws) {
					continue
				}
				k := jwsKeys{method: jwt.GetSigningMethod(pin), keys: map[string]any{j.Kid: key}, noKid: key}
				if strings.HasPrefix(pin, "HS") {
					if pk, ok := key.(*rsa.PublicKey); ok {
						k.noKid = x509.MarshalPKCS1PublicKey(pk)
						k.keys = map[string]any{j.Kid: k.noKid}
					}
				}
				pinnedChecks++
				if verifyJWS(t, &k, jws) {
					t.Errorf("tcId %d: a verifier pinned to %s accepted alg %q", tc.TcID, pin, headerAlg(jws))
				}
			}
		}
	}
	if total != f.NumberOfTests {
		t.Fatalf("read %d vectors, the file announces %d", total, f.NumberOfTests)
	}
	t.Logf("Wycheproof JWS: %d of %d vectors checked, %d skipped, %d deliberate deviations, %d pinned-algorithm checks",
		checked, total, skipped, len(wycheproofDeviations), pinnedChecks)
	if checked < 390 {
		t.Fatalf("only %d vectors checked", checked)
	}
}

// TestGoJoseVerifiesIssuedTokens checks authgin's tokens with an
// independent implementation, go-jose: signature, header and claims.
func TestGoJoseVerifiesIssuedTokens(t *testing.T) {
	for alg, s := range signingConfigs(t) {
		t.Run(alg, func(t *testing.T) {
			tk := mustTokens(t, s)
			raw, issued, err := tk.issueAccess(testNow, 31, "gopher", []string{"admin"}, "sid-31")
			if err != nil {
				t.Fatal(err)
			}
			var key any = tokSecret()
			if s != nil {
				key = s.Key.Public()
			}
			tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := tok.Headers[0]
			if h.Algorithm != alg || h.ExtraHeaders["typ"] != "JWT" || (s != nil && h.KeyID != s.KeyID) {
				t.Fatalf("header %+v", h)
			}
			var std josejwt.Claims
			var all AccessClaims
			if err := tok.Claims(key, &std, &all); err != nil {
				t.Fatalf("go-jose refuses the signature: %v", err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: "authgin", Subject: "31",
				AnyAudience: josejwt.Audience{"authgin"}, Time: testNow.Add(time.Minute)}, 0); err != nil {
				t.Fatal(err)
			}
			// go-jose accepts a token at exactly its exp second (authgin does
			// not: RFC 7519 wants now before exp), so ask one second later.
			if err := std.ValidateWithLeeway(josejwt.Expected{Time: testNow.Add(15*time.Minute + time.Second)}, 0); err == nil {
				t.Fatal("go-jose accepts the token after its exp")
			}
			if !reflect.DeepEqual(all, issued) {
				t.Fatalf("go-jose reads %+v, issued %+v", all, issued)
			}
			// and a token go-jose signs, with the same claims, passes authgin.
			if s == nil || alg != "EdDSA" {
				return
			}
			sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: s.Key},
				(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), s.KeyID))
			if err != nil {
				t.Fatal(err)
			}
			other, err := josejwt.Signed(sig).Claims(issued).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			got, err := mustTokens(t, s).parseAccess(other, testNow)
			if err != nil || !reflect.DeepEqual(got, issued) {
				t.Fatalf("authgin reads go-jose's token as %+v, %v", got, err)
			}
		})
	}
}
