package authgin

import (
	"context"
	"errors"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// The app's own user fields (Options.UserFields), on every backend.

// appProfile is a test app's profile: a field of each kind of rule.
type appProfile struct {
	DisplayName string   `json:"display_name" authgin:"editable,public,searchable"`
	Locale      string   `json:"locale" authgin:"editable,searchable"`
	Newsletter  bool     `json:"newsletter" authgin:"editable,searchable"`
	Age         int      `json:"age" authgin:"editable"`
	Tags        []string `json:"tags" authgin:"editable"`
	Referrer    string   `json:"referrer"`                // register only
	Plan        string   `json:"plan" authgin:"readonly"` // the app only
}

var localeRE = regexp.MustCompile(`^[a-z]{2}(-[A-Z]{2})?$`)

func (p *appProfile) Validate() error {
	p.DisplayName = strings.TrimSpace(p.DisplayName) // Validate may normalise
	if p.Locale != "" && !localeRE.MatchString(p.Locale) {
		return &FieldError{Field: "locale", Reason: "must be a language tag such as en or pt-BR"}
	}
	if p.Age < 0 || p.Age > 150 {
		return &FieldError{Field: "age", Reason: "must be between 0 and 150"}
	}
	if p.DisplayName == "forbidden" {
		return ErrForbidden
	}
	return nil
}

func withProfile(o *Options) { o.UserFields = UserFieldsOf[appProfile]() }

// registerWith registers a user with extra body members and returns the
// answer, whatever its status.
func (c *client) registerWith(email, username string, extra map[string]any) *response {
	c.e.t.Helper()
	body := map[string]any{"email": email, "username": username,
		"password1": "correct horse battery", "password2": "correct horse battery"}
	for k, v := range extra {
		body[k] = v
	}
	return c.post("/register", body)
}

func TestUserFieldsRegister(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withProfile)
		c := e.client()
		r := c.registerWith("ann@example.com", "ann", map[string]any{
			"display_name": "  Ann Smith ", "locale": "pt-BR", "newsletter": true, "age": 41,
			"tags": []string{"a", "b"}, "referrer": "ad",
			// Never set through the profile.
			"plan": "gold", "permissions": []string{"admin"}, "confirmed": true, "id": 999,
			"is_admin": true, "banned": true, "unknown": 1,
		})
		wantStatus(t, r, 200)
		// The public user gains the public field only.
		if r.str("display_name") != "Ann Smith" || len(r.json) != 6 {
			t.Fatalf("public user %s", r.raw)
		}
		a := e.account("ann")
		if a.ID == 999 || a.Confirmed || a.Banned || len(a.Permissions) != 0 {
			t.Fatalf("stored account %+v", a)
		}
		me := c.do("GET", testBase+"/me", nil)
		wantStatus(t, me, 200)
		want := map[string]any{"id": float64(a.ID), "username": "ann", "email": "ann@example.com", "confirmed": false,
			"permissions": []any{}, "display_name": "Ann Smith", "locale": "pt-BR", "newsletter": true, "age": float64(41),
			"tags": []any{"a", "b"}, "referrer": "ad", "plan": ""}
		if !reflect.DeepEqual(me.json, want) {
			t.Fatalf("GET /me %s", me.raw)
		}
		// Login answers the public field too.
		l := e.client().post("/login", map[string]string{"login": "ann", "password": "correct horse battery"})
		wantStatus(t, l, 200)
		if l.str("display_name") != "Ann Smith" || l.json["locale"] != nil {
			t.Fatalf("login %s", l.raw)
		}
		// Without fields in the body, the zero values.
		wantStatus(t, e.client().registerWith("bob@example.com", "bob", nil), 200)
		p, err := LoadProfile[appProfile](context.Background(), e.auth.Service(), e.account("bob").ID)
		if err != nil || !reflect.DeepEqual(p, appProfile{}) {
			t.Fatalf("bob's profile %+v, %v", p, err)
		}
	})
}

