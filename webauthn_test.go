package authgin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"gorm.io/gorm"
)

// softKey is a test authenticator speaking WebAuthn's wire format: one
// P-256 credential, "none" attestation, user presence and verification,
// a sign counter. It stands in for a browser and a security key; the
// browser test in examples/basic uses Chromium's virtual authenticator.
type softKey struct {
	t       *testing.T
	key     *ecdsa.PrivateKey
	id      []byte
	handle  []byte // the user handle it was registered with
	counter uint32
	origin  string
}

func newSoftKey(t *testing.T) *softKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{t: t, key: k, id: id, origin: "https://app.example"}
}

var b64u = base64.RawURLEncoding

func (k *softKey) clientData(typ string, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

func (k *softKey) authData(rpID string, flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.counter)
	return append(out, attested...)
}

// create answers navigator.credentials.create() for the options of a
// begin call.
func (k *softKey) create(opts map[string]any) map[string]any {
	pk := opts["publicKey"].(map[string]any)
	rp := pk["rp"].(map[string]any)["id"].(string)
	var err error
	if k.handle, err = b64u.DecodeString(pk["user"].(map[string]any)["id"].(string)); err != nil {
		k.t.Fatal(err)
	}
	x, y := k.key.X.FillBytes(make([]byte, 32)), k.key.Y.FillBytes(make([]byte, 32))
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		k.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	ao, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(rp, 0x45, attested)})
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(k.clientData("webauthn.create", pk["challenge"].(string))),
			"attestationObject": b64u.EncodeToString(ao)}, "clientExtensionResults": map[string]any{}}
}

// get answers navigator.credentials.get(), counting a use.
func (k *softKey) get(opts map[string]any) map[string]any {
	pk := opts["publicKey"].(map[string]any)
	rp, _ := pk["rpId"].(string)
	k.counter++
	ad := k.authData(rp, 0x05, nil)
	cd := k.clientData("webauthn.get", pk["challenge"].(string))
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(cd), "authenticatorData": b64u.EncodeToString(ad),
			"signature": b64u.EncodeToString(sig), "userHandle": b64u.EncodeToString(k.handle)}, "clientExtensionResults": map[string]any{}}
}

// registerPasskey registers k for c's user and returns the passkey's id.
func registerPasskey(t *testing.T, c *client, k *softKey, name string) float64 {
	t.Helper()
	begin := c.post("/webauthn/register/begin", nil)
	wantStatus(t, begin, 200)
	r := c.post("/webauthn/register/finish", map[string]any{"ceremony": begin.str("ceremony"), "name": name, "credential": k.create(begin.json)})
	wantStatus(t, r, 200)
	if r.str("name") != name {
		t.Fatalf("registered %s", r.raw)
	}
	return r.json["id"].(float64)
}

// passkeyLogin logs c in with k alone.
func passkeyLogin(t *testing.T, c *client, k *softKey) *response {
	t.Helper()
	begin := c.post("/webauthn/login/begin", nil)
	wantStatus(t, begin, 200)
	return c.post("/webauthn/login/finish", map[string]any{"ceremony": begin.str("ceremony"), "credential": k.get(begin.json)})
}

func TestPasskeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		owner := e.client()
		owner.register("kay@example.com", "kay", "correct horse battery")
		k := newSoftKey(t)
		id := registerPasskey(t, owner, k, "Laptop")
		e.mail.waitWith(t, 1, "second factors of your")

		r := owner.do("GET", testBase+"/webauthn/credentials", nil)
		if !strings.Contains(string(r.raw), `"name":"Laptop"`) {
			t.Fatalf("credentials %s", r.raw)
		}
		r = owner.do("GET", testBase+"/mfa", nil)
		if !strings.Contains(string(r.raw), `"methods":["webauthn"]`) {
			t.Fatalf("GET /mfa %s", r.raw)
		}
		var row webauthnCredential
		db.First(&row)
		if row.RPID != "app.example" || row.CredentialID != b64u.EncodeToString(k.id) {
			t.Fatalf("stored %+v", row)
		}

		// A ceremony is single use, and bound to its user.
		begin := owner.post("/webauthn/register/begin", nil)
		other := newSoftKey(t)
		stranger := e.client()
		stranger.register("sly@example.com", "sly", "correct horse battery")
		wantError(t, stranger.post("/webauthn/register/finish", map[string]any{"ceremony": begin.str("ceremony"), "credential": other.create(begin.json)}), 400, "invalid_ceremony", "")
		wantError(t, owner.post("/webauthn/register/finish", map[string]any{"ceremony": begin.str("ceremony"), "credential": other.create(begin.json)}), 400, "invalid_ceremony", "")
		wantError(t, owner.post("/webauthn/register/finish", map[string]any{"ceremony": "nope", "credential": map[string]any{}}), 400, "invalid_ceremony", "")
		begin = owner.post("/webauthn/register/begin", nil)
		wantError(t, owner.post("/webauthn/register/finish", map[string]any{"ceremony": begin.str("ceremony"), "credential": map[string]any{"id": "x"}}), 400, "invalid_passkey", "")

		// Usernameless login with the passkey alone.
		c := e.client()
		r = passkeyLogin(t, c, k)
		wantStatus(t, r, 200)
		if r.str("username") != "kay" || r.cookie(accessCookie) == nil {
			t.Fatalf("passkey login %s", r.raw)
		}
		if amr := claimsOf(t, c)["amr"].([]any); len(amr) != 1 || amr[0] != "hwk" {
			t.Fatalf("amr %v", amr)
		}
		wantStatus(t, c.do("GET", "/api/mfa_only", nil), 200)

		// A replayed assertion (another ceremony's challenge) and a sign
		// counter that went back are refused.
		begin = c.post("/webauthn/login/begin", nil)
		stale := k.get(begin.json)
		begin2 := c.post("/webauthn/login/begin", nil)
		wantError(t, c.post("/webauthn/login/finish", map[string]any{"ceremony": begin2.str("ceremony"), "credential": stale}), 401, "invalid_passkey", "")
		wantError(t, c.post("/webauthn/login/finish", map[string]any{"ceremony": begin2.str("ceremony"), "credential": stale}), 400, "invalid_ceremony", "")
		k.counter = 0
		wantError(t, passkeyLogin(t, c, k), 401, "invalid_passkey", "")
		k.counter = 100
		wantStatus(t, passkeyLogin(t, c, k), 200)
		// A passkey nobody registered.
		wantError(t, passkeyLogin(t, c, newSoftKey(t)), 401, "invalid_passkey", "")

		// The passkey as the second factor of a password login.
		c = e.client()
		tok := startLogin(t, c, "kay")
		wantError(t, c.post("/webauthn/login/begin", map[string]string{"mfa_token": "nope"}), 401, "invalid_mfa_token", "")
		begin = c.post("/webauthn/login/begin", map[string]string{"mfa_token": tok})
		wantStatus(t, begin, 200)
		wrong := newSoftKey(t)
		wrong.handle = k.handle
		wantError(t, c.post("/login/mfa", map[string]any{"mfa_token": tok, "ceremony": begin.str("ceremony"), "credential": wrong.get(begin.json)}), 401, "invalid_code", "")
		begin = c.post("/webauthn/login/begin", map[string]string{"mfa_token": tok})
		r = c.post("/login/mfa", map[string]any{"mfa_token": tok, "ceremony": begin.str("ceremony"), "credential": k.get(begin.json)})
		wantStatus(t, r, 200)
		if amr := claimsOf(t, c)["amr"].([]any); len(amr) != 2 || amr[1] != "hwk" {
			t.Fatalf("amr %v", amr)
		}

		// Deleting it: the password alone logs in again.
		path := testBase + "/webauthn/credentials/" + itoa(int64(id))
		wantError(t, stranger.do("DELETE", path, nil), 404, "passkey_not_found", "")
		wantStatus(t, owner.do("DELETE", path, nil), 200)
		wantError(t, owner.do("DELETE", path, nil), 404, "passkey_not_found", "")
		r = e.client().post("/login", map[string]string{"login": "kay", "password": "correct horse battery"})
		if r.status != 200 || r.str("username") != "kay" {
			t.Fatalf("login after delete %s", r.raw)
		}
	})
}

