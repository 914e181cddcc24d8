package authgin

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
)

// authxRecord is one line of a test export and what the import must make
// of it.
type authxRecord struct {
	json   string
	reject *ImportReject // nil: imported or unchanged; Line is filled in
	login  string        // imported: the password to log in with ("" none)
}

// bcryptHash hashes pw at bcrypt's lowest cost, as authx would have (with
// a higher cost).
func bcryptHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// importDjangoHash is a Django pbkdf2_sha256 hash of pw.
func importDjangoHash(t testing.TB, pw string) string {
	return djangoHash(t, pw, "saltsalt", 1000)
}

func rejectOf(id any, email, username string, reason ImportReason, detail string) *ImportReject {
	r := &ImportReject{Email: email, Username: username, Reason: reason, Detail: detail}
	switch v := id.(type) {
	case int:
		n := int64(v)
		r.ID = &n
	case int64:
		r.ID = &v
	}
	return r
}

// export joins records into JSON lines (a blank line among them), or a
// JSON array with one record a line, and returns the rejects it should
// produce with their lines.
func export(recs []authxRecord, array bool) (string, []ImportReject) {
	var b strings.Builder
	var rejects []ImportReject
	line := 1
	if array {
		b.WriteString("[\n")
		line++
	}
	for i, r := range recs {
		if !array && i == 3 {
			b.WriteString("\n")
			line++
		}
		if r.reject != nil {
			rj := *r.reject
			rj.Line = line
			rejects = append(rejects, rj)
		}
		b.WriteString(r.json)
		if array && i < len(recs)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
		line++
	}
	if array {
		b.WriteString("]\n")
	}
	return b.String(), rejects
}

// importInto runs an import of in into db and returns the report and the
// rejects.
func importInto(t *testing.T, db *gorm.DB, in string, o ImportOptions) (ImportReport, []ImportReject, error) {
	t.Helper()
	var rejects []ImportReject
	o.DB = db
	o.Rejects = func(r ImportReject) error { rejects = append(rejects, r); return nil }
	im, err := NewImporter(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := im.ImportAuthx(context.Background(), strings.NewReader(in))
	return rep, rejects, err
}

func wantRejects(t *testing.T, got, want []ImportReject) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("rejects:\n%s\nwant:\n%s", g, w)
	}
}

func wantReport(t *testing.T, got, want ImportReport) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("report:\n%+v\nwant:\n%+v", got, want)
	}
}

// dumpUsers is every users row, for comparing the table before and after.
func dumpUsers(t *testing.T, db *gorm.DB) string {
	t.Helper()
	var rows []Account
	if err := db.Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rows)
	return string(b)
}

