package authgin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// newTestHasher hashes at the cheap test cost (testutil_test.go).
func newTestHasher() *hasher { return newHasher(cheapArgon2, 2, time.Minute) }

// The argon2id vector of the reference implementation's test suite
// (github.com/P-H-C/phc-winner-argon2, src/test.c: t=2, m=256 KiB, p=1,
// password "password", salt "somesalt"), not derived from x/crypto.
const (
	refArgon2Hex = "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe"
	refArgon2PHC = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
)

func TestArgon2KnownAnswer(t *testing.T) {
	got := hex.EncodeToString(argon2.IDKey([]byte("password"), []byte("somesalt"), 2, 256, 1, 32))
	if got != refArgon2Hex {
		t.Fatalf("IDKey = %s, want %s", got, refArgon2Hex)
	}
	ref := Argon2Params{Memory: 256, Iterations: 2, Parallelism: 1, SaltLength: 8, KeyLength: 32}
	if enc := encodePHC(ref, []byte("somesalt"), mustHex(t, refArgon2Hex)); enc != refArgon2PHC {
		t.Fatalf("encodePHC = %s, want %s", enc, refArgon2PHC)
	}
	// The reference PHC string verifies, with the same parameters without
	// rehash, with other parameters with rehash.
	for _, tc := range []struct {
		h      *hasher
		rehash bool
	}{
		{newHasher(ref, 1, time.Minute), false},
		{newTestHasher(), true},
	} {
		match, rehash, err := tc.h.verify(context.Background(), refArgon2PHC, "password")
		if err != nil || !match || rehash != tc.rehash {
			t.Errorf("verify(ref) = %v, %v, %v; want true, %v, nil", match, rehash, err, tc.rehash)
		}
		match, _, err = tc.h.verify(context.Background(), refArgon2PHC, "Password")
		if err != nil || match {
			t.Errorf("verify(ref, wrong) = %v, %v; want false, nil", match, err)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashRoundTrip(t *testing.T) {
	h := newTestHasher()
	ctx := context.Background()
	enc, err := h.hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !phcPattern.MatchString(enc) {
		t.Fatalf("hash %q is not an argon2id PHC string of the configured cost", enc)
	}
	p, salt, key, ok := decodePHC(enc)
	if !ok || p != h.params || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("decodePHC(%q) = %+v, %d, %d, %v", enc, p, len(salt), len(key), ok)
	}
	if match, rehash, err := h.verify(ctx, enc, "correct horse battery staple"); !match || rehash || err != nil {
		t.Errorf("verify(right) = %v, %v, %v; want true, false, nil", match, rehash, err)
	}
	if match, rehash, err := h.verify(ctx, enc, "correct horse battery stapl"); match || rehash || err != nil {
		t.Errorf("verify(wrong) = %v, %v, %v; want false, false, nil", match, rehash, err)
	}
	again, err := h.hash(ctx, "correct horse battery staple")
	if err != nil || again == enc {
		t.Errorf("two hashes of one password are equal (%q) or failed (%v): salt not random", again, err)
	}
}

func TestHashNormalisesNFC(t *testing.T) {
	h := newTestHasher()
	ctx := context.Background()
	nfd := norm.NFD.String("Pässwörd-ünïcode")
	enc, err := h.hash(ctx, nfd)
	if err != nil {
		t.Fatal(err)
	}
	if match, _, _ := h.verify(ctx, enc, norm.NFC.String(nfd)); !match {
		t.Error("NFC password does not verify against the hash of its NFD form")
	}
}

func TestVerifyRehashWhenParamsChange(t *testing.T) {
	ctx := context.Background()
	old := newTestHasher()
	enc, err := old.hash(ctx, "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	for _, change := range []func(*Argon2Params){
		func(p *Argon2Params) { p.Iterations = 2 },
		func(p *Argon2Params) { p.Memory = 128 },
		func(p *Argon2Params) { p.Parallelism = 2 },
		func(p *Argon2Params) { p.KeyLength = 16 },
		func(p *Argon2Params) { p.SaltLength = 32 },
	} {
		p := cheapArgon2
		change(&p)
		match, rehash, err := newHasher(p, 1, time.Minute).verify(ctx, enc, "hunter2hunter2")
		if !match || !rehash || err != nil {
			t.Errorf("params %+v: verify = %v, %v, %v; want true, true, nil", p, match, rehash, err)
		}
	}
}

func TestVerifyBcrypt(t *testing.T) {
	h := newTestHasher()
	ctx := context.Background()
	b, err := bcrypt.GenerateFromPassword([]byte("s3cret-bcrypt"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	enc := string(b) // $2a$
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		e := prefix + enc[4:]
		if match, rehash, err := h.verify(ctx, e, "s3cret-bcrypt"); !match || !rehash || err != nil {
			t.Errorf("%s: verify(right) = %v, %v, %v; want true, true, nil", prefix, match, rehash, err)
		}
		if match, rehash, err := h.verify(ctx, e, "s3cret-bcrypT"); match || rehash || err != nil {
			t.Errorf("%s: verify(wrong) = %v, %v, %v; want false, false, nil", prefix, match, rehash, err)
		}
	}
}

// bcrypt reads only 72 bytes; a longer password must not match the hash of
// its prefix.
func TestVerifyBcryptNoTruncation(t *testing.T) {
	h := newTestHasher()
	ctx := context.Background()
	prefix := strings.Repeat("a", 70) + "é" // 72 bytes
	if len(prefix) != 72 {
		t.Fatalf("prefix is %d bytes", len(prefix))
	}
	b, err := bcrypt.GenerateFromPassword([]byte(prefix), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if match, _, _ := h.verify(ctx, string(b), prefix); !match {
		t.Fatal("the 72-byte password itself does not verify")
	}
	// The library itself would accept the longer one (this is what the
	// guard is for).
	if bcrypt.CompareHashAndPassword(b, []byte(prefix+"x")) != nil {
		t.Log("note: bcrypt no longer truncates; the guard is now belt and braces")
	}
	for _, long := range []string{prefix + "x", prefix + "anything else", prefix + strings.Repeat("z", 100)} {
		if match, rehash, err := h.verify(ctx, string(b), long); match || rehash || err != nil {
			t.Errorf("%d-byte password: verify = %v, %v, %v; want false, false, nil", len(long), match, rehash, err)
		}
	}
}

// Django pbkdf2_sha256 hashes computed independently with Python:
//
//	base64.b64encode(hashlib.pbkdf2_hmac('sha256', pw.encode(), salt.encode(), iterations))
func TestVerifyDjangoPBKDF2(t *testing.T) {
	h := newTestHasher()
	ctx := context.Background()
	for _, tc := range []struct{ enc, right, wrong string }{
		{
			"pbkdf2_sha256$1000$seasalt1234$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=",
			"correct horse battery staple", "correct horse battery stapler",
		},
		{
			// pw = "Pässwörd-ünïcode" (NFC); the NFD input is retried as NFC.
			"pbkdf2_sha256$20000$Vx8aQ3bz7LmN$XupUU0oXelqy6fopyrmCkd+SYo38cQpiv4SlypEH+1Y=",
			norm.NFD.String("Pässwörd-ünïcode"), "Passwörd-ünïcode",
		},
	} {
		if match, rehash, err := h.verify(ctx, tc.enc, tc.right); !match || !rehash || err != nil {
			t.Errorf("%s: verify(right) = %v, %v, %v; want true, true, nil", tc.enc, match, rehash, err)
		}
		if match, rehash, err := h.verify(ctx, tc.enc, tc.wrong); match || rehash || err != nil {
			t.Errorf("%s: verify(wrong) = %v, %v, %v; want false, false, nil", tc.enc, match, rehash, err)
		}
	}
}

func TestVerifyMalformedHashes(t *testing.T) {
	h := newTestHasher()
	ctx := context.Background()
	good, err := h.hash(ctx, "password-x")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	salt, key := parts[4], parts[5]
	bc, _ := bcrypt.GenerateFromPassword([]byte("password-x"), bcrypt.MinCost)
	for _, enc := range []string{
		"password-x", // plain text in the column
		"$argon2id$",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$extra",
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,k=2$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, // 4 GiB: over the cap
		"$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key,   // over the cap
		"$argon2id$v=19$m=64,t=-1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "==",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",            // empty key matches nothing
		"$argon2id$v=19$m=64,t=1,p=1$$" + key,                  // empty salt
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,            // 4-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:10], // short key
		string(bc[:59]),
		string(bc) + "x",
		"$2a$99" + string(bc[6:]),
		"$2a$32" + string(bc[6:]),
		"$2a$xx" + string(bc[6:]),
		"$2a$04$" + strings.Repeat("!", 53),
		"$2x$04" + string(bc[6:]),
		"$2a$04" + "+" + string(bc[7:]),
		"pbkdf2_sha256$",
		"pbkdf2_sha256$1000$salt",
		"pbkdf2_sha256$abc$salt$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=",
		"pbkdf2_sha256$0$salt$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=",
		"pbkdf2_sha256$-5$salt$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=",
		"pbkdf2_sha256$999999999$salt$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=",
		"pbkdf2_sha256$1000$$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=",
		"pbkdf2_sha256$1000$salt$",
		"pbkdf2_sha256$1000$salt$AAAA",
		"pbkdf2_sha256$1000$salt$not base64!",
		"pbkdf2_sha256$1000$salt$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=$x",
		"pbkdf2_sha1$1000$salt$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=",
		"md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
		"\x00",
		"$",
	} {
		match, rehash, err := h.verify(ctx, enc, "password-x")
		if match || rehash || err != nil {
			t.Errorf("verify(%q) = %v, %v, %v; want false, false, nil", enc, match, rehash, err)
		}
	}
}

func TestVerifyEmptyHashRunsDummy(t *testing.T) {
	h := newTestHasher()
	match, rehash, err := h.verify(context.Background(), "", "whatever-password")
	if match || rehash || err != nil {
		t.Fatalf("verify(\"\") = %v, %v, %v; want false, false, nil", match, rehash, err)
	}
	// The dummy path takes a hashing slot like the real one: with the only
	// slot held it is refused, which shows it does the work.
	h1 := newHasher(cheapArgon2, 1, time.Nanosecond)
	h1.sem <- struct{}{}
	if _, _, err := h1.verify(context.Background(), "", "whatever-password"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("dummy verify with no free slot: err = %v, want ErrOverloaded", err)
	}
}

func TestHasherOverloaded(t *testing.T) {
	ctx := context.Background()
	h := newHasher(cheapArgon2, 1, time.Nanosecond)
	enc, err := h.hash(ctx, "first-password")
	if err != nil {
		t.Fatal(err)
	}
	h.sem <- struct{}{} // the test holds the only slot
	for name, call := range map[string]func() error{
		"hash":   func() error { _, err := h.hash(ctx, "second-password"); return err },
		"verify": func() error { _, _, err := h.verify(ctx, enc, "first-password"); return err },
		"bcrypt": func() error {
			_, _, err := h.verify(ctx, "$2a$04$"+strings.Repeat("a", 53), "first-password")
			return err
		},
		"pbkdf2": func() error {
			_, _, err := h.verify(ctx, "pbkdf2_sha256$1000$seasalt1234$JlBQ/OWmu3PcCFg2koQd315wDykzd702rqDsH8M7iWI=", "x")
			return err
		},
	} {
		err := call()
		var e *Error
		if !errors.As(err, &e) || e.Code != "overloaded" || e.Status != 503 || e.RetryAfter <= 0 {
			t.Errorf("%s with no free slot: err = %#v, want ErrOverloaded with RetryAfter", name, err)
		}
	}
	<-h.sem // released: work proceeds again
	if _, err := h.hash(ctx, "third-password"); err != nil {
		t.Fatalf("hash after release: %v", err)
	}
}

func TestHasherCanceledContext(t *testing.T) {
	h := newHasher(cheapArgon2, 1, time.Hour)
	h.sem <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.hash(ctx, "password-x"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("hash with canceled ctx: err = %v, want ErrOverloaded", err)
	}
	<-h.sem
	if _, err := h.hash(ctx, "password-x"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("hash with canceled ctx and a free slot: err = %v, want ErrOverloaded", err)
	}
}

// A caller that finds every slot busy waits and gets the slot once it is
// released, within the queue timeout.
func TestHasherQueues(t *testing.T) {
	h := newHasher(cheapArgon2, 1, time.Hour)
	h.sem <- struct{}{}
	done := make(chan error, 1)
	go func() { _, err := h.hash(context.Background(), "queued-password"); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("hash finished while the slot was held: %v", err)
	default:
	}
	<-h.sem
	if err := <-done; err != nil {
		t.Fatalf("queued hash: %v", err)
	}
}

func TestArgon2ParamsValidate(t *testing.T) {
	if err := DefaultArgon2().validate(); err != nil {
		t.Fatalf("DefaultArgon2 invalid: %v", err)
	}
	want := Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	if DefaultArgon2() != want {
		t.Fatalf("DefaultArgon2() = %+v, want %+v", DefaultArgon2(), want)
	}
	for _, tc := range []struct {
		p     Argon2Params
		field string
	}{
		{Argon2Params{}, "Parallelism"},
		{Argon2Params{Memory: 64, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "Iterations"},
		{Argon2Params{Memory: 64, Iterations: 101, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "Iterations"},
		{Argon2Params{Memory: 64, Iterations: 1, Parallelism: 0, SaltLength: 16, KeyLength: 32}, "Parallelism"},
		{Argon2Params{Memory: 15, Iterations: 1, Parallelism: 2, SaltLength: 16, KeyLength: 32}, "Memory"},
		{Argon2Params{Memory: 1<<20 + 1, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, "Memory"},
		{Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 7, KeyLength: 32}, "SaltLength"},
		{Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 15}, "KeyLength"},
	} {
		err := tc.p.validate()
		if err == nil || !strings.HasPrefix(err.Error(), "authgin: Options.Argon2."+tc.field) {
			t.Errorf("%+v: validate() = %v, want an error about Options.Argon2.%s", tc.p, err, tc.field)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	info := PasswordInfo{Username: "JohnSmith", Email: "j.doe@example.com"}
	policy := func(pw string, info PasswordInfo) error {
		switch {
		case strings.Contains(pw, "acme"):
			return errors.New("Password must not contain the company name")
		case strings.Contains(pw, "teapot"):
			return &Error{Status: 418, Code: "custom_code", Detail: "custom"}
		case strings.Contains(pw, "wrapped"):
			return fmt.Errorf("wrapping: %w", &Error{Status: 400, Code: "wrapped_code", Detail: "w"})
		}
		return nil
	}
	for _, tc := range []struct {
		name, pw, code string
	}{
		{"ok", "correct horse battery", ""},
		{"ok spaces kept", "  padded passphrase  ", ""},
		{"ok exactly min", "zq7Vx!2w", ""},
		{"ok exactly max", strings.Repeat("é", 128), ""},
		{"ok short username ignored", "xx-unrelated-xx", ""},
		{"too short", "Zq7Vx!2", "password_too_short"},
		{"too short in runes not bytes", "ééééééé", "password_too_short"},
		{"too long", strings.Repeat("a", 129) + "x", "password_too_long"},
		{"too long in runes", strings.Repeat("é", 129), "password_too_long"},
		{"too long combining NFC counts composed", strings.Repeat("e\u0301", 128), ""},
		{"invalid utf8", "abcdefgh\xff", "invalid_password"},
		{"nul", "abcdefgh\x00ij", "invalid_password"},
		{"common", "password", "password_common"},
		{"common any case", "PassWord123", "password_common"},
		{"common qwerty", "Qwertyuiop", "password_common"},
		{"contains username", "my-johnsmith-pass", "password_contains_username"},
		{"contains username case", "xxJOHNSMITHxx", "password_contains_username"},
		{"contains email local", "hello-J.DOE-pw", "password_contains_username"},
		{"policy plain error", "my acme passphrase", "password_policy"},
		{"policy *Error kept", "a teapot passphrase", "custom_code"},
		{"policy wrapped *Error", "a wrapped passphrase", "wrapped_code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkPassword(tc.pw, info, passwordRules{min: 8, max: 128, policy: policy})
			if tc.code == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if got != norm.NFC.String(tc.pw) {
					t.Fatalf("got %q, want the NFC form of the input", got)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Detail == "" {
				t.Fatalf("err = %#v, want *Error with code %q", err, tc.code)
			}
			if tc.code != "custom_code" && e.Status != 400 {
				t.Fatalf("status = %d, want 400", e.Status)
			}
			if got != "" {
				t.Fatalf("returned %q with an error", got)
			}
		})
	}
	// The policy's text becomes the detail, and the policy sees NFC.
	_, err := checkPassword("my acme passphrase", info, passwordRules{min: 8, max: 128, policy: policy})
	if e := (*Error)(nil); !errors.As(err, &e) || e.Detail != "Password must not contain the company name" {
		t.Fatalf("policy detail = %v", err)
	}
	var seen string
	_, err = checkPassword(norm.NFD.String("pässwörd-long"), PasswordInfo{}, passwordRules{min: 8, max: 128, policy: func(pw string, _ PasswordInfo) error {
		seen = pw
		return nil
	}})
	if err != nil || seen != norm.NFC.String("pässwörd-long") {
		t.Fatalf("policy saw %q (err %v), want the NFC form", seen, err)
	}
	// No policy: nil is fine. The length limits are the caller's.
	if _, err := checkPassword("xqz", PasswordInfo{}, passwordRules{min: 3, max: 4}); err != nil {
		t.Fatalf("custom limits: %v", err)
	}
	// Too long is reported before the policy or the list are consulted.
	called := false
	_, err = checkPassword(strings.Repeat("x", 200), info, passwordRules{min: 8, max: 128, policy: func(string, PasswordInfo) error { called = true; return nil }})
	if !errors.Is(err, ErrPasswordTooLong) || called {
		t.Fatalf("too long: err = %v, policy called = %v", err, called)
	}
}

func TestContextWords(t *testing.T) {
	got := contextWords("authgin", "Acme Bookstore", "My Shop", "A.B", "example.com")
	want := []string{"authgin", "acmebookstore", "bookstore", "myshop", "examplecom", "example"}
	if !slices.Equal(got, want) {
		t.Fatalf("contextWords = %q, want %q", got, want)
	}
	r := passwordRules{min: 8, max: 128, context: got}
	for pw, bad := range map[string]bool{
		"my authgin password": true, "Auth-Gin is great": true, "BOOK store 2024!": true,
		"my-shop-rocks-77": true, "acme the great one": false, "bookworm lover 77": false,
	} {
		_, err := checkPassword(pw, PasswordInfo{}, r)
		if bad != errors.Is(err, ErrPasswordCommon) || (!bad && err != nil) {
			t.Errorf("%q: err %v, want refused=%v", pw, err, bad)
		}
	}
}

// BenchmarkHashDefault measures one argon2id hash at the default cost
// (19 MiB, t=2, p=1). Reporting only.
func BenchmarkHashDefault(b *testing.B) {
	h := newHasher(DefaultArgon2(), 1, time.Minute)
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHashPassword: Service.HashPassword gives a hash the login accepts,
// applies the rules of a new password, and Close unmaps the hashing memory.
func TestHashPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		svc := e.auth.Service()
		ctx := context.Background()
		userID(e.client().register("seed@example.com", "seed", "correct horse battery"))

		h, err := svc.HashPassword(ctx, "another fine passphrase", PasswordInfo{Username: "seed", Email: "seed@example.com"})
		if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$") {
			t.Fatalf("HashPassword = %q, %v", h, err)
		}
		if err := db.Model(&Account{}).Where("username_key = ?", "seed").Update("password_hash", h).Error; err != nil {
			t.Fatal(err)
		}
		c := e.client()
		wantStatus(t, c.post("/login", map[string]string{"login": "seed", "password": "correct horse battery"}), 401)
		wantStatus(t, c.post("/login", map[string]string{"login": "seed", "password": "another fine passphrase"}), 200)

		for pw, want := range map[string]*Error{"short": ErrPasswordTooShort, "seed-is-my-password": ErrPasswordContainsUsername, "nul\x00in password": ErrInvalidPassword} {
			if _, err := svc.HashPassword(ctx, pw, PasswordInfo{Username: "seed"}); !errors.Is(err, want) {
				t.Errorf("HashPassword(%q) = %v, want %v", pw, err, want)
			}
		}

		if len(svc.hasher.mems) == 0 {
			t.Fatal("no block array kept after hashing")
		}
		if err := e.auth.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(svc.hasher.mems); n != 0 {
			t.Fatalf("%d block arrays kept after Close", n)
		}
	})
}

// TestHasherReusesMemory: the hasher keeps one block array a slot, and
// still verifies hashes made (by x/crypto) with
// smaller and larger memory, more lanes and other key lengths, before and
// after its own hashes.
func TestHasherReusesMemory(t *testing.T) {
	ctx := context.Background()
	own := Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	h := newHasher(own, 2, time.Minute)
	salt := []byte("0123456789abcdef")
	for _, p := range []Argon2Params{
		own,
		{Memory: 32, Iterations: 2, Parallelism: 1, KeyLength: 32},
		{Memory: 300, Iterations: 1, Parallelism: 3, KeyLength: 80}, // larger: a temporary array
		{Memory: 61, Iterations: 3, Parallelism: 2, KeyLength: 16},
		own,
	} {
		p.SaltLength = uint32(len(salt))
		enc := encodePHC(p, salt, argon2.IDKey([]byte("pass word"), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength))
		if match, rehash, err := h.verify(ctx, enc, "pass word"); !match || rehash != (p != own) || err != nil {
			t.Fatalf("verify(%+v) = %v, %v, %v", p, match, rehash, err)
		}
		if match, _, err := h.verify(ctx, enc, "pass wore"); match || err != nil {
			t.Fatalf("verify(%+v, wrong) = %v, %v", p, match, err)
		}
		mine, err := h.hash(ctx, "pass word")
		if err != nil {
			t.Fatal(err)
		}
		if match, rehash, err := h.verify(ctx, mine, "pass word"); !match || rehash || err != nil {
			t.Fatalf("verify(own hash) = %v, %v, %v", match, rehash, err)
		}
	}
	if n := len(h.mems); n != 1 {
		t.Fatalf("kept %d block arrays after sequential hashes, want 1", n)
	}
}

// TestHasherConcurrentSlots: hashes in both slots at once, each in its own
// kept array, verify (run with -race).
func TestHasherConcurrentSlots(t *testing.T) {
	ctx := context.Background()
	h := newHasher(Argon2Params{Memory: 128, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32}, 2, time.Minute)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			pw := fmt.Sprintf("password %d", i)
			enc, err := h.hash(ctx, pw)
			if err == nil {
				var match bool
				if match, _, err = h.verify(ctx, enc, pw); err == nil && !match {
					err = fmt.Errorf("%s: own hash does not verify", pw)
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.mems); n > 2 {
		t.Fatalf("kept %d arrays for 2 slots", n)
	}
}

// TestRegisterPasswordBlocklist: registration refuses passwords from the
// large common-password list and passwords containing the site's name
// (Options.Site and DisplayName), ignoring case and punctuation.
func TestRegisterPasswordBlocklist(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Site, o.DisplayName = "shop.example", "Acme Bookstore" })
		c := e.client()
		reg := func(name, pw string) *response {
			return c.post("/register", map[string]string{"email": name + "@example.com", "username": name, "password1": pw, "password2": pw})
		}
		for _, pw := range []string{"arquitecturas", "Antoshenechka", "gfhjkmgfhjkm"} { // common, beyond the old short list
			wantError(t, reg("listed", pw), 400, "password_common", "Password is too common")
		}
		for _, pw := range []string{"Shop.Example 2024", "my acme bookstore login", "the bookstore pass"} {
			wantError(t, reg("context", pw), 400, "password_common", "Password must not contain the name of this site")
		}
		wantStatus(t, reg("fine", "correct horse battery"), 200)
	})
}