// TestPasskeysWithoutMFAKey: with asymmetric signing and no MFAKey, TOTP
// is off (404 mfa_unavailable) but a passkey still is the second factor
// of a password login.
func TestPasskeysWithoutMFAKey(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) {
		o.Secret = nil
		o.Signing = &SigningConfig{Algorithm: "ES256", Key: k, KeyID: "es-1"}
	})
	owner := e.client()
	owner.register("nia@example.com", "nia", "correct horse battery")
	wantError(t, owner.post("/mfa/totp/setup", nil), 404, "mfa_unavailable", "")
	key := newSoftKey(t)
	registerPasskey(t, owner, key, "Phone")
	c := e.client()
	tok := startLogin(t, c, "nia")
	wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": "123456"}), 404, "mfa_unavailable", "")
	begin := c.post("/webauthn/login/begin", map[string]string{"mfa_token": tok})
	wantStatus(t, begin, 200)
	wantStatus(t, c.post("/login/mfa", map[string]any{"mfa_token": tok, "ceremony": begin.str("ceremony"), "credential": key.get(begin.json)}), 200)
}

// TestPasskeyLoginBeginThrottled: every usernameless ceremony stores a
// row, so its begin counts toward LoginIP.
func TestPasskeyLoginBeginThrottled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Limits.LoginIP = Limit{Max: 3, Window: time.Minute, Lockout: time.Minute} })
		c := e.client()
		for range 3 {
			wantStatus(t, c.post("/webauthn/login/begin", nil), 200)
		}
		r := c.post("/webauthn/login/begin", nil)
		wantError(t, r, 429, "too_many_requests", "")
		var n int64
		db.Model(&webauthnCeremony{}).Count(&n)
		if n != 3 {
			t.Fatalf("%d ceremonies stored, want 3", n)
		}
	})
}

// TestDeleteAccountRemovesFactors: deleting an account deletes its TOTP
// factor, recovery codes, pending logins, passkeys and user handle.
func TestDeleteAccountRemovesFactors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		owner, _, _ := mfaUser(t, e, "del")
		registerPasskey(t, owner, newSoftKey(t), "Key")
		startLogin(t, e.client(), "del")
		wantStatus(t, owner.post("/delete_account", map[string]string{"password": "correct horse battery"}), 200)
		for _, m := range []any{&totpFactor{}, &recoveryCode{}, &mfaChallenge{}, &webauthnCredential{}, &webauthnUser{}} {
			var n int64
			db.Model(m).Count(&n)
			if n != 0 {
				t.Fatalf("%T: %d rows left", m, n)
			}
		}
	})
}

// TestPasskeysOffFailClosed: an account whose second factor is a passkey
// still needs it when passkeys are off (here another instance's BaseURL
// is an IP address, which WebAuthn refuses): its password login waits for
// the factor, and the factor cannot be given, instead of opening a
// session without it.
func TestPasskeysOffFailClosed(t *testing.T) {
	open := newTestDatabase(t, "sqlite")
	e := newEnv(t, open(t))
	owner := e.client()
	owner.register("ola@example.com", "ola", "correct horse battery")
	registerPasskey(t, owner, newSoftKey(t), "Phone")

	off := newEnv(t, open(t), func(o *Options) { o.BaseURL = "https://192.0.2.10" })
	c := off.client()
	tok := startLogin(t, c, "ola")
	wantError(t, c.post("/webauthn/login/begin", map[string]string{"mfa_token": tok}), 404, "passkeys_unavailable", "")
}

// TestDeletePasskeyNeedsRecentLogin: a session that logged in more than
// 10 minutes ago cannot remove a passkey, which would leave the password
// alone between a thief and the account.
func TestDeletePasskeyNeedsRecentLogin(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"))
	owner := e.client()
	owner.register("pia@example.com", "pia", "correct horse battery")
	id := registerPasskey(t, owner, newSoftKey(t), "Phone")
	e.clock.Advance(11 * time.Minute)
	path := testBase + "/webauthn/credentials/" + itoa(int64(id))
	wantError(t, owner.do("DELETE", path, nil), 403, "reauthentication_required", "")
}