// countEvents counts the security events of one kind.
func countEvents(t *testing.T, db *gorm.DB, kind string) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&SecurityEvent{}).Where("event = ?", kind).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImportAuthx imports an export with every kind of record authx
// leaves behind, on every backend: a dry run first, which writes nothing;
// then the import, after which every imported user logs in over HTTP with
// the old password and gets an argon2id hash; then the same export again,
// which changes nothing.
func TestImportAuthx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		// An account that exists before the import: id 1.
		pre := e.client().register("pre@example.com", "preexisting", "correct horse battery")
		if id := pre.json["id"].(float64); id != 1 {
			t.Fatalf("pre-existing account got id %v", id)
		}

		created := time.Date(2019, 5, 1, 12, 0, 0, 123e6, time.UTC)
		lastLogin := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
		oid := `"_id": {"$oid": "5cc98a4c2f8f8a0001a1b2c3"}, `
		rec := func(id, email, username, hash string, extra string) string {
			s := `{` + oid + `"id": ` + id + `, "email": "` + email + `", "username": "` + username + `"`
			if hash != "" {
				s += `, "password": "` + hash + `"`
			}
			return s + extra + `}`
		}
		canonicalDates := fmt.Sprintf(`, "created_at": {"$date": {"$numberLong": "%d"}}, "last_login": {"$date": "%s"}`,
			created.UnixMilli(), lastLogin.Format("2006-01-02T15:04:05.000Z"))
		recs := []authxRecord{
			{json: rec(`{"$numberLong": "101"}`, "Ann@Example.com", "Ann", bcryptHash(t, "ann password 1"),
				`, "active": true, "confirmed": true, "permissions": ["admin", "reports", "admin"]`+canonicalDates),
				login: "ann password 1"},
			{json: rec(`{"$numberInt": "102"}`, "bob@example.com", "bob", bcryptHash(t, "bob password 2"),
				`, "active": true, "confirmed": false, "permissions": [], "created_at": {"$date": "2020-01-02T03:04:05Z"}, "last_login": null`),
				login: "bob password 2"},
			// Case variants of an earlier email and username.
			{json: rec(`103`, "ANN@example.com", "annie", bcryptHash(t, "x"), ""),
				reject: rejectOf(103, "ANN@example.com", "annie", ReasonDuplicateEmail, "")},
			{json: rec(`104`, "bob2@example.com", "Bob", bcryptHash(t, "x"), ""),
				reject: rejectOf(104, "bob2@example.com", "Bob", ReasonDuplicateUsername, "")},
			// Fullwidth: displayed as written, keyed "carol".
			{json: rec(`105`, "carol@example.com", "ｃａｒｏｌ", bcryptHash(t, "carol password 5"), ""), login: "carol password 5"},
			{json: rec(`106`, "carol2@example.com", "Carol", bcryptHash(t, "x"), ""),
				reject: rejectOf(106, "carol2@example.com", "Carol", ReasonDuplicateUsername, "")},
			// No password: imported without one.
			{json: rec(`107`, "dave@example.com", "dave", "", `, "confirmed": true`)},
			// Inactive: banned.
			{json: rec(`108`, "erin@example.com", "erin", bcryptHash(t, "erin password 8"), `, "active": false`)},
			// A $numberLong id beyond 32 bits; a Django hash.
			{json: rec(`{"$numberLong": "9000000000"}`, "frank@example.com", "frank", importDjangoHash(t, "frank password 9"), ""),
				login: "frank password 9"},
			{json: rec(`110`, "gina@example.com", "gina", "$2b$04$tooshort", ""),
				reject: rejectOf(110, "gina@example.com", "gina", ReasonMalformedHash, "")},
			{json: rec(`111`, "mallory@example.com", "mallory", "md5$abc$def", ""),
				reject: rejectOf(111, "mallory@example.com", "mallory", ReasonMalformedHash, "")},
			{json: rec(`112`, "hank@example.com", "hank", bcryptHash(t, "x"), `, "created_at": {"$date": "last tuesday"}`),
				reject: rejectOf(112, "hank@example.com", "hank", ReasonInvalidDate, "created_at is not a valid date")},
			{json: rec(`113`, "ida@example.com", "ida", bcryptHash(t, "x"), `, "last_login": {"$date": {"$numberLong": "-5000"}}`),
				reject: rejectOf(113, "ida@example.com", "ida", ReasonInvalidDate, "last_login 1969-12-31T23:59:55Z is out of range (1970 to 9999)")},
			// A social login: skipped, with its reason.
			{json: rec(`114`, "sam@example.com", "sam", "", `, "provider": "google", "sid": "1234567890"`),
				reject: rejectOf(114, "sam@example.com", "sam", ReasonSocialLogin, "")},
			{json: rec(`115`, "not-an-email", "ned", bcryptHash(t, "x"), ""),
				reject: rejectOf(115, "not-an-email", "ned", ReasonInvalidEmail, "Enter a plain email address such as name@example.com")},
			{json: rec(`116`, "x@example.com", "x", bcryptHash(t, "x"), ""),
				reject: rejectOf(116, "x@example.com", "x", ReasonInvalidUsername, "Username must be 3 to 32 characters long")},
			// Cyrillic "а" among Latin letters.
			{json: rec(`117`, "cyril@example.com", "аdmin1", bcryptHash(t, "x"), ""),
				reject: rejectOf(117, "cyril@example.com", "аdmin1", ReasonInvalidUsername, "Username must not mix letters of different scripts")},
			{json: rec(`118`, "root@example.com", "Admin", bcryptHash(t, "x"), ""),
				reject: rejectOf(118, "root@example.com", "Admin", ReasonReservedUsername, "Username is reserved")},
			{json: rec(`119`, "ivy@example.com", "ivy", bcryptHash(t, "x"), `, "permissions": ["two words"]`),
				reject: rejectOf(119, "ivy@example.com", "ivy", ReasonInvalidPermission, `permission "two words" is not allowed`)},
			{json: rec(`"abc"`, "abc@example.com", "abc", bcryptHash(t, "x"), ""),
				reject: rejectOf(nil, "abc@example.com", "abc", ReasonMalformedRecord, "id is not an integer")},
			{json: `"just a string"`, reject: rejectOf(nil, "", "", ReasonMalformedRecord, "the record is not a JSON object")},
			{json: rec(`120`, "judy@example.com", "judy", bcryptHash(t, "x"), `, "active": "yes"`),
				reject: rejectOf(120, "judy@example.com", "judy", ReasonMalformedRecord, "active is not true or false")},
			// Another account with bob's id.
			{json: rec(`102`, "zed@example.com", "zed", bcryptHash(t, "x"), ""),
				reject: rejectOf(102, "zed@example.com", "zed", ReasonDuplicateID, "another account has this id")},
			// Collisions with the account that was there before.
			{json: rec(`1`, "kate@example.com", "kate", bcryptHash(t, "x"), ""),
				reject: rejectOf(1, "kate@example.com", "kate", ReasonDuplicateID, "another account has this id")},
			{json: rec(`121`, "PRE@example.com", "leo", bcryptHash(t, "x"), ""),
				reject: rejectOf(121, "PRE@example.com", "leo", ReasonDuplicateEmail, "")},
			{json: rec(`122`, "mia@example.com", "PreExisting", bcryptHash(t, "x"), ""),
				reject: rejectOf(122, "mia@example.com", "PreExisting", ReasonDuplicateUsername, "")},
			// bob again, as the export had him: already imported.
			{json: rec(`102`, "Bob@Example.com", "bob", bcryptHash(t, "x"), "")},
		}
		in, rejects := export(recs, false)
		before := dumpUsers(t, db)

		want := ImportReport{
			DryRun: true, Records: int64(len(recs)), Imported: 6, Banned: 1, WithoutPassword: 1, Unchanged: 1,
			Rejected: map[ImportReason]int64{
				ReasonDuplicateEmail: 2, ReasonDuplicateUsername: 3, ReasonMalformedHash: 2, ReasonInvalidDate: 2,
				ReasonInvalidEmail: 1, ReasonInvalidUsername: 2, ReasonReservedUsername: 1, ReasonInvalidPermission: 1,
				ReasonMalformedRecord: 3, ReasonDuplicateID: 2,
			},
			Skipped:   map[ImportReason]int64{ReasonSocialLogin: 1},
			HighestID: 9000000000, LastLine: len(recs) + 1,
		}
		rep, got, err := importInto(t, db, in, ImportOptions{DryRun: true, BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		wantReport(t, rep, want)
		wantRejects(t, got, rejects)
		if after := dumpUsers(t, db); after != before {
			t.Fatal("the dry run changed the users table")
		}
		if n := countEvents(t, db, EventImportBanned); n != 0 {
			t.Fatalf("the dry run recorded %d events", n)
		}

		rep, got, err = importInto(t, db, in, ImportOptions{BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		want.DryRun = false
		wantReport(t, rep, want)
		wantRejects(t, got, rejects)

		// The rows keep what authx had.
		ann := e.account("ann")
		if ann.ID != 101 || ann.Email != "Ann@Example.com" || ann.EmailKey != "ann@example.com" || !ann.Confirmed || ann.Banned ||
			!reflect.DeepEqual([]string(ann.Permissions), []string{"admin", "reports"}) ||
			!ann.CreatedAt.Equal(created) || ann.LastLoginAt == nil || !ann.LastLoginAt.Equal(lastLogin) ||
			!strings.HasPrefix(ann.PasswordHash, "$2a$") {
			t.Fatalf("ann imported as %+v", ann)
		}
		bob := e.account("bob")
		if bob.ID != 102 || bob.Confirmed || bob.LastLoginAt != nil || !bob.CreatedAt.Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Fatalf("bob imported as %+v", bob)
		}
		if carol := e.account("carol"); carol.ID != 105 || carol.Username != "ｃａｒｏｌ" {
			t.Fatalf("carol imported as %+v", carol)
		}
		erin := e.account("erin")
		if !erin.Banned {
			t.Fatal("an inactive authx user was not banned")
		}
		var evs []SecurityEvent
		if err := db.Where("event = ?", EventImportBanned).Find(&evs).Error; err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].UserID != erin.ID || evs[0].Detail != "imported from authx as inactive" {
			t.Fatalf("import events %+v", evs)
		}

		// Every imported user logs in with the old password, by email or
		// username, and gets an argon2id hash.
		for _, r := range recs {
			if r.login == "" {
				continue
			}
			var u struct {
				Email    string `json:"email"`
				Username string `json:"username"`
			}
			if err := json.Unmarshal([]byte(r.json), &u); err != nil {
				t.Fatal(err)
			}
			for _, login := range []string{u.Email, u.Username} {
				c := e.client()
				resp := c.post("/login", map[string]string{"login": login, "password": r.login})
				wantStatus(t, resp, 200)
			}
			_, key, _ := canonicalUsername(u.Username)
			if a := e.account(key); !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
				t.Fatalf("%s still has %.10s... after logging in", u.Username, a.PasswordHash)
			}
		}
		// Permissions came along.
		c := e.client()
		wantStatus(t, c.post("/login", map[string]string{"login": "ann", "password": "ann password 1"}), 200)
		wantStatus(t, c.do("GET", "/api/admin", nil), 200)
		// The banned user learns it after a right password.
		wantError(t, e.client().post("/login", map[string]string{"login": "erin", "password": "erin password 8"}), 400, "user_banned", "")
		// The user without a password has none to log in with, and GET
		// /password offers to set one.
		wantError(t, e.client().post("/login", map[string]string{"login": "dave", "password": "any password at all"}), 401, "invalid_credentials", "")
		dave := e.account("dave")
		toks, err := e.auth.svc.issueAccess(&dave, "import-test", nil, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := e.client().do("GET", testBase+"/password", nil, "Authorization", "Bearer "+toks.Access)
		wantStatus(t, r, 200)
		if r.str("status") != "set" {
			t.Fatalf("GET /password for an account without password: %s", r.raw)
		}

		// The same export again changes nothing, not even the hashes that
		// logins replaced.
		before = dumpUsers(t, db)
		rep, got, err = importInto(t, db, in, ImportOptions{BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		want.Imported, want.Banned, want.WithoutPassword, want.Unchanged = 0, 0, 0, 7
		wantReport(t, rep, want)
		wantRejects(t, got, rejects)
		if after := dumpUsers(t, db); after != before {
			t.Fatalf("a second import changed the users table:\n%s\n%s", before, after)
		}
		if n := countEvents(t, db, EventImportBanned); n != 1 {
			t.Fatalf("%d import events after a second run", n)
		}

		// New accounts get ids above the imported ones.
		reg := e.client().register("new@example.com", "newcomer", "staple battery horse")
		if id := int64(reg.json["id"].(float64)); id <= 9000000000 {
			t.Fatalf("an account registered after the import got id %d", id)
		}
	})
}

// TestImportAuthxArray reads the export as one JSON array in relaxed
// Extended JSON, with the rejects' lines counted in it.
func TestImportAuthxArray(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		recs := []authxRecord{
			{json: `{"id": 1, "email": "a@example.com", "username": "alpha", "password": "` + bcryptHash(t, "alpha password") +
				`", "created_at": {"$date": "2021-06-07T08:09:10.5+02:00"}, "last_login": "2022-01-01T00:00:00"}`, login: "alpha password"},
			{json: `{"id": 2, "email": "A@example.com", "username": "beta"}`,
				reject: rejectOf(2, "A@example.com", "beta", ReasonDuplicateEmail, "")},
			{json: `{"id": 3,
  "email": "c@example.com", "username": "gamma", "created_at": {"$date": 1600000000000}}`},
			{json: `{"id": 4, "email": "d@example.com", "username": "de lta"}`,
				reject: rejectOf(4, "d@example.com", "de lta", ReasonInvalidUsername, "Username may contain only letters, digits, '_', '.' and '-'")},
		}
		in, rejects := export(recs, true)
		rejects[1].Line++ // gamma's record spans two lines
		rep, got, err := importInto(t, db, in, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantReport(t, rep, ImportReport{
			Records: 4, Imported: 2, WithoutPassword: 1,
			Rejected:  map[ImportReason]int64{ReasonDuplicateEmail: 1, ReasonInvalidUsername: 1},
			Skipped:   map[ImportReason]int64{},
			HighestID: 3, LastLine: 6,
		})
		wantRejects(t, got, rejects)
		a := e.account("alpha")
		if !a.CreatedAt.Equal(time.Date(2021, 6, 7, 6, 9, 10, 5e8, time.UTC)) || !a.LastLoginAt.Equal(time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("alpha's times: %v, %v", a.CreatedAt, a.LastLoginAt)
		}
		if g := e.account("gamma"); !g.CreatedAt.Equal(time.UnixMilli(1600000000000)) {
			t.Fatalf("gamma's creation: %v", g.CreatedAt)
		}
		wantStatus(t, e.client().post("/login", map[string]string{"login": "a@example.com", "password": "alpha password"}), 200)
	})
}

