package authgin_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authgin/authgin"
)

// Mount the routes, protect the app's API, and call it with the cookie
// that register sets.
func ExampleRegister() {
	dir, _ := os.MkdirTemp("", "authgin-example")
	defer os.RemoveAll(dir)
	db, err := authgin.OpenSQLite(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}

	r := gin.New()
	r.SetTrustedProxies(nil)
	auth, err := authgin.Register(r.Group("/api/users"), authgin.Options{
		DB:      db,
		Secret:  []byte("an example key of at least 32 bytes"),
		BaseURL: "https://app.example",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close(context.Background()) // delivers queued mails, stops the blackout reader
	api := r.Group("/api", auth.RequireUser())
	api.GET("/me", func(c *gin.Context) {
		u, _ := authgin.CurrentUser(c)
		c.String(http.StatusOK, "hello %s", u.Username)
	})

	body := `{"email":"ann@example.com","username":"ann","password1":"correct horse battery","password2":"correct horse battery"}`
	req := httptest.NewRequest(http.MethodPost, "/api/users/register", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	fmt.Println("register:", w.Code)

	me := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	for _, c := range w.Result().Cookies() {
		me.AddCookie(c)
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, me)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// register: 200
	// 200 hello ann
}
