package authgintest_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/authgin/authgin"
	"github.com/authgin/authgin/authgintest"
	"github.com/gin-gonic/gin"
)

func TestLoginAsPermissions(t *testing.T) {
	env := authgintest.New(t)
	env.Engine.GET("/api/reports", env.Auth.RequirePermission("reports"), func(c *gin.Context) {
		u, _ := authgin.CurrentUser(c)
		c.String(http.StatusOK, u.Username)
	})
	get := func(cred *authgintest.Credentials, cookies bool) int {
		req := httptest.NewRequest(http.MethodGet, "/api/reports", nil)
		if cred != nil && cookies {
			for _, c := range cred.Cookies() {
				req.AddCookie(c)
			}
		} else if cred != nil {
			cred.Apply(req)
		}
		rec := httptest.NewRecorder()
		env.Engine.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := get(nil, false); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d, want 401", code)
	}
	plain := env.LoginAs(t, "ann")
	if code := get(&plain, false); code != http.StatusForbidden {
		t.Errorf("without the permission: %d, want 403", code)
	}
	reporter := env.LoginAs(t, "ann", "reports")
	for _, cookies := range []bool{false, true} {
		if code := get(&reporter, cookies); code != http.StatusOK {
			t.Errorf("with the permission (cookies %v): %d, want 200", cookies, code)
		}
	}
	if !strings.HasPrefix(reporter.Bearer(), "Bearer ey") {
		t.Errorf("Bearer() = %q", reporter.Bearer())
	}
}

func TestMailboxAndClock(t *testing.T) {
	env := authgintest.New(t)
	body := `{"email":"bob@example.com","username":"bob","password1":"correct horse battery","password2":"correct horse battery"}`
	req := httptest.NewRequest(http.MethodPost, authgintest.Group+"/register", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	env.Engine.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	token := env.Mail.WaitToken(t, "confirm", "bob@example.com")
	if env.Mail.LastToken("reset", "bob@example.com") != "" || env.Mail.LastToken("confirm", "other@example.com") != "" {
		t.Error("LastToken matched the wrong kind or address")
	}
	env.Clock.Advance(49 * 60 * 60 * 1e9) // past the 48 h confirmation lifetime
	req = httptest.NewRequest(http.MethodPost, authgintest.Group+"/confirm/"+token, nil)
	rec = httptest.NewRecorder()
	env.Engine.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("expired confirmation: %d, want 403 (the Clock drives the plugin)", rec.Code)
	}
}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}