// TestImportAuthxRenameUsername: with ImportRenameUsername, a taken
// username becomes name-id; the renamed user logs in under the new name,
// and the rejects file says so.
func TestImportAuthxRenameUsername(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("taken@example.com", "bob-3", "correct horse battery")
		hash := bcryptHash(t, "bob password 1")
		recs := []authxRecord{
			{json: `{"id": 10, "email": "b1@example.com", "username": "bob", "password": "` + hash + `"}`},
			{json: `{"id": 2, "email": "b2@example.com", "username": "Bob", "password": "` + hash + `"}`,
				reject: &ImportReject{Email: "b2@example.com", Username: "Bob", Reason: ReasonUsernameRenamed, NewUsername: "Bob-2"}},
			// bob-3 is taken: the next try.
			{json: `{"id": 3, "email": "b3@example.com", "username": "ｂｏｂ", "password": "` + hash + `"}`,
				reject: &ImportReject{Email: "b3@example.com", Username: "ｂｏｂ", Reason: ReasonUsernameRenamed, NewUsername: "ｂｏｂ-3-2"}},
			// A name at the length limit is shortened to fit.
			{json: `{"id": 44, "email": "long@example.com", "username": "abcdefghijabcdefghijabcdefghij12", "password": "` + hash + `"}`},
			{json: `{"id": 45, "email": "long2@example.com", "username": "ABCDEFGHIJABCDEFGHIJABCDEFGHIJ12", "password": "` + hash + `"}`,
				reject: &ImportReject{Email: "long2@example.com", Username: "ABCDEFGHIJABCDEFGHIJABCDEFGHIJ12", Reason: ReasonUsernameRenamed, NewUsername: "ABCDEFGHIJABCDEFGHIJABCDEFGHI-45"}},
			// Email conflicts are still rejected.
			{json: `{"id": 6, "email": "B1@example.com", "username": "bobby", "password": "` + hash + `"}`,
				reject: &ImportReject{Email: "B1@example.com", Username: "bobby", Reason: ReasonDuplicateEmail}},
		}
		for i, id := range []int64{2, 3, 45, 6} {
			rejectsIdx := []int{1, 2, 4, 5}[i]
			recs[rejectsIdx].reject.ID = &id
		}
		in, rejects := export(recs, false)
		rep, got, err := importInto(t, db, in, ImportOptions{OnConflict: ImportRenameUsername, BatchSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		wantReport(t, rep, ImportReport{
			Records: 6, Imported: 5, Renamed: 3,
			Rejected:  map[ImportReason]int64{ReasonDuplicateEmail: 1},
			Skipped:   map[ImportReason]int64{},
			HighestID: 45, LastLine: 7,
		})
		wantRejects(t, got, rejects)
		for _, login := range []string{"bob-2", "b2@example.com", "bob-3-2", "abcdefghijabcdefghijabcdefghi-45"} {
			wantStatus(t, e.client().post("/login", map[string]string{"login": login, "password": "bob password 1"}), 200)
		}
		// Again: the renamed records are found by id and email.
		rep, _, err = importInto(t, db, in, ImportOptions{OnConflict: ImportRenameUsername})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Unchanged != 5 || rep.Imported != 0 {
			t.Fatalf("second run: %+v", rep)
		}
	})
}

