package authgin

import (
	"testing"

	"gorm.io/gorm"
)

// TestStrictJSONBody: a body with a key twice, or with keys that differ
// only in case, is refused before anything reads it, so a proxy that reads
// the first key and the plugin can never disagree about a password; a
// charset other than UTF-8 is refused; unknown keys stay allowed.
func TestStrictJSONBody(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("strict@example.com", "strict", "correct horse battery")
		c := e.client()
		for _, body := range []string{
			`{"login":"strict","password":"wrong password","Password":"correct horse battery"}`,
			`{"login":"strict","password":"wrong password","password":"correct horse battery"}`,
			`{"login":"strict","password":"wrong password","PASSWORD":"correct horse battery"}`,
			// Escapes are decoded before keys are compared.
			`{"login":"strict","password":"wrong password","p\u0061ssword":"correct horse battery"}`,
			// Kelvin sign K folds to k, as encoding/json matches it.
			`{"login":"strict","password":"correct horse battery","\u212Aey":1,"key":2}`,
			// Nested objects too.
			`{"login":"strict","password":"correct horse battery","x":[{"a":1,"A":2}]}`,
		} {
			wantError(t, c.post("/login", body), 400, "malformed_body", "Request body has a duplicate key")
		}
		wantError(t, c.post("/login", `{"login":"strict","password":"correct horse battery"}`,
			"Content-Type", "application/json; charset=iso-8859-1"), 400, "malformed_body", "")
		wantError(t, c.post("/login", `{"login":"strict","password":"correct horse battery"}`,
			"Content-Type", "application/json; charset=utf-16"), 400, "malformed_body", "")
		// Allowed: UTF-8 named in any case, unknown fields, the same key in
		// sibling objects.
		wantStatus(t, c.post("/login", `{"login":"strict","password":"correct horse battery"}`,
			"Content-Type", "application/json; charset=UTF-8"), 200)
		wantStatus(t, c.post("/login", `{"login":"strict","password":"correct horse battery","remember":true,"x":[{"a":1},{"a":2}],"y":{"a":{"a":1}}}`), 200)
	})
}

func TestStrictKeys(t *testing.T) {
	for body, ok := range map[string]bool{
		`{}`: true, `[]`: true, `null`: true, `5`: true, `"s"`: true,
		`{"a":{"b":1},"b":2}`:           true,
		`[{"a":1},{"a":1}]`:             true,
		`{"a":[1,{"a":1}],"c":3}`:       true,
		`{"ß":1,"ss":2}`:                true, // EqualFold does not fold ß to ss
		`{"a":1,"a":2}`:                 false,
		`{"a":{"b":1,"B":2}}`:           false,
		`{"a":[{"b":1},{"c":1,"C":2}]}`: false,
		`{"ſ":1,"s":2}`:                 false, // long s folds to s
		`{"a":1,}`:                      false,
		`{"a"}`:                         false,
		`{`:                             false,
	} {
		if err := strictKeys([]byte(body)); (err == nil) != ok {
			t.Errorf("strictKeys(%s) = %v, want ok=%v", body, err, ok)
		}
	}
}