func TestUserFieldsRegisterInvalid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withProfile)
		c := e.client()
		for _, tc := range []struct {
			extra  map[string]any
			code   string
			detail string
		}{
			{map[string]any{"display_name": 5}, "invalid_profile", "display_name: must be a string"},
			{map[string]any{"newsletter": "yes"}, "invalid_profile", "newsletter: must be true or false"},
			{map[string]any{"age": 1.5}, "invalid_profile", "age: must be an integer in range"},
			{map[string]any{"tags": "a"}, "invalid_profile", "tags: must be an array"},
			{map[string]any{"locale": "Portuguese"}, "invalid_profile", "locale: must be a language tag such as en or pt-BR"},
			{map[string]any{"age": 200}, "invalid_profile", "age: must be between 0 and 150"},
			{map[string]any{"display_name": strings.Repeat("é", maxFieldValueLen+1)}, "invalid_profile",
				"display_name: is too long (at most 512 characters)"},
			{map[string]any{"display_name": "a\x00b"}, "invalid_profile", "display_name: must not contain NUL characters"},
			{map[string]any{"tags": []string{strings.Repeat("x", maxFieldValueLen)}}, "invalid_profile",
				"tags: is too long (at most 512 characters)"},
			// Validate's own *Error is answered as it is.
			{map[string]any{"display_name": "forbidden"}, "forbidden", ""},
		} {
			r := c.registerWith("cat@example.com", "cat", tc.extra)
			status := 400
			if tc.code == "forbidden" {
				status = 403
			}
			wantError(t, r, status, tc.code, tc.detail)
		}
		// Nothing was created: the address and name are free.
		wantStatus(t, c.registerWith("cat@example.com", "cat", map[string]any{"display_name": strings.Repeat("é", maxFieldValueLen)}), 200)
	})
}

// A profile that cannot be stored leaves no account behind.
func TestUserFieldsRegisterAtomic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withProfile)
		refuseInserts(t, db, "user_fields", "NEW.value = 'boom'")
		r := e.client().registerWith("dan@example.com", "dan", map[string]any{"display_name": "boom"})
		wantError(t, r, 500, "internal", "")
		var n int64
		db.Model(&Account{}).Where("email_key = ?", "dan@example.com").Count(&n)
		if n != 0 {
			t.Fatal("the account exists without its profile")
		}
		db.Model(&session{}).Count(&n)
		if n != 0 {
			t.Fatal("a session exists without its account")
		}
		r = e.client().registerWith("dan@example.com", "dan", map[string]any{"display_name": "Dan"})
		wantStatus(t, r, 200)
		if r.str("display_name") != "Dan" {
			t.Fatalf("body %s", r.raw)
		}
	})
}

