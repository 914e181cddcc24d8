package authgin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/authgin/authgin"
	"github.com/authgin/authgin/authgintest"
)

// Profile is an app's own user fields.
type Profile struct {
	DisplayName string `json:"display_name" authgin:"editable,public,searchable"`
	Locale      string `json:"locale" authgin:"editable"`
}

// Validate checks (and may normalise) the profile before every write.
func (p *Profile) Validate() error {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	if p.Locale != "" && p.Locale != "en" && p.Locale != "fr" {
		return &authgin.FieldError{Field: "locale", Reason: "must be en or fr"}
	}
	return nil
}

// Declare the app's own user fields: register accepts them, PATCH /me
// changes the editable ones, and the app's handlers read them.
func ExampleUserFieldsOf() {
	env := authgintest.New(&testing.T{}, func(o *authgin.Options) {
		o.UserFields = authgin.UserFieldsOf[Profile]()
	})
	env.Engine.GET("/api/greeting", env.Auth.RequireUser(), func(c *gin.Context) {
		p, err := authgin.CurrentProfile[Profile](c)
		if err != nil {
			c.Status(http.StatusInternalServerError)
			return
		}
		c.String(http.StatusOK, "hello %s (%s)", p.DisplayName, p.Locale)
	})
	send := func(method, path, body string, cookies []*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		env.Engine.ServeHTTP(w, req)
		return w
	}

	w := send("POST", "/api/users/register", `{"email":"ann@example.com","username":"ann",
		"password1":"correct horse battery","password2":"correct horse battery",
		"display_name":" Ann ","locale":"en","permissions":["admin"]}`, nil)
	fmt.Println(w.Code, w.Body.String())
	cookies := w.Result().Cookies()

	w = send("PATCH", "/api/users/me", `{"locale":"de"}`, cookies)
	fmt.Println(w.Code, w.Body.String())
	w = send("PATCH", "/api/users/me", `{"locale":"fr"}`, cookies)
	fmt.Println(w.Code, w.Body.String())
	fmt.Println(send("GET", "/api/greeting", "", cookies).Body.String())
	// Output:
	// 200 {"id":1,"username":"ann","email":"ann@example.com","confirmed":false,"permissions":[],"display_name":"Ann"}
	// 400 {"code":"invalid_profile","detail":"locale: must be en or fr"}
	// 200 {"id":1,"username":"ann","email":"ann@example.com","confirmed":false,"permissions":[],"display_name":"Ann","locale":"fr"}
	// hello Ann (fr)
}
