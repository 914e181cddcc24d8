package authgin

import (
	"net/http"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestLoginOverloadIsNotAFailure: logins turned away with 503 because every
// hashing slot was busy never checked the password, so they must not count
// toward the account's failed-login backoff: once the load has passed, the
// right password logs in at once (found by bench's TestLoginLoad, where
// overloaded accounts drifted into 429s).
func TestLoginOverloadIsNotAFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) {
			o.HashConcurrency = 1
			o.HashQueueTimeout = time.Millisecond
			o.Limits.LoginIP = Limit{Max: -1}
		})
		e.client().register("busy@example.com", "busyuser", "correct horse battery")
		login := map[string]string{"login": "busyuser", "password": "correct horse battery"}
		sem := e.auth.svc.hasher.sem
		sem <- struct{}{} // every hashing slot busy
		for range 8 {
			wantStatus(t, e.client().post("/login", login), http.StatusServiceUnavailable)
		}
		<-sem
		wantStatus(t, e.client().post("/login", login), http.StatusOK)
	})
}