func TestUserFieldsPatchMe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withProfile)
		c := e.client()
		wantStatus(t, c.registerWith("eve@example.com", "eve", map[string]any{"display_name": "Eve", "referrer": "friend", "age": 30}), 200)
		id := e.account("eve").ID

		r := c.do("PATCH", testBase+"/me", map[string]any{
			"display_name": "Eve Adams\t", "locale": "fr", "newsletter": true, "tags": []string{"x"},
			// Unchanged non-editable values and privileged or unknown members pass.
			"referrer": "friend", "plan": "", "email": "mallory@example.com", "permissions": []string{"admin"},
			"confirmed": true, "username": "mallory", "whatever": 1,
		})
		wantStatus(t, r, 200)
		if r.str("display_name") != "Eve Adams" || r.str("locale") != "fr" || r.json["newsletter"] != true ||
			r.json["age"] != float64(30) || r.str("email") != "eve@example.com" || r.str("username") != "eve" {
			t.Fatalf("PATCH /me %s", r.raw)
		}
		if a := e.account("eve"); a.Email != "eve@example.com" || a.Confirmed || len(a.Permissions) != 0 {
			t.Fatalf("account %+v", a)
		}
		// The answer is what GET /me now says.
		me := c.do("GET", testBase+"/me", nil)
		if !reflect.DeepEqual(me.json, r.json) {
			t.Fatalf("GET /me %s after PATCH %s", me.raw, r.raw)
		}
		// Sending back what GET gave is fine.
		wantStatus(t, c.do("PATCH", testBase+"/me", me.json), 200)

		for _, tc := range []struct {
			body   any
			code   string
			detail string
		}{
			{map[string]any{"referrer": "other"}, "invalid_profile", "referrer: cannot be changed"},
			{map[string]any{"plan": "gold"}, "invalid_profile", "plan: cannot be changed"},
			{map[string]any{"plan": 1}, "invalid_profile", "plan: cannot be changed"},
			{map[string]any{"locale": "xx_YY"}, "invalid_profile", "locale: must be a language tag such as en or pt-BR"},
			{map[string]any{"display_name": "Eve", "age": "old"}, "invalid_profile", "age: must be an integer in range"},
			{`[]`, "malformed_body", ""},
			{`"x"`, "malformed_body", ""},
			{`null`, "malformed_body", ""},
		} {
			wantError(t, c.do("PATCH", testBase+"/me", tc.body), 400, tc.code, tc.detail)
		}
		p, err := LoadProfile[appProfile](context.Background(), e.auth.Service(), id)
		if err != nil {
			t.Fatal(err)
		}
		if want := (appProfile{DisplayName: "Eve Adams", Locale: "fr", Newsletter: true, Age: 30, Tags: []string{"x"}, Referrer: "friend"}); !reflect.DeepEqual(p, want) {
			t.Fatalf("profile %+v after refused patches", p)
		}
		// An empty object changes nothing; null clears an editable field.
		wantStatus(t, c.do("PATCH", testBase+"/me", map[string]any{}), 200)
		r = c.do("PATCH", testBase+"/me", map[string]any{"tags": nil})
		wantStatus(t, r, 200)
		if r.json["tags"] != nil {
			t.Fatalf("tags %v", r.json["tags"])
		}

		// Only the owner, with an access token.
		anon := e.client()
		wantError(t, anon.do("GET", testBase+"/me", nil), 401, "unauthorized", "")
		wantError(t, anon.do("PATCH", testBase+"/me", map[string]any{"display_name": "x"}), 401, "unauthorized", "")
		// A deleted account.
		db.Where("id = ?", id).Delete(&Account{})
		wantError(t, c.do("GET", testBase+"/me", nil), 404, "user_not_found", "")
		wantError(t, c.do("PATCH", testBase+"/me", map[string]any{"display_name": "x"}), 404, "user_not_found", "")
	})
}

// Concurrent PATCHes of one user's fields all take effect.
func TestUserFieldsPatchConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withProfile)
		c := e.client()
		wantStatus(t, c.registerWith("oli@example.com", "oli", nil), 200)
		bodies := []map[string]any{
			{"display_name": "Oli"}, {"locale": "en"}, {"newsletter": true}, {"age": 7}, {"tags": []string{"t"}},
		}
		status := make([]int, len(bodies))
		var wg sync.WaitGroup
		for i, b := range bodies {
			wg.Go(func() { status[i] = c.do("PATCH", testBase+"/me", b).status })
		}
		wg.Wait()
		for i, st := range status {
			if st != 200 {
				t.Fatalf("PATCH %v: %d", bodies[i], st)
			}
		}
		p, err := LoadProfile[appProfile](context.Background(), e.auth.Service(), e.account("oli").ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := (appProfile{DisplayName: "Oli", Locale: "en", Newsletter: true, Age: 7, Tags: []string{"t"}}); !reflect.DeepEqual(p, want) {
			t.Fatalf("profile %+v, want %+v", p, want)
		}
	})
}