// TestImportAuthxFail: with ImportFail the import stops at the first
// conflict; the records before it, in its batch too, are imported.
func TestImportAuthxFail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		in, _ := export([]authxRecord{
			{json: `{"id": 1, "email": "a@example.com", "username": "alpha"}`},
			{json: `{"id": 2, "email": "b@example.com", "username": "beta"}`},
			{json: `{"id": 3, "email": "bad email", "username": "gamma"}`},
			{json: `{"id": 4, "email": "d@example.com", "username": "delta"}`},
			{json: `{"id": 5, "email": "e@example.com", "username": "ALPHA"}`},
			{json: `{"id": 6, "email": "f@example.com", "username": "zeta"}`},
			{json: `{"id": 7, "email": "g@example.com", "username": "eta"}`},
		}, false)
		rep, got, err := importInto(t, db, in, ImportOptions{OnConflict: ImportFail, BatchSize: 3})
		var ce *ImportConflictError
		if !errors.As(err, &ce) || ce.Reject.Line != 6 || ce.Reject.Reason != ReasonDuplicateUsername {
			t.Fatalf("err %v", err)
		}
		wantReport(t, rep, ImportReport{
			Records: 5, Imported: 3, WithoutPassword: 3,
			Rejected:  map[ImportReason]int64{ReasonInvalidEmail: 1, ReasonDuplicateUsername: 1},
			Skipped:   map[ImportReason]int64{},
			HighestID: 4, LastLine: 6,
		})
		if len(got) != 2 || !reflect.DeepEqual(got[1], ce.Reject) {
			t.Fatalf("rejects %+v", got)
		}
		var ids []int64
		db.Model(&Account{}).Order("id").Pluck("id", &ids)
		if !reflect.DeepEqual(ids, []int64{1, 2, 4}) {
			t.Fatalf("ids %v", ids)
		}
	})
}

