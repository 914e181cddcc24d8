package authgin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzParseAccess feeds arbitrary strings to parseAccess: it must never
// panic, fail only with ErrInvalidToken, and anything it accepts must be an
// access token that golang-jwt's own parser, pinned to HS256, verifies too.
// Seeds: testdata/fuzz/FuzzParseAccess.
func FuzzParseAccess(f *testing.F) {
	tk := mustTokens(f, nil)
	raw, _, err := tk.issueAccess(testNow, 1, "seed", []string{"admin"}, "sid")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(forge(f, `{"alg":"none"}`, claimsJSON(testNow.Unix()), nil, nil))
	f.Add(forge(f, hsHeader, `{"id":1,"sub":"1","type":"access","iss":"authgin","aud":["authgin"],"iat":1700000000,"exp":1700000900,"x":[{"y":"\u00e9"}]}`,
		jwt.SigningMethodHS256, tokSecret()))
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := tk.parseAccess(raw, testNow)
		if err != nil {
			if err != ErrInvalidToken {
				t.Fatalf("error %v, want ErrInvalidToken", err)
			}
			return
		}
		if c.Type != "access" || c.Issuer != "authgin" || c.Audience != "authgin" || !c.validAt(testNow.Unix()) {
			t.Fatalf("accepted claims %+v", c)
		}
		// A second verifier (cold cache) agrees.
		c2, err := mustTokens(t, nil).parseAccess(raw, testNow)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("a fresh verifier disagrees: %+v %v", c2, err)
		}
		// golang-jwt's parser verifies the same signature and claims.
		var m jwt.MapClaims
		_, err = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(func() time.Time { return testNow }), jwt.WithIssuer("authgin"), jwt.WithAudience("authgin"),
		).ParseWithClaims(raw, &m, func(*jwt.Token) (any, error) { return tokSecret(), nil })
		if err != nil {
			t.Fatalf("golang-jwt refuses what authgin accepted: %v", err)
		}
		if m["type"] != "access" {
			t.Fatalf("golang-jwt reads type %v", m["type"])
		}
	})
}

// FuzzDecodeClaims compares the strict claims decoding (readStrict) with
// encoding/json: whatever it
// accepts is valid JSON that encoding/json reads, by the exact claim names,
// to the same values, and it never panics.
func FuzzDecodeClaims(f *testing.F) {
	f.Add(claimsJSON(1700000000))
	f.Add(`{"id":1,"sub":"1","type":"access","iss":"i","aud":["a","b"],"iat":-5,"exp":9,"username":"\ud83d\ude00\u00e9\n","permissions":null}`)
	f.Add(`{"id":1,"sub":"1","type":"access","iss":"i","aud":"a","iat":0,"exp":0,"x":{"y":[1.5e3,true,null,"z"]}}`)
	f.Fuzz(func(t *testing.T, p string) {
		c, err := unmarshalClaims([]byte(p))
		if err != nil {
			return
		}
		if !json.Valid([]byte(p)) {
			t.Fatalf("accepted invalid JSON %q", p)
		}
		var want struct {
			ID          int64            `json:"id"`
			Username    string           `json:"username"`
			Permissions []string         `json:"permissions"`
			Type        string           `json:"type"`
			Subject     string           `json:"sub"`
			SessionID   string           `json:"sid"`
			Issuer      string           `json:"iss"`
			Audience    jwt.ClaimStrings `json:"aud"`
			IssuedAt    int64            `json:"iat"`
			NotBefore   int64            `json:"nbf"`
			ExpiresAt   int64            `json:"exp"`
		}
		// Only the exact claim names: encoding/json matches struct
		// fields case-insensitively, claim names are case-sensitive.
		var members map[string]json.RawMessage
		if err := json.Unmarshal([]byte(p), &members); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", p, err)
		}
		for k := range members {
			if !slices.Contains([]string{"id", "username", "permissions", "type", "sub", "sid", "iss", "aud", "iat", "nbf", "exp"}, k) {
				delete(members, k)
			}
		}
		exact, _ := json.Marshal(members)
		if err := json.Unmarshal(exact, &want); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", p, err)
		}
		if len(want.Permissions) == 0 && len(c.Permissions) == 0 {
			want.Permissions = c.Permissions // null and [] are both no permission
		}
		if !reflect.DeepEqual(c.Permissions, want.Permissions) || c.ID != want.ID || c.Username != want.Username ||
			c.Type != want.Type || c.Subject != want.Subject || c.SessionID != want.SessionID ||
			c.Issuer != want.Issuer || !slices.Equal(c.Audience.list, want.Audience) || c.IssuedAt.unix != want.IssuedAt ||
			c.NotBefore.unix != want.NotBefore || c.ExpiresAt.unix != want.ExpiresAt {
			t.Fatalf("%q: ours %+v, encoding/json %+v", p, c, want)
		}
	})
}

// FuzzAppendIssued compares checkPayload's fast encoder with encoding/json:
// whenever it encodes a claim set, it writes the same bytes.
func FuzzAppendIssued(f *testing.F) {
	f.Add(int64(7), "alice", "admin", "sid-1", int64(1700000000))
	f.Add(int64(-1), "Zoë <&>", "\u2028", "\xff", int64(-1<<63))
	f.Fuzz(func(t *testing.T, id int64, username, perm, sid string, iat int64) {
		for _, perms := range [][]string{nil, {}, {perm}, {perm, username}} {
			c := AccessClaims{ID: id, Username: username, Permissions: perms, Type: "access", Subject: sid,
				SessionID: sid, Issuer: perm, Audience: username, IssuedAt: iat, NotBefore: -iat, ExpiresAt: id, AMR: perms}
			got, ok := appendIssued(nil, &c)
			if !ok {
				continue
			}
			if want, _ := json.Marshal(c); !bytes.Equal(got, want) {
				t.Fatalf("appendIssued %q, encoding/json %q", got, want)
			}
		}
	})
}