// Without Options.UserFields, GET and PATCH /me answer the public user.
func TestUserFieldsNone(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"))
	c := e.client()
	r := c.registerWith("fay@example.com", "fay", map[string]any{"display_name": "Fay"})
	wantStatus(t, r, 200)
	if len(r.json) != 5 {
		t.Fatalf("public user %s", r.raw)
	}
	me := c.do("GET", testBase+"/me", nil)
	wantStatus(t, me, 200)
	if !reflect.DeepEqual(me.json, r.json) {
		t.Fatalf("GET /me %s", me.raw)
	}
	wantStatus(t, c.do("PATCH", testBase+"/me", map[string]any{"display_name": "x"}), 200)
	wantError(t, c.do("PATCH", testBase+"/me", `[1]`), 400, "malformed_body", "")
	wantError(t, e.admin().do("GET", testBase+"?field.display_name=Fay", nil), 400, "invalid_input", "")
	if _, err := LoadProfile[appProfile](context.Background(), e.auth.Service(), 1); err == nil {
		t.Fatal("LoadProfile without UserFields")
	}
	_, _, err := e.auth.Service().SignUp(context.Background(), RegisterInput{Email: "x@example.com", Username: "xx",
		Password1: "correct horse battery", Password2: "correct horse battery", Profile: appProfile{}}, Client{IP: "192.0.2.9"})
	if err == nil {
		t.Fatal("SignUp took a Profile without UserFields")
	}
}

func TestUserFieldsSearch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withProfile)
		admin := e.admin()
		for _, u := range []struct {
			name, display, locale string
			news                  bool
		}{
			{"gil", "Gil", "en", true}, {"hal", "Hal", "en", false}, {"ida", "Gil", "de", true}, {"jon", "gil", "en", true},
		} {
			wantStatus(t, e.client().registerWith(u.name+"@example.com", u.name,
				map[string]any{"display_name": u.display, "locale": u.locale, "newsletter": u.news, "age": 20}), 200)
		}
		names := func(query string) []string {
			t.Helper()
			r := admin.do("GET", testBase+query, nil)
			wantStatus(t, r, 200)
			var out []string
			for _, it := range r.json["items"].([]any) {
				m := it.(map[string]any)
				out = append(out, m["username"].(string))
				if m["display_name"] == nil || m["age"] != float64(20) && m["username"] != "root" {
					t.Fatalf("item without its fields: %v", m)
				}
			}
			return out
		}
		for q, want := range map[string][]string{
			"?field.display_name=Gil":                                    {"gil", "ida"}, // exact, case-sensitive
			"?field.display_name=Gil&field.locale=en":                    {"gil"},
			"?field.newsletter=true":                                     {"gil", "ida", "jon"},
			"?field.newsletter=false":                                    {"hal"},
			"?field.newsletter=true&username=o":                          {"jon"},
			"?field.display_name=G%25":                                   nil, // text, not a pattern
			"?field.locale=en&field.newsletter=true&field.display_name=": nil,
		} {
			if got := names(q); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %v, want %v", q, got, want)
			}
		}
		for _, q := range []string{"?field.age=20", "?field.referrer=x", "?field.nope=1", "?field.newsletter=maybe",
			"?field.display_name=" + strings.Repeat("x", maxFieldValueLen+1)} {
			wantError(t, admin.do("GET", testBase+q, nil), 400, "invalid_input", "")
		}
		// The admin profile carries every field.
		r := admin.do("GET", testBase+"/"+strconv.FormatInt(e.account("ida").ID, 10), nil)
		wantStatus(t, r, 200)
		if r.str("display_name") != "Gil" || r.str("locale") != "de" || r.json["newsletter"] != true || r.str("plan") != "" {
			t.Fatalf("admin profile %s", r.raw)
		}
	})
}

