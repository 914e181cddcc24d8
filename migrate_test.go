package authgin

import (
	"context"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// AutoMigrate is idempotent: registering twice on one database is fine, and
// so is registering from several instances (separate pools) at the same
// moment on an empty database.
func TestMigrationIdempotent(t *testing.T) {
	forEachBackendDatabase(t, func(t *testing.T, open func(t *testing.T) *gorm.DB) {
		db := open(t)
		e := newEnv(t, db)
		e.client().register("uma@example.com", "uma", "correct horse battery")
		again := newEnv(t, db)
		wantStatus(t, again.client().post("/login", map[string]string{"login": "uma", "password": "correct horse battery"}), 200)
	})
}

func TestMigrationConcurrent(t *testing.T) {
	forEachBackendDatabase(t, func(t *testing.T, open func(t *testing.T) *gorm.DB) {
		const instances = 4
		pools := make([]*gorm.DB, instances)
		for i := range pools {
			pools[i] = open(t)
		}
		errs := make([]error, instances)
		auths := make([]*Auth, instances)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range instances {
			wg.Go(func() {
				<-start
				auths[i], errs[i] = Register(gin.New().Group("/u"), Options{DB: pools[i], Secret: testSecret,
					BaseURL: "https://app.example", Argon2: cheapArgon2})
			})
		}
		close(start)
		wg.Wait()
		for _, a := range auths {
			if a != nil {
				defer a.Close(context.Background())
			}
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		}
		e := newEnv(t, pools[0], func(o *Options) { o.SkipMigration = true })
		e.client().register("vic@example.com", "vic", "correct horse battery")
	})
}

// SkipMigration leaves the database alone.
func TestSkipMigration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		a, err := Register(gin.New().Group("/u"), Options{DB: db, Secret: testSecret,
			BaseURL: "https://app.example", Argon2: cheapArgon2, SkipMigration: true})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close(context.Background())
		if db.Migrator().HasTable(&Account{}) || db.Migrator().HasTable(&throttleRow{}) {
			t.Fatal("SkipMigration created tables")
		}
	})
}