// TestImportAuthxInterrupted: an import whose context ends stops after
// the batch in progress, and running it again goes on from there.
func TestImportAuthxInterrupted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		var recs []authxRecord
		for i := 1; i <= 5; i++ {
			recs = append(recs, authxRecord{json: fmt.Sprintf(`{"id": %d, "email": "u%d@example.com", "username": "user%d"}`, i, i, i)})
		}
		in, _ := export(recs, false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		im, err := NewImporter(ctx, ImportOptions{DB: db, BatchSize: 2, Progress: func(ImportProgress) { cancel() }})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := im.ImportAuthx(ctx, strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Interrupted || rep.Records != 2 || rep.Imported != 2 || countRows(t, db, &Account{}) != 2 {
			t.Fatalf("interrupted run: %+v", rep)
		}
		rep, _, err = importInto(t, db, in, ImportOptions{BatchSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Interrupted || rep.Unchanged != 2 || rep.Imported != 3 || countRows(t, db, &Account{}) != 5 {
			t.Fatalf("second run: %+v", rep)
		}
	})
}

// TestImportAuthxDryRunWithoutDatabase checks an export alone, and a dry
// run before the tables exist.
func TestImportAuthxDryRunWithoutDatabase(t *testing.T) {
	in, rejects := export([]authxRecord{
		{json: `{"id": 1, "email": "a@example.com", "username": "alpha"}`},
		{json: `{"id": 2, "email": "b@example.com", "username": "Alpha"}`, reject: rejectOf(2, "b@example.com", "Alpha", ReasonDuplicateUsername, "")},
		{json: `{"id": 1, "email": "a@example.com", "username": "alpha"}`},
	}, false)
	want := ImportReport{
		DryRun: true, Records: 3, Imported: 1, Unchanged: 1, WithoutPassword: 1,
		Rejected: map[ImportReason]int64{ReasonDuplicateUsername: 1}, Skipped: map[ImportReason]int64{},
		HighestID: 1, LastLine: 3,
	}
	for _, db := range []*gorm.DB{nil, openTestDB(t, "sqlite")} {
		rep, got, err := importInto(t, db, in, ImportOptions{DryRun: true, BatchSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		wantReport(t, rep, want)
		wantRejects(t, got, rejects)
		if db != nil && db.Migrator().HasTable("users") {
			t.Fatal("the dry run created the tables")
		}
	}
	if _, err := NewImporter(context.Background(), ImportOptions{}); err == nil {
		t.Fatal("NewImporter without a database and not a dry run")
	}
}

// TestImportAuthxBadExport: an export that stops being JSON stops the
// import with the line; the batches before it stay.
func TestImportAuthxBadExport(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		err  string
		done int64
	}{
		"syntax":    {"{\"id\": 1, \"email\": \"a@example.com\", \"username\": \"alpha\"}\n{\"id\": 2,,}\n", "line 2: the export is not valid JSON", 1},
		"truncated": {"{\"id\": 1, \"email\": \"a@example.com\", \"username\": \"alpha\"}\n{\"id\": 2, \"em", "ends in the middle of a record", 1},
		"array":     {"[{\"id\": 1, \"email\": \"a@example.com\", \"username\": \"alpha\"}\n\n]\n[]", "line 4: data after the JSON array", 1},
		"unclosed":  {"[{\"id\": 1, \"email\": \"a@example.com\", \"username\": \"alpha\"}", "ends in the middle", 1},
		"empty":     {"  \n", "", 0},
		"bom":       {"\xef\xbb\xbf[{\"id\": 1, \"email\": \"a@example.com\", \"username\": \"alpha\"}]", "", 1},
	} {
		t.Run(name, func(t *testing.T) {
			rep, _, err := importInto(t, openTestDB(t, "sqlite"), tc.in, ImportOptions{BatchSize: 1})
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			if rep.Imported != tc.done {
				t.Fatalf("imported %d, want %d", rep.Imported, tc.done)
			}
		})
	}
}

// TestImportExtendedJSON reads every form of integer and date that
// mongoexport writes, and refuses the rest.
func TestImportExtendedJSON(t *testing.T) {
	ms := time.Date(2019, 5, 1, 12, 0, 0, 123e6, time.UTC)
	for in, want := range map[string]time.Time{
		`{"$date": "2019-05-01T12:00:00.123Z"}`:              ms,
		`{"$date": "2019-05-01T14:00:00.123+02:00"}`:         ms,
		`{"$date": "2019-05-01T12:00:00.123+0000"}`:          ms,
		`{"$date": {"$numberLong": "1556712000123"}}`:        ms,
		`{"$date": 1556712000123}`:                           ms,
		`"2019-05-01T12:00:00.123"`:                          ms,
		`"2019-05-01 12:00:00.123"`:                          ms,
		`{"$date": "2019-05-01T12:00:00Z"}`:                  ms.Truncate(time.Second),
		`{"$date": "9999-12-31T23:59:59.999Z"}`:              time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		`{"$date": "1969-12-31T23:59:59Z"}`:                  {},
		`{"$date": {"$numberLong": "253402300800000"}}`:      {}, // year 10000
		`{"$date": "2019-13-01T00:00:00Z"}`:                  {},
		`{"$date": "yesterday"}`:                             {},
		`{"$date": true}`:                                    {},
		`{"$date": "2019-05-01T12:00:00Z", "extra": 1}`:      {},
		`{"$numberLong": "1556712000123"}`:                   {},
		`1556712000123`:                                      {},
		`{"$date": {"$numberLong": "99999999999999999999"}}`: {},
	} {
		got, err := ejsonTime(json.RawMessage(in))
		if want.IsZero() != (err != nil) || !got.Equal(want) {
			t.Errorf("ejsonTime(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]int64{
		`12`: 12, `{"$numberLong": "9000000000"}`: 9000000000, `{"$numberInt": "12"}`: 12, ` 7 `: 7, `-3`: -3,
		`12.0`: 0, `1e3`: 0, `"12"`: 0, `{"$numberDouble": "12"}`: 0, `{"$numberLong": 12}`: 0, `{}`: 0, `null`: 0,
	} {
		got, err := ejsonInt(json.RawMessage(in))
		if (want == 0) != (err != nil) || got != want {
			t.Errorf("ejsonInt(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
}

// TestImportVerifiableHash: what the import accepts as a hash is what
// login verifies.
func TestImportVerifiableHash(t *testing.T) {
	h := newHasher(cheapArgon2, 1, time.Second)
	argon, err := h.hash(context.Background(), "pw password")
	if err != nil {
		t.Fatal(err)
	}
	for hash, ok := range map[string]bool{
		bcryptHash(t, "pw password"):                                     true,
		strings.Replace(bcryptHash(t, "pw password"), "$2a$", "$2b$", 1): true,
		strings.Replace(bcryptHash(t, "pw password"), "$2a$", "$2y$", 1): true,
		importDjangoHash(t, "pw password"):                               true,
		argon:                                                            true,
		strings.Replace(bcryptHash(t, "pw password"), "$2a$", "$2x$", 1): false,
		"$2b$04$tooshort":                                                false,
		"pbkdf2_sha256$0$salt$AAAA":                                      false,
		"pbkdf2_sha1$1000$salt$AAAA":                                     false,
		"$argon2i$v=19$m=64,t=1,p=1$a$b":                                 false,
		"plaintext":                                                      false,
		"sha1$salt$hash":                                                 false,
	} {
		if got := verifiableHash(hash); got != ok {
			t.Errorf("verifiableHash(%q) = %v", hash, got)
		}
		if ok {
			match, _, err := h.verify(context.Background(), hash, "pw password")
			if err != nil || !match {
				t.Errorf("verify(%q) = %v, %v", hash, match, err)
			}
		}
	}
}

// TestImportIDSequence: importing ids below the sequence leaves it where
// it is, so that the ids of deleted accounts are not handed out again.
func TestImportIDSequence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		st := migratedStore(t, db)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		acct := func(id int64, name string) Account {
			return Account{ID: id, Email: name + "@example.com", EmailKey: name + "@example.com", Username: name, UsernameKey: name,
				Permissions: Permissions{}, CreatedAt: now, UpdatedAt: now}
		}
		if err := st.importAccounts(ctx, []Account{acct(50, "fifty")}, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Delete(&Account{}, 50).Error; err != nil {
			t.Fatal(err)
		}
		if err := st.importAccounts(ctx, []Account{acct(10, "ten")}, nil); err != nil {
			t.Fatal(err)
		}
		next := acct(0, "next")
		if err := st.insertAccount(ctx, &next); err != nil {
			t.Fatal(err)
		}
		if next.ID != 51 {
			t.Fatalf("the next account got id %d, want 51", next.ID)
		}
	})
}

// TestImportAuthxRedecide: when accounts created between a batch's
// decisions and its insert take its keys, the insert fails as a duplicate
// and the batch is decided again against them (the loop in batch).
func TestImportAuthxRedecide(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		st := migratedStore(t, db)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		newAccount := func(email, username string) {
			t.Helper()
			a := Account{Email: email, EmailKey: email, Username: username, UsernameKey: username, Permissions: Permissions{}, CreatedAt: now, UpdatedAt: now}
			if err := st.insertAccount(ctx, &a); err != nil {
				t.Fatal(err)
			}
		}
		newAccount("carl@example.com", "carl")
		im, err := NewImporter(ctx, ImportOptions{DB: db, OnConflict: ImportRenameUsername})
		if err != nil {
			t.Fatal(err)
		}
		run := im.newRun()
		var items []importItem
		for i, rec := range []string{
			`{"id": 10, "email": "bob@example.com", "username": "bob"}`,
			`{"id": 11, "email": "carl2@example.com", "username": "Carl"}`,
			`{"id": 12, "email": "dora@example.com", "username": "dora"}`,
		} {
			items = append(items, run.check(exportRecord{line: i + 1, raw: json.RawMessage(rec)}))
		}
		decide := func() {
			t.Helper()
			if c, err := run.decide(ctx, items); c != nil || err != nil {
				t.Fatal(c, err)
			}
		}
		decide()
		if items[1].newUsername != "Carl-11" {
			t.Fatalf("first decision: %+v", items[1])
		}
		// Meanwhile, bob's email and Carl's new name are taken.
		newAccount("bob@example.com", "robert")
		newAccount("c3@example.com", "carl-11")
		if err := run.write(ctx, items); !errors.Is(err, errDuplicate) {
			t.Fatalf("write after the keys were taken: %v", err)
		}
		decide()
		if items[0].outcome != outcomeRejected || items[0].reason != ReasonDuplicateEmail ||
			items[1].newUsername != "Carl-11-2" || items[2].outcome != outcomeImported {
			t.Fatalf("second decision: %+v", items)
		}
		if err := run.write(ctx, items); err != nil {
			t.Fatal(err)
		}
		var names []string
		db.Model(&Account{}).Where("id >= 10").Order("id").Pluck("username", &names)
		if !reflect.DeepEqual(names, []string{"Carl-11-2", "dora"}) {
			t.Fatalf("imported %v", names)
		}
	})
}

// TestImportSetsSkeletons: an import into the database of a running app
// gives the imported accounts their username skeletons before it returns,
// so the app refuses a look-alike of an imported name at once. Of two
// imported look-alikes, the first by id keeps the skeleton and the import
// still succeeds.
func TestImportSetsSkeletons(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db) // started, with its own skeletons set, before the import
		if usernameSkeleton("rnodern") != usernameSkeleton("modern") || usernameSkeleton("modem") != usernameSkeleton("modern") {
			t.Fatal("the test's look-alikes do not look alike")
		}
		in := `{"id": 201, "email": "modern@example.com", "username": "modern"}
{"id": 202, "email": "rnodern@example.com", "username": "rnodern"}
`
		rep, rejects, err := importInto(t, db, in, ImportOptions{})
		if err != nil || rep.Imported != 2 || len(rejects) != 0 {
			t.Fatalf("import: %+v %v %v", rep, rejects, err)
		}
		var skels []sql.NullString
		if err := db.Model(&Account{}).Order("id").Pluck("username_skeleton", &skels).Error; err != nil {
			t.Fatal(err)
		}
		if len(skels) != 2 || skels[0].String != usernameSkeleton("modern") || skels[1].Valid {
			t.Fatalf("skeletons after the import: %v", skels)
		}
		r := e.client().post("/register", map[string]string{"email": "x@example.com", "username": "modem",
			"password1": "correct horse battery", "password2": "correct horse battery"})
		wantError(t, r, 400, "username_exists", "")
	})
}
