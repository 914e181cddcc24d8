package main

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"
)

// The example's front end: static HTML, CSS and JavaScript embedded in the
// binary, no build step. It talks to the API on the same origin with the
// plugin's cookies.
//
//	/                 register, log in, who am I, sessions, password, email, delete
//	/confirm          the target of confirmation and email change links
//	/reset_password   the target of password reset links
//
// The pages run no inline script (the Content-Security-Policy forbids it)
// and send no Referer, so the one-time token in a link's query never
// leaves the page that uses it.

//go:embed web
var frontEnd embed.FS

// pageHeaders are sent with every page and asset.
func pageHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// serveFrontEnd mounts the pages and their assets on r.
func serveFrontEnd(r *gin.Engine) {
	page := func(file string) gin.HandlerFunc {
		return func(c *gin.Context) {
			pageHeaders(c)
			b, err := frontEnd.ReadFile("web/" + file)
			if err != nil {
				c.Status(http.StatusNotFound)
				return
			}
			// Pages are tiny; never cached, so a link's page is always current.
			c.Header("Cache-Control", "no-store")
			c.Data(http.StatusOK, "text/html; charset=utf-8", b)
		}
	}
	r.GET("/", page("index.html"))
	r.GET("/confirm", page("confirm.html"))
	r.GET("/reset_password", page("reset.html"))
	static, _ := fs.Sub(frontEnd, "web/static") // a constant path inside the embedded tree
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	r.GET("/static/*file", func(c *gin.Context) {
		pageHeaders(c)
		files.ServeHTTP(c.Writer, c.Request)
	})
}
