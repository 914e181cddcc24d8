package authgin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// Fuzz targets for what clients send: JSON bodies and path ids. Each
// drives the real gin handlers against a real SQLite database and requires
// a 4xx/2xx answer in the {"detail","code"} shape, never a 500 or a panic
// (503 only for overload). Seeds are in testdata/fuzz; CI runs each target
// for a few seconds (.ci/run).

// discardMailer drops mails (a fuzzer sends many).
type discardMailer struct{}

func (discardMailer) Send(context.Context, Message) error { return nil }

// fuzzPlugin mounts a plugin on a fresh SQLite file with every limit off.
func fuzzPlugin(f *testing.F) (*gin.Engine, *Auth) {
	f.Helper()
	db, err := OpenSQLite(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { closeDB(db) })
	off := Limit{Max: -1}
	r := gin.New()
	r.SetTrustedProxies(nil)
	auth, err := Register(r.Group(testBase), Options{
		DB: db, Secret: testSecret, BaseURL: "https://app.example", Argon2: cheapArgon2,
		Mailer: discardMailer{}, Logger: slog.New(slog.DiscardHandler),
		Limits: Limits{LoginIP: off, LoginAccount: off, RegisterIP: off, RefreshSession: off, TokenGuessIP: off,
			ConfirmMailUser: off, ConfirmMailIP: off, ResetMailUser: off, ResetMailIP: off},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { auth.Close(context.Background()) })
	return r, auth
}

// serve runs one request through the engine and checks the answer's shape.
func serve(t *testing.T, r *gin.Engine, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, w.Code, w.Body.Bytes())
	}
	if w.Code >= 400 {
		var e map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e["code"] == nil || e["detail"] == nil || len(e) != 2 {
			t.Fatalf("%s %s: error body %q", req.Method, req.URL, w.Body.Bytes())
		}
		if w.Code == http.StatusServiceUnavailable && e["code"] != ErrOverloaded.Code && e["code"] != ErrUnavailable.Code {
			t.Fatalf("%s %s: 503 %q", req.Method, req.URL, w.Body.Bytes())
		}
	}
	return w
}

// bodyRoutes are the routes that read a JSON body without authentication.
var bodyRoutes = []string{"/register", "/login", "/forgot_password", "/confirm", "/password"}

func FuzzBindJSON(f *testing.F) {
	for i, body := range []string{
		`{"email":"a@example.com","username":"alice","password1":"correct horse battery","password2":"correct horse battery"}`,
		`{"login":"alice","password":"correct horse battery"}`,
		`{"email":"a@example.com"}`,
		`{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"token":"x","password1":"correct horse battery","password2":"correct horse battery"}`,
		`{}`, `[]`, `null`, `"x"`, `{"email":5}`, `{"email":"a@b.c"} {}`, `{"a":{"b":[1,2,{"c":null}]}}`,
		"{\"username\":\"\\u0000\"}", "{\"login\":\"\xff\"}", `{"email":"ａｌｉｃｅ@example.com","username":"ａｌｉｃｅ"}`,
	} {
		f.Add(uint8(i), []byte(body), "application/json")
	}
	f.Add(uint8(0), []byte("email=a"), "application/x-www-form-urlencoded")
	f.Add(uint8(1), []byte(`{"login":"a"}`), "application/json; charset=utf-8")
	f.Add(uint8(2), []byte(`{"email":"a@b.c"}`), "")
	r, _ := fuzzPlugin(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte, contentType string) {
		path := testBase + bodyRoutes[int(route)%len(bodyRoutes)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		serve(t, r, req)
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "42", "007", "0", "-1", "+1", "9223372036854775807", "9223372036854775808",
		"99999999999999999999", "1e3", "0x10", " 1", "1 ", "1 OR 1=1", "١٢", "", "%00", "1/2", "..", "a"} {
		f.Add(s)
	}
	r, auth := fuzzPlugin(f)
	// An admin, so that requests reach the id parsing of every admin route.
	ctx := context.Background()
	svc := auth.Service()
	if _, _, err := svc.SignUp(ctx, RegisterInput{Email: "fuzz@example.com", Username: "fuzzadmin",
		Password1: "correct horse battery", Password2: "correct horse battery"}, Client{IP: "192.0.2.1"}); err != nil {
		f.Fatal(err)
	}
	if err := svc.st.db.Model(&Account{}).Where("username_key = ?", "fuzzadmin").Update("permissions", Permissions{"admin"}).Error; err != nil {
		f.Fatal(err)
	}
	_, toks, err := svc.Login(ctx, LoginInput{Login: "fuzzadmin", Password: "correct horse battery"}, Client{IP: "192.0.2.1"})
	if err != nil {
		f.Fatal(err)
	}
	bearer := "Bearer " + toks.Access
	// Routes of their own that an id's place may spell, such as GET /me.
	static := map[string]bool{}
	for _, rt := range r.Routes() {
		if !strings.Contains(rt.Path, ":") {
			static[rt.Method+" "+rt.Path] = true
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseID(s)
		if err == nil {
			if id <= 0 || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
				t.Fatalf("parseID(%q) = %d", s, id)
			}
			if back, _ := strconv.ParseInt(s, 10, 64); back != id {
				t.Fatalf("parseID(%q) = %d, want %d", s, id, back)
			}
		} else if !errors.Is(err, ErrInvalidID) {
			t.Fatalf("parseID(%q): %v", s, err)
		}
		if s == "" || s == "." || s == ".." || strings.Contains(s, "/") {
			return // another route, or a path gin cleans and redirects
		}
		seg := url.PathEscape(s)
		for _, rt := range []struct{ method, path, body string }{
			{http.MethodGet, "/" + seg, ""},
			{http.MethodPost, "/" + seg + "/change_username", `{"username":"fuzzed"}`},
			{http.MethodPost, "/" + seg + "/kick", ""},
			{http.MethodPost, "/" + seg + "/permissions", `{"action":"ADD","payload":["x"]}`},
			{http.MethodDelete, "/sessions/" + seg, ""},
		} {
			if static[rt.method+" "+testBase+rt.path] {
				continue
			}
			req := httptest.NewRequest(rt.method, "http://example.com"+testBase+rt.path, strings.NewReader(rt.body))
			req.Header.Set("Authorization", bearer)
			if rt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			w := serve(t, r, req)
			if err != nil && w.Code == http.StatusOK {
				t.Fatalf("%s %s: invalid id %q answered 200", rt.method, rt.path, s)
			}
		}
	})
}