// The store's deleteFields, for delete account, and the foreign key that
// deletes the rows with the users row.
func TestUserFieldsDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withProfile)
		wantStatus(t, e.client().registerWith("kim@example.com", "kim", map[string]any{"display_name": "Kim"}), 200)
		wantStatus(t, e.client().registerWith("lee@example.com", "lee", map[string]any{"display_name": "Lee"}), 200)
		kim, lee := e.account("kim").ID, e.account("lee").ID
		count := func(id int64) int64 {
			var n int64
			if err := db.Model(&userField{}).Where("user_id = ?", id).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		fields := int64(len(e.auth.o.UserFields.s.fields))
		if count(kim) != fields || count(lee) != fields {
			t.Fatalf("rows %d and %d, want %d each", count(kim), count(lee), fields)
		}
		ctx := context.Background()
		err := e.auth.svc.st.atomic(ctx, func(ctx context.Context, tx *store) error {
			n, err := tx.deleteFields(ctx, kim)
			if err == nil && n != fields {
				t.Errorf("deleteFields deleted %d rows, want %d", n, fields)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if count(kim) != 0 || count(lee) != fields {
			t.Fatalf("after deleteFields: %d and %d rows", count(kim), count(lee))
		}
		p, err := LoadProfile[appProfile](ctx, e.auth.Service(), kim)
		if err != nil || !reflect.DeepEqual(p, appProfile{}) {
			t.Fatalf("kim's profile %+v, %v", p, err)
		}
		// Deleting the account deletes its fields.
		if err := db.Where("id = ?", lee).Delete(&Account{}).Error; err != nil {
			t.Fatal(err)
		}
		if count(lee) != 0 {
			t.Fatal("the fields outlived their account")
		}
		if _, err := LoadProfile[appProfile](ctx, e.auth.Service(), lee); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("LoadProfile of a deleted account: %v", err)
		}
	})
}

// The Go API: SignUp with a profile, CurrentProfile, SaveProfile (which sets
// readonly fields), and a type other than the declared one.
func TestUserFieldsGoAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withProfile)
		ctx := context.Background()
		svc := e.auth.Service()
		acct, toks, err := svc.SignUp(ctx, RegisterInput{Email: "mia@example.com", Username: "mia",
			Password1: "correct horse battery", Password2: "correct horse battery",
			Profile: &appProfile{DisplayName: "Mia", Plan: "trial"}}, Client{IP: "192.0.2.7"})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = svc.SignUp(ctx, RegisterInput{Email: "max@example.com", Username: "max",
			Password1: "correct horse battery", Password2: "correct horse battery", Profile: "a string"}, Client{IP: "192.0.2.7"})
		if err == nil {
			t.Fatal("SignUp took a profile of another type")
		}

		// CurrentProfile in an app handler, one query, nothing without a call.
		r := gin.New()
		r.GET("/greet", e.auth.RequireUser(), func(c *gin.Context) {
			p, err := CurrentProfile[appProfile](c)
			if err != nil {
				abortError(c, nil, err)
				return
			}
			c.String(200, "hello %s on the %s plan", p.DisplayName, p.Plan)
		})
		r.GET("/wrong", e.auth.RequireUser(), func(c *gin.Context) {
			_, err := CurrentProfile[struct{ X string }](c)
			c.String(200, "%v", err)
		})
		r.GET("/anon", e.auth.OptionalUser(), func(c *gin.Context) {
			_, err := CurrentProfile[appProfile](c)
			c.String(200, "%v", err)
		})
		get := func(path, token string) string {
			req := httptest.NewRequest("GET", path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			return rec.Body.String()
		}
		if got := get("/greet", toks.Access); got != "hello Mia on the trial plan" {
			t.Fatalf("/greet: %q", got)
		}
		if got := get("/wrong", toks.Access); !strings.Contains(got, "declares authgin.appProfile") {
			t.Fatalf("/wrong: %q", got)
		}
		if got := get("/anon", ""); got != ErrUnauthorized.Error() {
			t.Fatalf("/anon: %q", got)
		}

		p, err := LoadProfile[appProfile](ctx, svc, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		p.Plan, p.Age = "gold", 33
		if err := SaveProfile(ctx, svc, acct.ID, p); err != nil {
			t.Fatal(err)
		}
		if got := get("/greet", toks.Access); got != "hello Mia on the gold plan" {
			t.Fatalf("/greet after SaveProfile: %q", got)
		}
		p.Locale = "not a locale"
		if err := SaveProfile(ctx, svc, acct.ID, p); !errors.Is(err, ErrInvalidProfile) {
			t.Fatalf("SaveProfile of an invalid profile: %v", err)
		}
		if err := SaveProfile(ctx, svc, 1<<40, appProfile{}); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("SaveProfile of no account: %v", err)
		}
		if err := SaveProfile(ctx, svc, acct.ID, struct{ X string }{}); err == nil {
			t.Fatal("SaveProfile of another type")
		}
	})
}

