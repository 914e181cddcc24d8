package authgin

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

func TestCanonicalUsername(t *testing.T) {
	for _, tc := range []struct {
		name, in, display, key string // key "" means rejected
	}{
		{"plain", "john", "john", "john"},
		{"case folded into key", "JohnSmith", "JohnSmith", "johnsmith"},
		{"trimmed", "  john_doe \t", "john_doe", "john_doe"},
		{"punctuation", "j.doe-99_x", "j.doe-99_x", "j.doe-99_x"},
		{"digits only", "12345", "12345", "12345"},
		{"fullwidth mapped", "ｊｏｈｎ", "ｊｏｈｎ", "john"},
		{"fullwidth digits and hyphen", "ｊｏｈｎ－１", "ｊｏｈｎ－１", "john-1"},
		{"NFC display", "jose\u0301", "jos\u00e9", "jos\u00e9"},
		{"accented latin", "Zoë.Łukasz", "Zoë.Łukasz", "zoë.łukasz"},
		{"cyrillic only", "Иван", "Иван", "иван"},
		{"greek only", "Αλέξης", "Αλέξης", "αλέξης"},
		{"japanese mix allowed", "たなか太郎", "たなか太郎", "たなか太郎"},
		{"latin with han allowed", "li李明", "li李明", "li李明"},
		{"devanagari with marks", "मोहन", "मोहन", "मोहन"},
		{"min length", "abc", "abc", "abc"},
		{"max length", strings.Repeat("a", 32), strings.Repeat("a", 32), strings.Repeat("a", 32)},

		{"empty", "", "", ""},
		{"blank", "   ", "", ""},
		{"too short", "ab", "", ""},
		{"too short after trim", " ab ", "", ""},
		{"too long", strings.Repeat("a", 33), "", ""},
		{"space inside", "john doe", "", ""},
		{"at sign", "john@doe", "", ""},
		{"slash", "john/doe", "", ""},
		{"plus", "john+doe", "", ""},
		{"symbol", "john♥", "", ""},
		{"emoji", "john😀", "", ""},
		{"only punctuation", "._-", "", ""},
		{"nul", "john\x00doe", "", ""},
		{"invalid utf8", "john\xffdoe", "", ""},
		{"control", "john\x07doe", "", ""},
		{"newline inside", "john\ndoe", "", ""},
		{"zero width space", "jo\u200bhn", "", ""},
		{"zero width joiner", "jo\u200dhn", "", ""},
		{"zero width non-joiner", "jo\u200chn", "", ""},
		{"word joiner", "jo\u2060hn", "", ""},
		{"bom", "\ufeffjohn", "", ""},
		{"soft hyphen", "jo\u00adhn", "", ""},
		{"bidi override", "\u202ejohn", "", ""},
		{"hangul filler", "jo\u3164hn", "", ""},
		{"mixed cyrillic a in latin", "\u0430dmin", "", ""},
		{"mixed cyrillic o in latin", "j\u043ehn", "", ""},
		{"mixed greek omicron in latin", "j\u03bfhn", "", ""},
		{"mixed latin in cyrillic", "Ивaн", "", ""},
		{"leading combining mark", "\u0301john", "", ""},
		{"ligature compat", "ﬁle_x", "", ""},
		{"superscript compat", "john²", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			display, key, err := canonicalUsername(tc.in)
			if tc.key == "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != "invalid_username" || e.Status != 400 || e.Detail == "" {
					t.Fatalf("canonicalUsername(%q) = %q, %q, %v; want ErrInvalidUsername", tc.in, display, key, err)
				}
				return
			}
			if err != nil || display != tc.display || key != tc.key {
				t.Fatalf("canonicalUsername(%q) = %q, %q, %v; want %q, %q", tc.in, display, key, err, tc.display, tc.key)
			}
		})
	}
}

func TestCanonicalUsernameSharedKeys(t *testing.T) {
	var keys []string
	for _, in := range []string{"john", "John", "JOHN", "ｊｏｈｎ", "ＪＯＨＮ", " jOhN "} {
		_, key, err := canonicalUsername(in)
		if err != nil {
			t.Fatalf("canonicalUsername(%q): %v", in, err)
		}
		keys = append(keys, key)
	}
	for i, k := range keys {
		if k != "john" {
			t.Errorf("variant %d has key %q, want \"john\"", i, k)
		}
	}
	_, k1, _ := canonicalUsername("jose\u0301")
	_, k2, _ := canonicalUsername("JOS\u00c9")
	if k1 != k2 {
		t.Errorf("NFD and NFC spellings have keys %q and %q", k1, k2)
	}
}

