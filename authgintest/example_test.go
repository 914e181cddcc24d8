package authgintest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authgin/authgin"
	"github.com/authgin/authgin/authgintest"
	"github.com/gin-gonic/gin"
)

// An app tests its own route behind RequirePermission with a user that
// has the permission.
func ExampleEnv_LoginAs() {
	t := &testing.T{} // in a test, the *testing.T it was given
	env := authgintest.New(t)
	env.Engine.GET("/api/reports", env.Auth.RequirePermission("reports"), func(c *gin.Context) {
		u, _ := authgin.CurrentUser(c)
		c.String(http.StatusOK, "reports for "+u.Username)
	})

	req := httptest.NewRequest(http.MethodGet, "/api/reports", nil)
	env.LoginAs(t, "ann", "reports").Apply(req)
	rec := httptest.NewRecorder()
	env.Engine.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())
	// Output: 200 reports for ann
}
