package authgin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"gorm.io/gorm"
)

// concurrently sends n POSTs at once (released together) and returns each
// status and decoded body; body(i) gives the i-th request's JSON body.
// Safe to call from the test goroutine only; the workers never call t.
func concurrently(t *testing.T, e *testEnv, n int, path string, body func(i int) any) ([]int, []map[string]any) {
	t.Helper()
	statuses := make([]int, n)
	bodies := make([]map[string]any, n)
	errs := make([]error, n)
	clients := make([]*http.Client, n)
	for i := range clients {
		clients[i] = e.client().hc
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var rd io.Reader
			if b := body(i); b != nil {
				j, _ := json.Marshal(b)
				rd = bytes.NewReader(j)
			}
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+testBase+path, rd)
			if err != nil {
				errs[i] = err
				return
			}
			if rd != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			<-start
			resp, err := clients[i].Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.StatusCode
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &bodies[i]); err != nil {
				errs[i] = fmt.Errorf("status %d, body %q: %v", resp.StatusCode, raw, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return statuses, bodies
}

// wantOneWinner checks that exactly one request got 200 and every other
// one the error (status, code, detail).
func wantOneWinner(t *testing.T, statuses []int, bodies []map[string]any, status int, code, detail string) {
	t.Helper()
	wins := 0
	for i, s := range statuses {
		if s == 200 {
			wins++
			continue
		}
		if s != status || bodies[i]["code"] != code || (detail != "" && bodies[i]["detail"] != detail) {
			t.Errorf("request %d: %d %v, want 200 or %d %s %q", i, s, bodies[i], status, code, detail)
		}
	}
	if wins != 1 {
		t.Fatalf("%d requests succeeded, want exactly 1 (statuses %v)", wins, statuses)
	}
}

const racers = 20

func TestConcurrentRegistrationsSameUsername(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		st, bodies := concurrently(t, e, racers, "/register", func(i int) any {
			return map[string]string{
				"email": fmt.Sprintf("racer%d@example.com", i), "username": "Racer",
				"password1": "correct horse battery", "password2": "correct horse battery",
			}
		})
		wantOneWinner(t, st, bodies, 400, "username_exists", "Username already exists")
		var n int64
		db.Model(&Account{}).Where("username_key = ?", "racer").Count(&n)
		if n != 1 {
			t.Fatalf("%d rows for the username, want 1", n)
		}
	})
}

func TestConcurrentRegistrationsSameEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		st, bodies := concurrently(t, e, racers, "/register", func(i int) any {
			// The same address in different letter cases.
			email := []byte("same.person@example.com")
			for j := range email {
				if i>>(j%5)&1 == 1 && email[j] >= 'a' && email[j] <= 'z' {
					email[j] -= 'a' - 'A'
				}
			}
			return map[string]string{
				"email": string(email), "username": fmt.Sprintf("person%d", i),
				"password1": "correct horse battery", "password2": "correct horse battery",
			}
		})
		wantOneWinner(t, st, bodies, 400, "email_exists", "Email already exists")
		var n int64
		db.Model(&Account{}).Count(&n)
		if n != 1 {
			t.Fatalf("%d accounts, want 1", n)
		}
	})
}

// Concurrent failed logins from one IP all count: the throttle's increment
// is one atomic upsert, with no lost update. Each names another (unknown)
// account, so that only the per-IP limit is in play.
func TestConcurrentFailedLoginsCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("pat@example.com", "pat", "correct horse battery")
		st, bodies := concurrently(t, e, racers, "/login", func(i int) any {
			return map[string]string{"login": fmt.Sprintf("nobody%d", i), "password": "wrong password"}
		})
		for i, s := range st {
			if s != 401 || bodies[i]["code"] != "invalid_credentials" {
				t.Errorf("login %d: %d %v, want 401 invalid_credentials", i, s, bodies[i])
			}
		}
		var th throttleRow
		if err := db.Where("bucket = ?", "login:ip:127.0.0.1").First(&th).Error; err != nil {
			t.Fatal(err)
		}
		if th.Count != racers {
			t.Fatalf("throttle count %d, want %d", th.Count, racers)
		}
	})
}

func TestConcurrentConfirmations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("quin@example.com", "quin", "correct horse battery")
		token := linkToken(t, e.mail.wait(t, 1).Text, "/confirm?token=")
		st, bodies := concurrently(t, e, racers, "/confirm/"+token, func(int) any { return nil })
		wantOneWinner(t, st, bodies, 403, "invalid_confirmation_token", "")
		if !e.account("quin").Confirmed {
			t.Fatal("not confirmed")
		}
	})
}