func TestCanonicalEmail(t *testing.T) {
	for _, tc := range []struct {
		name, in, addr, key string // key "" means rejected
	}{
		{"plain", "john@example.com", "john@example.com", "john@example.com"},
		{"case folded into key", "John.Doe@Example.COM", "John.Doe@Example.COM", "john.doe@example.com"},
		{"trimmed", "  a.b@example.org \n", "a.b@example.org", "a.b@example.org"},
		{"plus tag", "a+tag@mail.example.com", "a+tag@mail.example.com", "a+tag@mail.example.com"},
		{"atext symbols", "o'neil!#$%&*=?^_`{|}~-@example.com", "o'neil!#$%&*=?^_`{|}~-@example.com", "o'neil!#$%&*=?^_`{|}~-@example.com"},
		{"unicode", "Jürgen@Bücher.de", "Jürgen@Bücher.de", "jürgen@bücher.de"},
		{"max length", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"},

		{"empty", "", "", ""},
		{"blank", "  ", "", ""},
		{"no at", "john.example.com", "", ""},
		{"no local", "@example.com", "", ""},
		{"no domain", "john@", "", ""},
		{"two ats", "a@b@example.com", "", ""},
		{"display name", "John <john@example.com>", "", ""},
		{"quoted display name", `"John Doe" <john@example.com>`, "", ""},
		{"angle brackets only", "<john@example.com>", "", ""},
		{"comment", "john@example.com (John)", "", ""},
		{"comment inside", "john(x)@example.com", "", ""},
		{"group", "friends: john@example.com;", "", ""},
		{"list", "a@example.com, b@example.com", "", ""},
		{"quoted local", `"john doe"@example.com`, "", ""},
		{"space", "john doe@example.com", "", ""},
		{"single label domain", "john@localhost", "", ""},
		{"domain literal", "john@[192.0.2.1]", "", ""},
		{"domain trailing dot", "john@example.com.", "", ""},
		{"double dot local", "john..doe@example.com", "", ""},
		{"nul", "john\x00@example.com", "", ""},
		{"invalid utf8", "jo\xffhn@example.com", "", ""},
		{"crlf injection", "john@example.com\r\nBcc: x@example.com", "", ""},
		{"zero width", "jo\u200bhn@example.com", "", ""},
		{"too long", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", "", ""},
		{"local too long", strings.Repeat("a", 65) + "@example.com", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, key, err := canonicalEmail(tc.in)
			if tc.key == "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != "invalid_email" || e.Status != 400 || e.Detail == "" {
					t.Fatalf("canonicalEmail(%q) = %q, %q, %v; want ErrInvalidEmail", tc.in, addr, key, err)
				}
				return
			}
			if err != nil || addr != tc.addr || key != tc.key {
				t.Fatalf("canonicalEmail(%q) = %q, %q, %v; want %q, %q", tc.in, addr, key, err, tc.addr, tc.key)
			}
		})
	}
}

func TestDefaultReservedUsernames(t *testing.T) {
	a := defaultReservedUsernames()
	for _, want := range []string{"admin", "administrator", "root", "system", "support", "me", "api"} {
		found := false
		for _, n := range a {
			found = found || n == want
		}
		if !found {
			t.Errorf("%q not reserved", want)
		}
	}
	// Every entry is already a canonical key, so comparing keys works.
	for _, n := range a {
		if _, key, err := canonicalUsername(n); err != nil && len(n) >= minUsernameLength {
			t.Errorf("reserved %q is not a valid username: %v", n, err)
		} else if err == nil && key != n {
			t.Errorf("reserved %q is not canonical (key %q)", n, key)
		}
	}
	a[0] = "changed"
	if defaultReservedUsernames()[0] == "changed" {
		t.Fatal("defaultReservedUsernames shares its slice")
	}
}

// The fuzz targets check that canonicalisation never panics, accepts only
// clean text, and that keys are fixed points: canonicalising a key again
// accepts it and yields the same key.

func FuzzCanonicalUsername(f *testing.F) {
	for _, s := range []string{"john", "JohnSmith", "ｊｏｈｎ", "\u0430dmin", "jo\u200bhn", "たなか太郎", "İstanbul", "ǅemal", "ß_strasse", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		display, key, err := canonicalUsername(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != "invalid_username" {
				t.Fatalf("canonicalUsername(%q): error %v is not ErrInvalidUsername", s, err)
			}
			return
		}
		for _, v := range []string{display, key} {
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 || v == "" {
				t.Fatalf("canonicalUsername(%q) accepted %q", s, v)
			}
		}
		d2, k2, err := canonicalUsername(key)
		if err != nil || k2 != key || d2 != key {
			t.Fatalf("key %q of %q canonicalises to %q, %q, %v", key, s, d2, k2, err)
		}
		if _, k3, err := canonicalUsername(display); err != nil || k3 != key {
			t.Fatalf("display %q of %q canonicalises to key %q, %v; want %q", display, s, k3, err, key)
		}
	})
}

