package authgin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestOptionsValidation(t *testing.T) {
	db := openTestDB(t, "sqlite")
	good := func() Options { return Options{DB: db, Secret: testSecret, BaseURL: "https://app.example"} }
	for _, tc := range []struct {
		field string
		edit  func(*Options)
	}{
		{"Options.DB", func(o *Options) { o.DB = nil }},
		{"Options.Secret", func(o *Options) { o.Secret = []byte("short") }},
		{"Options.BaseURL", func(o *Options) { o.BaseURL = "" }},
		{"Options.BaseURL", func(o *Options) { o.BaseURL = "app.example/path" }},
		{"Options.BaseURL", func(o *Options) { o.BaseURL = "ftp://app.example" }},
		{"Options.BaseURL", func(o *Options) { o.BaseURL = "https://" }},
		{"Options.AccessTTL", func(o *Options) { o.AccessTTL = -time.Second }},
		{"Options.RefreshTTL", func(o *Options) { o.RefreshTTL = -time.Second }},
		{"Options.ConfirmTTL", func(o *Options) { o.ConfirmTTL = -time.Second }},
		{"Options.MinPasswordLength", func(o *Options) { o.MinPasswordLength = 20; o.MaxPasswordLength = 10 }},
		{"Options.HashConcurrency", func(o *Options) { o.HashConcurrency = -1 }},
		{"Options.EventRetention", func(o *Options) { o.EventRetention = -time.Hour }},
		{"Options.EventRetention", func(o *Options) { o.EventRetention = time.Minute }}, // under AccessTTL
	} {
		o := good()
		tc.edit(&o)
		_, err := Register(gin.New().Group("/api/users"), o)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v does not name the field", tc.field, err)
		}
	}
	if _, err := Register(nil, good()); err == nil {
		t.Error("nil group accepted")
	}
	a, err := Register(gin.New().Group("/api/users"), good())
	if err != nil {
		t.Fatal(err)
	}
	if a.o.AccessTTL != 15*time.Minute || a.o.RefreshTTL != 30*24*time.Hour || a.o.ConfirmTTL != 48*time.Hour ||
		a.o.AccessCookie != "access_token" || a.o.RefreshCookie != "refresh_token" || a.o.MinPasswordLength != 8 ||
		a.o.MaxPasswordLength != 128 || a.o.Limits.LoginIP.Max != 30 || a.o.PruneInterval != time.Hour || a.o.EventRetention != 0 {
		t.Fatalf("defaults not applied: %+v", a.o)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	// Register twice on one database: migration is idempotent. A negative
	// PruneInterval (no background pruning) stays as it is.
	o := good()
	o.PruneInterval = -1
	b, err := Register(gin.New().Group("/api/users"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	if b.o.PruneInterval != -1 {
		t.Errorf("PruneInterval = %v, want -1", b.o.PruneInterval)
	}
}