// Register refuses a profile type that could set privileged values or
// that authgin cannot store.
func TestUserFieldsRefusedTypes(t *testing.T) {
	db := openTestDB(t, "sqlite")
	type embedded struct{ A string }
	for _, tc := range []struct {
		fields UserFields
		want   string
	}{
		{UserFieldsOf[string](), "not a struct"},
		{UserFieldsOf[*appProfile](), "not a struct"},
		{UserFieldsOf[struct{}](), "no exported fields"},
		{UserFieldsOf[struct {
			Email string `json:"email"`
		}](), `"email" is authgin's own`},
		{UserFieldsOf[struct{ IsAdmin bool }](), `"IsAdmin" is authgin's own`},
		{UserFieldsOf[struct {
			P string `json:"password_hash"`
		}](), `"password_hash" is authgin's own`},
		{UserFieldsOf[struct {
			P []string `json:"Permissions"`
		}](), `"Permissions" is authgin's own`},
		{UserFieldsOf[struct {
			C bool `json:"confirmed,omitempty"`
		}](), `"confirmed" is authgin's own`},
		{UserFieldsOf[struct{ Banned, ID bool }](), `"Banned" is authgin's own`},
		{UserFieldsOf[struct {
			A string `json:"display_name"`
			B string `json:"displayName"`
		}](), "too close"},
		{UserFieldsOf[struct{ embedded }](), "embedded"},
		{UserFieldsOf[struct {
			A string `json:"a b"`
		}](), "must be a letter"},
		{UserFieldsOf[struct {
			A string `authgin:"editable,readonly"`
		}](), "both editable and readonly"},
		{UserFieldsOf[struct {
			A []string `authgin:"searchable"`
		}](), "only string, bool and integer"},
		{UserFieldsOf[struct {
			A string `authgin:"secret"`
		}](), `unknown authgin tag option "secret"`},
		{UserFieldsOf[struct{ A chan int }](), "cannot be carried in JSON"},
		{UserFieldsOf[struct{ A any }](), "cannot be carried in JSON"},
	} {
		_, err := Register(gin.New().Group("/u"), Options{DB: db, Secret: testSecret, BaseURL: "https://app.example",
			PruneInterval: -1, UserFields: tc.fields})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.fields.s, err, tc.want)
		}
	}
}

// RequireUser costs the same with user fields declared: nothing is read
// until a handler asks.
func TestUserFieldsMiddlewareCost(t *testing.T) {
	db := openTestDB(t, "sqlite")
	allocs := func(o func(*Options)) float64 {
		// No mail and no background pass allocates while it measures.
		e := newEnv(t, db, o, func(o *Options) { o.PruneInterval, o.BlackoutRefresh = -1, time.Hour })
		ctx := context.Background()
		if _, _, err := e.auth.Service().EnsureAdmin(ctx, "nia@example.com", "nia", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		_, toks, err := e.auth.Service().Login(ctx, LoginInput{Login: "nia", Password: "correct horse battery"}, Client{IP: "192.0.2.8"})
		if err != nil {
			t.Fatal(err)
		}
		// The middleware alone, on one context: gin's pool of contexts
		// would add noise (the race detector drops pooled items).
		mw := e.auth.RequireUser()
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("GET", "/x", nil)
		c.Request.Header.Set("Authorization", "Bearer "+toks.Access)
		mw(c) // warms the token cache
		return testing.AllocsPerRun(200, func() {
			c.Keys = nil // as for a new request
			mw(c)
			if c.IsAborted() {
				t.Fatal("refused")
			}
		})
	}
	without, with := allocs(func(*Options) {}), allocs(withProfile)
	if with > without {
		t.Fatalf("RequireUser allocates %v times with user fields, %v without", with, without)
	}
}