func FuzzCanonicalEmail(f *testing.F) {
	for _, s := range []string{"john@example.com", "John.Doe@Example.COM", "John <john@example.com>", "Jürgen@Bücher.de", "a@b", "\"x\"@example.com", "\x00@example.com", "İ@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, key, err := canonicalEmail(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != "invalid_email" {
				t.Fatalf("canonicalEmail(%q): error %v is not ErrInvalidEmail", s, err)
			}
			return
		}
		for _, v := range []string{addr, key} {
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 || len(v) > maxEmailLength || !strings.Contains(v, "@") {
				t.Fatalf("canonicalEmail(%q) accepted %q", s, v)
			}
		}
		a2, k2, err := canonicalEmail(key)
		if err != nil || k2 != key || a2 != key {
			t.Fatalf("key %q of %q canonicalises to %q, %q, %v", key, s, a2, k2, err)
		}
		if _, k3, err := canonicalEmail(addr); err != nil || k3 != key {
			t.Fatalf("address %q of %q canonicalises to key %q, %v; want %q", addr, s, k3, err, key)
		}
	})
}

// TestUsernameLookAlikes: a username whose confusable skeleton another
// account's has is refused at register and at change_username, reserved
// names' look-alikes are reserved, and the first start after the upgrade
// gives existing accounts their skeletons.
func TestUsernameLookAlikes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		const pw = "correct horse battery"
		reg := func(email, name string) *response {
			return e.client().post("/register", map[string]string{"email": email, "username": name, "password1": pw, "password2": pw})
		}
		e.client().register("latin@example.com", "coco943308", pw)
		e.client().register("mary@example.com", "mary", pw)
		const lookAlike = "Username is too similar to an existing one"
		wantError(t, reg("cyrillic@example.com", "сосо943308"), 400, "username_exists", lookAlike)
		wantError(t, reg("rn@example.com", "rnary"), 400, "username_exists", lookAlike)
		wantError(t, reg("adm@example.com", "adrnin"), 400, "invalid_username", "Username is reserved")
		wantError(t, reg("dup@example.com", "MARY"), 400, "username_exists", "Username already exists")

		// change_username: not to another account's look-alike; to one of
		// the account's own name, yes.
		c := e.client()
		id := userID(c.register("other@example.com", "other", pw))
		rename := func(name string) *response {
			return c.post(fmt.Sprintf("/%d/change_username", id), map[string]string{"username": name})
		}
		wantError(t, rename("сосо943308"), 400, "username_exists", lookAlike)
		wantStatus(t, rename("0ther"), 200)
		wantStatus(t, rename("Other"), 200)
		// The old name's skeleton is free again.
		wantStatus(t, reg("new@example.com", "0ther"), 200)

		// A database from before the skeleton column: the next start adds
		// it and gives every account its skeleton; the older of two
		// look-alikes keeps it, the other keeps its name.
		if err := db.Migrator().DropIndex(&Account{}, "idx_users_username_skeleton"); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrator().DropColumn(&Account{}, "username_skeleton"); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		for _, name := range []string{"mallory", "rnallory"} {
			if err := db.Exec(`INSERT INTO users (email, email_key, username, username_key, password_hash, permissions, confirmed, banned, created_at, updated_at)
VALUES (?, ?, ?, ?, '', '[]', false, false, ?, ?)`, name+"@example.com", name+"@example.com", name, name, now, now).Error; err != nil {
				t.Fatal(err)
			}
		}
		e2 := newEnv(t, db)
		var skels []struct {
			UsernameKey      string
			UsernameSkeleton *string
		}
		if err := db.Model(&Account{}).Select("username_key", "username_skeleton").Order("id").Find(&skels).Error; err != nil {
			t.Fatal(err)
		}
		for _, s := range skels {
			if (s.UsernameSkeleton == nil) != (s.UsernameKey == "rnallory") ||
				(s.UsernameSkeleton != nil && *s.UsernameSkeleton != usernameSkeleton(s.UsernameKey)) {
				t.Errorf("%s: skeleton %v after the backfill", s.UsernameKey, s.UsernameSkeleton)
			}
		}
		if !strings.Contains(e2.logs.String(), "username looks like another account's") {
			t.Error("the look-alike left without a skeleton was not logged")
		}
		wantError(t, e2.client().post("/register", map[string]string{"email": "x@example.com", "username": "сосо943308",
			"password1": pw, "password2": pw}), 400, "username_exists", lookAlike)
	})
}

func TestUsernameSkeleton(t *testing.T) {
	for a, b := range map[string]string{"coco943308": "сосо943308", "mary": "rnary", "paypa": "раура", "ooo": "οοο"} {
		_, ka, errA := canonicalUsername(a)
		_, kb, errB := canonicalUsername(b)
		if errA != nil || errB != nil || ka == kb || usernameSkeleton(ka) != usernameSkeleton(kb) {
			t.Errorf("%q and %q: keys %q %q (%v %v), skeletons %q %q", a, b, ka, kb, errA, errB, usernameSkeleton(ka), usernameSkeleton(kb))
		}
	}
	if usernameSkeleton("alice") == usernameSkeleton("alicia") {
		t.Error("different names share a skeleton")
	}
}
