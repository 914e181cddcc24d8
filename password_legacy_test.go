package authgin

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
)

// djangoHash returns Django's pbkdf2_sha256 hash of password.
func djangoHash(t testing.TB, password, salt string, iter int) string {
	t.Helper()
	key, err := pbkdf2.Key(sha256.New, password, []byte(salt), iter, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	return "pbkdf2_sha256$" + strconv.Itoa(iter) + "$" + salt + "$" + base64.StdEncoding.EncodeToString(key)
}

// setHash replaces the password hash of the account with username key.
func setHash(t *testing.T, db *gorm.DB, usernameKey, hash string) {
	t.Helper()
	if err := db.Model(&Account{}).Where("username_key = ?", usernameKey).Update("password_hash", hash).Error; err != nil {
		t.Fatal(err)
	}
}

// TestStoredHashCostRelative: a stored argon2id hash verifies only within
// storedCostFactor of the configured (or default) cost, however valid it
// is otherwise.
func TestStoredHashCostRelative(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher() // cheapArgon2: the default cost is the larger
	d := DefaultArgon2()
	for _, tc := range []struct {
		p  Argon2Params
		ok bool
	}{
		{Argon2Params{Memory: 2 * d.Memory, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, true},
		{Argon2Params{Memory: 64, Iterations: 8, Parallelism: 1, SaltLength: 16, KeyLength: 32}, true},
		{Argon2Params{Memory: 64, Iterations: 9, Parallelism: 1, SaltLength: 16, KeyLength: 32}, false},
		{Argon2Params{Memory: 4*d.Memory + 8, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, false},
		{Argon2Params{Memory: 3 * d.Memory, Iterations: 3, Parallelism: 1, SaltLength: 16, KeyLength: 32}, false}, // 9x the work
	} {
		enc, err := newHasher(tc.p, 1, time.Minute).hash(ctx, "password-x")
		if err != nil {
			t.Fatal(err)
		}
		if match, _, err := h.verify(ctx, enc, "password-x"); match != tc.ok || err != nil {
			t.Errorf("m=%d t=%d: match %v, %v; want %v", tc.p.Memory, tc.p.Iterations, match, err, tc.ok)
		}
	}
	// Relative to a configured cost above the default.
	big := newHasher(Argon2Params{Memory: 64, Iterations: 30, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1, time.Minute)
	if !big.admits(Argon2Params{Memory: 64, Iterations: 100}) || big.admits(Argon2Params{Memory: 1 << 20, Iterations: 1}) {
		t.Fatal("admits ignores the configured cost")
	}
}

// TestLegacyFloor: Register measures how long the stored legacy hashes
// take to check, and every failed verification lasts at least that long,
// also one that needed no hashing at all.
func TestLegacyFloor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		if f := e.auth.svc.hasher.legacyFloor.Load(); f != 0 {
			t.Fatalf("floor %v without legacy hashes", time.Duration(f))
		}
		e.client().register("bc@example.com", "bcuser", "correct horse battery")
		e.client().register("dj@example.com", "djuser", "correct horse battery")
		bc, _ := bcrypt.GenerateFromPassword([]byte("correct horse battery"), 6)
		setHash(t, db, "bcuser", string(bc))
		setHash(t, db, "djuser", djangoHash(t, "correct horse battery", "saltsaltsalt", 30000))

		prefixes, err := e.auth.svc.st.legacyHashPrefixes(context.Background())
		slices.Sort(prefixes)
		if err != nil || !slices.Equal(prefixes, []string{"$2a$06$", "pbkdf2_sha256$30000$sa"}) {
			t.Fatalf("legacyHashPrefixes = %q, %v", prefixes, err)
		}
		// A second instance starts with the floor measured.
		h := newEnv(t, db).auth.svc.hasher
		floor := time.Duration(h.legacyFloor.Load())
		if floor <= 0 {
			t.Fatal("no legacy floor measured at start")
		}
		// (A legacy hash's own check moves the floor.)
		for _, enc := range []string{"", "not a hash", "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"} {
			start := time.Now()
			if match, _, err := h.verify(context.Background(), enc, "wrong password"); match || err != nil {
				t.Fatal(match, err)
			}
			if d := time.Since(start); d < floor {
				t.Errorf("%q: failure answered after %v, before the floor %v", enc, d, floor)
			}
		}
	})
}

// TestEnumerationLegacyTiming: a failed login on an account imported with
// a bcrypt or Django PBKDF2 hash takes as long as one on an unknown name.
// Like TestEnumerationTiming it compares medians and fails only on a
// gross difference; without the legacy floor imported accounts are many
// times slower.
func TestEnumerationLegacyTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		off := func(o *Options) { o.Limits = Limits{LoginIP: Limit{Max: -1}, LoginAccount: Limit{Max: -1}} }
		first := newEnv(t, db, off)
		first.client().register("bc@example.com", "bcuser", "correct horse battery")
		first.client().register("dj@example.com", "djuser", "correct horse battery")
		// Costs that take a few cheap argon2id derivations' time, as
		// bcrypt's and Django's defaults take a few of the default cost's.
		bc, _ := bcrypt.GenerateFromPassword([]byte("correct horse battery"), 8)
		setHash(t, db, "bcuser", string(bc))
		setHash(t, db, "djuser", djangoHash(t, "correct horse battery", "Vx8aQ3bz7LmNqR2s", 60000))
		// The instance under test starts with the imports in place.
		c := newEnv(t, db, off).client()
		login := func(name string) func() {
			return func() { c.post("/login", map[string]string{"login": name, "password": "wrong password"}) }
		}
		for _, known := range []string{"bcuser", "djuser"} {
			us, ks := make([]time.Duration, 0, 11), make([]time.Duration, 0, 11)
			for range 11 {
				us = append(us, medianLatency(1, login("nobodyhere")))
				ks = append(ks, medianLatency(1, login(known)))
			}
			slices.Sort(us)
			slices.Sort(ks)
			u, k := us[5], ks[5]
			r := float64(max(u, k)) / float64(min(u, k))
			t.Logf("%s: median unknown %v, imported %v, ratio %.3f", known, u, k, r)
			if r > 2 {
				t.Errorf("%s: medians differ %.2fx (unknown %v, imported %v)", known, r, u, k)
			}
		}
	})
}
