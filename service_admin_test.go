package authgin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// The admin and search routers, strict mode, blackout and hooks, on every
// backend.

func decodeJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
}

// admin returns a client logged in as an admin (created on first use with
// EnsureAdmin).
func (e *testEnv) admin() *client {
	e.t.Helper()
	if _, _, err := e.auth.Service().EnsureAdmin(context.Background(), "root@example.com", "root", "correct horse battery"); err != nil {
		e.t.Fatal(err)
	}
	c := e.client()
	wantStatus(e.t, c.post("/login", map[string]string{"login": "root", "password": "correct horse battery"}), 200)
	return c
}

func userID(r *response) int64 { return int64(r.json["id"].(float64)) }

func TestAdminRoutesNeedAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		user := e.client()
		id := userID(user.register("plain@example.com", "plain", "correct horse battery"))
		anon := e.client()
		for _, rt := range []struct{ method, path string }{
			{"GET", "/blacklist"}, {"POST", fmt.Sprintf("/%d/blacklist", id)}, {"POST", fmt.Sprintf("/%d/kick", id)},
			{"GET", "/blackout"}, {"POST", "/blackout"}, {"DELETE", "/blackout"},
			{"GET", "/id_by_username?username=plain"}, {"POST", fmt.Sprintf("/%d/permissions", id)},
			{"GET", fmt.Sprintf("/%d", id)}, {"GET", "?username=plain"}, {"GET", ""},
		} {
			wantError(t, anon.do(rt.method, testBase+rt.path, nil), 401, "unauthorized", "")
			wantError(t, user.do(rt.method, testBase+rt.path, nil), 403, "forbidden", "")
		}
		// A user cannot grant themselves admin.
		r := user.post(fmt.Sprintf("/%d/permissions", id), map[string]any{"action": "ADD", "payload": []string{"admin"}})
		wantError(t, r, 403, "forbidden", "")
		if slices.Contains(e.account("plain").Permissions, PermissionAdmin) {
			t.Fatal("privilege escalation")
		}
	})
}

func TestBlacklist(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		bans := &recorder[BanEvent]{}
		e := newEnv(t, db, func(o *Options) { o.Hooks.OnBan = bans.add })
		victim := e.client()
		id := userID(victim.register("bad@example.com", "bad", "correct horse battery"))
		admin := e.admin()
		adminID := e.account("root").ID

		r := admin.do("GET", testBase+"/blacklist", nil)
		wantStatus(t, r, 200)
		if string(r.raw) != `{"global":[],"current":[]}` {
			t.Fatalf("empty blacklist %s", r.raw)
		}
		r = admin.post(fmt.Sprintf("/%d/blacklist", id), nil)
		wantStatus(t, r, 200)
		if r.json["banned"] != true || userID(r) != id {
			t.Fatalf("ban %s", r.raw)
		}
		// Refresh fails at once; login says banned; in stateless mode the
		// access token lives on until it expires (the documented trade-off).
		wantError(t, victim.post("/token/refresh", nil), 401, "invalid_token", "")
		wantError(t, e.client().post("/login", map[string]string{"login": "bad", "password": "correct horse battery"}), 400, "user_banned", "")
		wantStatus(t, victim.do("GET", "/api/me", nil), 200)

		r = admin.do("GET", testBase+"/blacklist", nil)
		want := fmt.Sprintf(`{"global":[{"id":%d,"username":"bad"}],"current":[{"id":%d,"username":"bad"}]}`, id, id)
		if string(r.raw) != want {
			t.Fatalf("blacklist %s, want %s", r.raw, want)
		}
		// Once the access tokens from before the ban have expired, the user
		// is no longer "current".
		e.clock.Advance(16 * time.Minute)
		admin = e.admin()
		r = admin.do("GET", testBase+"/blacklist", nil)
		if want := fmt.Sprintf(`{"global":[{"id":%d,"username":"bad"}],"current":[]}`, id); string(r.raw) != want {
			t.Fatalf("blacklist later %s", r.raw)
		}

		// Toggling again lifts the ban; login works again.
		r = admin.post(fmt.Sprintf("/%d/blacklist", id), nil)
		wantStatus(t, r, 200)
		if r.json["banned"] != false {
			t.Fatalf("unban %s", r.raw)
		}
		wantStatus(t, e.client().post("/login", map[string]string{"login": "bad", "password": "correct horse battery"}), 200)
		if r := admin.do("GET", testBase+"/blacklist", nil); string(r.raw) != `{"global":[],"current":[]}` {
			t.Fatalf("blacklist after unban %s", r.raw)
		}

		wantError(t, admin.post("/987654/blacklist", nil), 404, "user_not_found", "")
		wantError(t, admin.post("/abc/blacklist", nil), 400, "invalid_id", "")
		evs := bans.all()
		if len(evs) != 2 || !evs[0].Banned || evs[1].Banned || evs[0].UserID != id || evs[0].ActorID != adminID || evs[0].Username != "bad" {
			t.Fatalf("ban hooks %+v", evs)
		}
		ban, unban := eventsOf(t, db, id, EventBan), eventsOf(t, db, id, EventUnban)
		if len(ban) != 1 || len(unban) != 1 || ban[0].ActorID != adminID {
			t.Fatalf("ban events %+v %+v", ban, unban)
		}
	})
}

func TestKick(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		a, b := e.client(), e.client()
		id := userID(a.register("kick@example.com", "kicked", "correct horse battery"))
		wantStatus(t, b.post("/login", map[string]string{"login": "kicked", "password": "correct horse battery"}), 200)
		admin := e.admin()
		r := admin.post(fmt.Sprintf("/%d/kick", id), nil)
		wantStatus(t, r, 200)
		if r.json["revoked"] != float64(2) {
			t.Fatalf("kick %s", r.raw)
		}
		wantError(t, a.post("/token/refresh", nil), 401, "invalid_token", "")
		wantError(t, b.post("/token/refresh", nil), 401, "invalid_token", "")
		// Not a ban: the user may log in again.
		wantStatus(t, a.post("/login", map[string]string{"login": "kicked", "password": "correct horse battery"}), 200)
		wantError(t, admin.post("/987654/kick", nil), 404, "user_not_found", "")
		wantError(t, admin.post("/0/kick", nil), 400, "invalid_id", "")
		if evs := eventsOf(t, db, id, EventKick); len(evs) != 1 || evs[0].ActorID != e.account("root").ID {
			t.Fatalf("kick events %+v", evs)
		}
	})
}

func TestIDByUsername(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		id := userID(e.client().register("who@example.com", "WhoIs", "correct horse battery"))
		admin := e.admin()
		for _, q := range []string{"WhoIs", "whois", "WHOIS"} {
			r := admin.do("GET", testBase+"/id_by_username?username="+q, nil)
			wantStatus(t, r, 200)
			if userID(r) != id || len(r.json) != 1 {
				t.Fatalf("%s: %s", q, r.raw)
			}
		}
		wantError(t, admin.do("GET", testBase+"/id_by_username?username=nobody", nil), 404, "user_not_found", "")
		wantError(t, admin.do("GET", testBase+"/id_by_username?username=%25", nil), 404, "user_not_found", "")
		wantError(t, admin.do("GET", testBase+"/id_by_username", nil), 400, "invalid_input", "")
	})
}

func TestPermissions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		u := e.client()
		id := userID(u.register("perm@example.com", "perm", "correct horse battery"))
		admin := e.admin()
		path := fmt.Sprintf("/%d/permissions", id)
		perms := func(r *response) []string {
			t.Helper()
			var out []string
			for _, p := range r.json["permissions"].([]any) {
				out = append(out, p.(string))
			}
			return out
		}

		r := admin.post(path, map[string]any{"action": "ADD", "payload": []string{"reports", "audit", "reports"}})
		wantStatus(t, r, 200)
		if got := perms(r); !slices.Equal(got, []string{"reports", "audit"}) || userID(r) != id {
			t.Fatalf("after ADD %s", r.raw)
		}
		// The user's sessions are revoked; a new login carries the new set.
		wantError(t, u.post("/token/refresh", nil), 401, "invalid_token", "")
		wantStatus(t, u.post("/login", map[string]string{"login": "perm", "password": "correct horse battery"}), 200)
		wantStatus(t, u.do("GET", "/api/reports", nil), 200)

		// authx sent one string as the payload.
		r = admin.post(path, map[string]any{"action": "ADD", "payload": "export"})
		if got := perms(r); !slices.Equal(got, []string{"reports", "audit", "export"}) {
			t.Fatalf("after ADD string %s", r.raw)
		}
		r = admin.post(path, map[string]any{"action": "remove", "payload": []string{"audit", "missing"}})
		if got := perms(r); !slices.Equal(got, []string{"reports", "export"}) {
			t.Fatalf("after REMOVE %s", r.raw)
		}
		r = admin.post(path, map[string]any{"action": "CLEAR"})
		wantStatus(t, r, 200)
		if got := perms(r); len(got) != 0 {
			t.Fatalf("after CLEAR %s", r.raw)
		}
		if len(e.account("perm").Permissions) != 0 {
			t.Fatal("CLEAR not stored")
		}

		wantError(t, admin.post(path, map[string]any{"action": "DROP", "payload": []string{"x"}}), 400, "invalid_action", "wrong action")
		wantError(t, admin.post(path, map[string]any{"payload": []string{"x"}}), 400, "invalid_action", "")
		wantError(t, admin.post(path, map[string]any{"action": "ADD", "payload": []string{"a b"}}), 400, "invalid_permission", "")
		wantError(t, admin.post(path, map[string]any{"action": "ADD", "payload": []string{""}}), 400, "invalid_permission", "")
		wantError(t, admin.post(path, map[string]any{"action": "ADD", "payload": []string{strings.Repeat("p", 65)}}), 400, "invalid_permission", "")
		wantError(t, admin.post(path, map[string]any{"action": "ADD", "payload": 5}), 400, "malformed_body", "")
		wantError(t, admin.post(path, "{"), 400, "malformed_body", "")
		wantError(t, admin.post("/987654/permissions", map[string]any{"action": "CLEAR"}), 404, "user_not_found", "")
		if evs := eventsOf(t, db, id, EventPermissionsChange); len(evs) != 4 || evs[0].Detail != "ADD reports,audit,reports" {
			t.Fatalf("permission events %+v", evs)
		}
	})
}

func TestSearch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		admin := e.admin()
		now := e.clock.Now()
		mk := func(name, key string) int64 {
			a := Account{Email: key + "@example.com", EmailKey: key + "@example.com", Username: name, UsernameKey: key,
				Permissions: Permissions{}, CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&a).Error; err != nil {
				t.Fatal(err)
			}
			return a.ID
		}
		for i := range 41 {
			mk(fmt.Sprintf("Member%02d", i), fmt.Sprintf("member%02d", i))
		}
		under := mk("Under_Score", "under_score")
		mk("UnderXScore", "underxscore")
		pct := mk("Per%Cent", "per%cent")
		mk("PerXXCent", "perxxcent")
		slash := mk(`Back\Slash`, `back\slash`)
		mk("BackXSlash", "backxslash")

		type page struct {
			Items       []map[string]any `json:"items"`
			Pages       int64            `json:"pages"`
			CurrentPage int              `json:"currentPage"`
		}
		get := func(query string) page {
			t.Helper()
			r := admin.do("GET", testBase+query, nil)
			wantStatus(t, r, 200)
			var p page
			decodeJSON(t, r.raw, &p)
			return p
		}
		names := func(p page) []string {
			var out []string
			for _, it := range p.Items {
				out = append(out, it["username"].(string))
			}
			return out
		}

		// 1 admin + 47 users = 48: three pages of 20.
		p := get("")
		if p.Pages != 3 || p.CurrentPage != 1 || len(p.Items) != 20 || p.Items[0]["username"] != "root" {
			t.Fatalf("page 1: pages %d, %d items", p.Pages, len(p.Items))
		}
		it := p.Items[1]
		for _, k := range []string{"id", "username", "email", "active", "confirmed", "permissions", "createdAt", "lastLogin"} {
			if _, ok := it[k]; !ok {
				t.Fatalf("item lacks %s: %v", k, it)
			}
		}
		if _, ok := it["password_hash"]; ok || len(it) != 8 {
			t.Fatalf("item %v", it)
		}
		if p = get("?p=3"); len(p.Items) != 8 || p.CurrentPage != 3 {
			t.Fatalf("page 3: %d items", len(p.Items))
		}
		if p = get("?username=MEMBER0&p=1"); p.Pages != 1 || len(p.Items) != 10 {
			t.Fatalf("member0: %v", names(p))
		}
		if p = get("?username=member"); p.Pages != 3 || len(p.Items) != 20 {
			t.Fatalf("member: %d pages", p.Pages)
		}
		// Metacharacters are text, never a pattern.
		if p = get("?username=_"); !slices.Equal(names(p), []string{"Under_Score"}) || int64(p.Items[0]["id"].(float64)) != under {
			t.Fatalf("_: %v", names(p))
		}
		if p = get("?username=%25"); !slices.Equal(names(p), []string{"Per%Cent"}) || int64(p.Items[0]["id"].(float64)) != pct {
			t.Fatalf("%%: %v", names(p))
		}
		if p = get("?username=%5C"); !slices.Equal(names(p), []string{`Back\Slash`}) || int64(p.Items[0]["id"].(float64)) != slash {
			t.Fatalf(`\: %v`, names(p))
		}
		if p = get("?username=r%25c"); !slices.Equal(names(p), []string{"Per%Cent"}) {
			t.Fatalf("r%%c: %v", names(p))
		}
		if p = get("?username=" + "%27%20OR%201%3D1--"); len(p.Items) != 0 || p.Pages != 0 {
			t.Fatalf("injection: %v", names(p))
		}
		if p = get(fmt.Sprintf("?id=%d", under)); !slices.Equal(names(p), []string{"Under_Score"}) {
			t.Fatalf("id: %v", names(p))
		}
		if p = get(fmt.Sprintf("?id=%d&username=per", under)); len(p.Items) != 0 {
			t.Fatalf("id and username: %v", names(p))
		}
		if p = get("?p=9"); len(p.Items) != 0 || p.Pages != 3 || p.CurrentPage != 9 {
			t.Fatalf("past the end: %+v", p)
		}
		for _, bad := range []string{"?p=0", "?p=-2", "?p=x"} {
			wantError(t, admin.do("GET", testBase+bad, nil), 400, "invalid_page", "")
		}
		wantError(t, admin.do("GET", testBase+"?id=x", nil), 400, "invalid_id", "")
		wantError(t, admin.do("GET", testBase+"?username="+strings.Repeat("a", 300), nil), 400, "invalid_input", "")
		wantError(t, admin.do("GET", testBase+"?username=%FF%FE", nil), 400, "invalid_input", "")

		// The private profile.
		r := admin.do("GET", fmt.Sprintf("%s/%d", testBase, under), nil)
		wantStatus(t, r, 200)
		if r.str("username") != "Under_Score" || r.str("email") != "under_score@example.com" || r.json["active"] != true ||
			r.json["confirmed"] != false || r.json["lastLogin"] != nil || r.str("createdAt") != now.Format(time.RFC3339) {
			t.Fatalf("profile %s", r.raw)
		}
		root := admin.do("GET", fmt.Sprintf("%s/%d", testBase, e.account("root").ID), nil)
		if root.json["lastLogin"] == nil || root.json["permissions"].([]any)[0] != "admin" {
			t.Fatalf("admin profile %s", root.raw)
		}
		wantError(t, admin.do("GET", testBase+"/987654", nil), 404, "user_not_found", "")
		wantError(t, admin.do("GET", testBase+"/-1", nil), 400, "invalid_id", "")
	})
}

// TestRouteConflicts checks that every route reaches its own handler
// although the static paths share gin's tree with /:id.
func TestRouteConflicts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		u := e.client()
		id := userID(u.register("route@example.com", "route", "correct horse battery"))
		admin := e.admin()

		if r := admin.do("GET", testBase+"/blacklist", nil); r.json["global"] == nil {
			t.Fatalf("GET /blacklist %s", r.raw)
		}
		if r := admin.do("GET", fmt.Sprintf("%s/%d", testBase, id), nil); r.str("username") != "route" {
			t.Fatalf("GET /:id %s", r.raw)
		}
		wantError(t, admin.do("GET", testBase+"/blackout", nil), 404, "blackout_not_found", "")
		if r := admin.do("GET", testBase+"/id_by_username?username=route", nil); userID(r) != id {
			t.Fatalf("GET /id_by_username %s", r.raw)
		}
		if r := admin.do("GET", testBase+"/confirm", nil); r.str("email") != "root@example.com" {
			t.Fatalf("GET /confirm %s", r.raw)
		}
		if r := admin.do("GET", testBase+"/sessions", nil); r.status != 200 || !strings.HasPrefix(string(r.raw), "[") {
			t.Fatalf("GET /sessions %s", r.raw)
		}
		if r := admin.do("GET", testBase+"/events", nil); r.json["items"] == nil {
			t.Fatalf("GET /events %s", r.raw)
		}
		if r := admin.do("GET", testBase+"?username=rout", nil); r.json["items"] == nil || r.json["pages"] != float64(1) {
			t.Fatalf(`GET "" %s`, r.raw)
		}
		// Non-admins reach their own static routes, not the admin /:id.
		wantStatus(t, u.do("GET", testBase+"/confirm", nil), 200)
		wantStatus(t, u.do("GET", testBase+"/sessions", nil), 200)
		wantError(t, u.do("GET", testBase+"/blacklist", nil), 403, "forbidden", "")

		// POST /:id/... siblings.
		if r := u.post(fmt.Sprintf("/%d/change_username", id), map[string]string{"username": "route2"}); r.str("username") != "route2" {
			t.Fatalf("POST /:id/change_username %s", r.raw)
		}
		if r := admin.post(fmt.Sprintf("/%d/blacklist", id), nil); r.json["banned"] != true {
			t.Fatalf("POST /:id/blacklist %s", r.raw)
		}
		if r := admin.post(fmt.Sprintf("/%d/kick", id), nil); r.json["revoked"] == nil {
			t.Fatalf("POST /:id/kick %s", r.raw)
		}
		if r := admin.post(fmt.Sprintf("/%d/permissions", id), map[string]any{"action": "CLEAR"}); r.json["permissions"] == nil {
			t.Fatalf("POST /:id/permissions %s", r.raw)
		}
		// Static first segments still win for POST.
		wantError(t, admin.post("/confirm/blacklist", nil), 403, "invalid_confirmation_token", "")
		wantStatus(t, admin.post("/token", nil), 200)
		wantStatus(t, admin.post("/token/refresh", nil), 200)
		// ...and a static word in the id position is just a bad id.
		wantError(t, admin.post("/token/kick", nil), 400, "invalid_id", "")
		wantError(t, admin.post("/blackout/kick", nil), 400, "invalid_id", "")
		if r := admin.do("DELETE", testBase+"/sessions", nil); r.status != 404 {
			t.Fatalf("DELETE /sessions: %d", r.status)
		}
	})
}

func TestBlackout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		// A second instance on the same database.
		e2 := newEnv(t, db)
		old := e.client()
		old.register("old@example.com", "old", "correct horse battery")
		oldAccess := old.jarCookie("/", accessCookie)
		oldRefresh := old.jarCookie(testBase, refreshCookie)
		admin := e.admin()
		wantError(t, admin.do("GET", testBase+"/blackout", nil), 404, "blackout_not_found", "")
		wantStatus(t, e2.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+oldAccess), 200)

		e.clock.Advance(time.Second)
		e2.clock.Advance(time.Second)
		r := admin.post("/blackout", nil)
		wantStatus(t, r, 200)
		cutoff := e.clock.Now()
		if r.str("ts") != cutoff.Format("02.01.2006, 15:04 UTC") || r.json["unix_ms"] != float64(cutoff.UnixMilli()) {
			t.Fatalf("POST /blackout %s", r.raw)
		}
		// On this instance, at once: old access tokens (the admin's too) and
		// refresh tokens of older sessions fail.
		wantError(t, old.do("GET", "/api/me", nil), 401, "unauthorized", "")
		wantError(t, admin.do("GET", testBase+"/blackout", nil), 401, "unauthorized", "")
		wantError(t, old.post("/token/refresh", nil), 401, "invalid_token", "")
		// Refresh checks the database, so on every instance.
		wantError(t, e2.withRefresh(oldRefresh).post("/token/refresh", nil), 401, "invalid_token", "")
		// The other instance's middleware learns of it at its next read.
		if err := e2.auth.svc.blackout.reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantError(t, e2.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+oldAccess), 401, "unauthorized", "")

		// New logins work.
		fresh := e.client()
		wantStatus(t, fresh.post("/login", map[string]string{"login": "old", "password": "correct horse battery"}), 200)
		wantStatus(t, fresh.do("GET", "/api/me", nil), 200)
		wantStatus(t, fresh.post("/token/refresh", nil), 200)
		admin = e.admin()
		r = admin.do("GET", testBase+"/blackout", nil)
		wantStatus(t, r, 200)
		if r.str("ts") != cutoff.Format("02.01.2006, 15:04 UTC") {
			t.Fatalf("GET /blackout %s", r.raw)
		}
		if evs := eventsOf(t, db, e.account("root").ID, EventBlackout); len(evs) != 1 {
			t.Fatalf("blackout events %+v", evs)
		}

		// Lifting it restores the older tokens.
		wantStatus(t, admin.do("DELETE", testBase+"/blackout", nil), 200)
		wantStatus(t, admin.do("DELETE", testBase+"/blackout", nil), 200)
		wantError(t, admin.do("GET", testBase+"/blackout", nil), 404, "blackout_not_found", "")
		wantStatus(t, e.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+oldAccess), 200)
		if len(eventsOf(t, db, e.account("root").ID, EventBlackoutLifted)) != 1 {
			t.Fatal("lifting not recorded once")
		}
	})
}

// TestBlackoutReachesOtherInstances: the background read carries a
// blackout set elsewhere to this instance's stateless middleware.
func TestBlackoutReachesOtherInstances(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e2 := newEnv(t, db, func(o *Options) { o.BlackoutRefresh = 20 * time.Millisecond })
		c := e.client()
		c.register("far@example.com", "far", "correct horse battery")
		access := c.jarCookie("/", accessCookie)
		e.clock.Advance(time.Second)
		if _, err := e.auth.Service().SetBlackout(context.Background(), User{ID: 1}, Client{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for e2.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+access).status != 401 {
			if time.Now().After(deadline) {
				t.Fatal("the blackout never reached the other instance")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestStrictMode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Strict = true })
		admin := e.admin()
		login := func() (*client, string) {
			c := e.client()
			wantStatus(t, c.post("/login", map[string]string{"login": "strict", "password": "correct horse battery"}), 200)
			wantStatus(t, c.do("GET", "/api/me", nil), 200)
			return c, c.jarCookie("/", accessCookie)
		}
		c := e.client()
		id := userID(c.register("strict@example.com", "strict", "correct horse battery"))
		wantStatus(t, c.do("GET", "/api/me", nil), 200)
		bearer := func(tok string) *response {
			return e.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+tok)
		}

		// logout: the access token dies with the session.
		access := c.jarCookie("/", accessCookie)
		wantStatus(t, c.post("/logout", nil), 200)
		wantError(t, bearer(access), 401, "unauthorized", "")

		// ban
		_, access = login()
		wantStatus(t, admin.post(fmt.Sprintf("/%d/blacklist", id), nil), 200)
		wantError(t, bearer(access), 401, "unauthorized", "")
		wantStatus(t, admin.post(fmt.Sprintf("/%d/blacklist", id), nil), 200)

		// kick, permission change, logout_all, DELETE /sessions/{id}
		for _, revoke := range []func(c *client){
			func(*client) { wantStatus(t, admin.post(fmt.Sprintf("/%d/kick", id), nil), 200) },
			func(*client) {
				wantStatus(t, admin.post(fmt.Sprintf("/%d/permissions", id), map[string]any{"action": "ADD", "payload": "x"}), 200)
			},
			func(c *client) { wantStatus(t, c.post("/logout_all", nil), 200) },
			func(c *client) { wantStatus(t, c.do("DELETE", testBase+"/sessions/"+sidOf(t, c), nil), 200) },
		} {
			c, access = login()
			revoke(c)
			wantError(t, bearer(access), 401, "unauthorized", "")
		}

		// A ban written straight to the database (not through the plugin)
		// is seen too: the check joins the user row.
		_, access = login()
		db.Model(&Account{}).Where("id = ?", id).Update("banned", true)
		wantError(t, bearer(access), 401, "unauthorized", "")
		db.Model(&Account{}).Where("id = ?", id).Update("banned", false)
		wantStatus(t, bearer(access), 200)

		// blackout
		e.clock.Advance(time.Second)
		admin = e.admin()
		wantStatus(t, admin.post("/blackout", nil), 200)
		wantError(t, bearer(access), 401, "unauthorized", "")
		e.auth.svc.blackout.cutoff.Store(0) // as if this instance had not heard of it yet
		wantError(t, bearer(access), 401, "unauthorized", "")

		// Session row past its idle timeout.
		wantStatus(t, e.admin().do("DELETE", testBase+"/blackout", nil), 200)
		wantStatus(t, bearer(access), 200)
		db.Model(&session{}).Where("user_id = ?", id).Update("last_used_at", e.clock.Now().Add(-8*24*time.Hour))
		wantError(t, bearer(access), 401, "unauthorized", "")

		// A deleted user.
		_, access = login()
		db.Where("id = ?", id).Delete(&Account{})
		wantError(t, bearer(access), 401, "unauthorized", "")

		// Database down: RequireUser answers 503, OptionalUser anonymous.
		admin = e.admin()
		sqlDB, _ := db.DB()
		sqlDB.Close()
		wantError(t, admin.do("GET", "/api/me", nil), 503, "unavailable", "")
		if r := admin.do("GET", "/api/maybe", nil); r.status != 200 || r.json["ok"] != false {
			t.Fatalf("optional user with the database down: %s", r.raw)
		}
	})
}

func TestStrictCache(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		opt := func(o *Options) { o.Strict = true; o.StrictCacheTTL = time.Minute }
		e1 := newEnv(t, db, opt)
		e2 := newEnv(t, db, opt)
		c := e1.client()
		c.register("cache@example.com", "cache", "correct horse battery")
		access := c.jarCookie("/", accessCookie)
		on := func(e *testEnv) *response {
			return e.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+access)
		}
		wantStatus(t, on(e1), 200)
		wantStatus(t, on(e2), 200) // now cached on e2

		// Revoked through e1: e1 knows at once, e2 within the cache TTL.
		wantStatus(t, c.post("/logout", nil), 200)
		wantError(t, on(e1), 401, "unauthorized", "")
		wantStatus(t, on(e2), 200)
		e2.clock.Advance(time.Minute)
		wantError(t, on(e2), 401, "unauthorized", "")

		// Revocations through an instance clear its own cache.
		c2 := e2.client()
		wantStatus(t, c2.post("/login", map[string]string{"login": "cache", "password": "correct horse battery"}), 200)
		access = c2.jarCookie("/", accessCookie)
		wantStatus(t, on(e2), 200)
		wantStatus(t, c2.post("/logout_all", nil), 200)
		wantError(t, on(e2), 401, "unauthorized", "")
	})
}

// TestHooksPanicking: a hook that panics is recovered and logged and never
// changes the answer.
func TestHooksPanicking(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		boom := func(context.Context, UserEvent) { panic("hook boom") }
		e := newEnv(t, db, func(o *Options) {
			o.Hooks.OnLogin = boom
			o.Hooks.OnLogout = boom
			o.Hooks.OnRefreshReuse = boom
			o.Hooks.OnBan = func(context.Context, BanEvent) { panic("ban boom") }
			o.Hooks.OnSecurityEvent = func(context.Context, SecurityEvent) { panic("event boom") }
		})
		c := e.client()
		id := userID(c.register("hook@example.com", "hook", "correct horse battery"))
		wantStatus(t, c.post("/login", map[string]string{"login": "hook", "password": "correct horse battery"}), 200)
		stolen := c.jarCookie(testBase, refreshCookie)
		wantStatus(t, c.post("/token/refresh", nil), 200)
		e.clock.Advance(time.Minute)
		wantError(t, e.withRefresh(stolen).post("/token/refresh", nil), 401, "invalid_token", "")
		admin := e.admin()
		wantStatus(t, admin.post(fmt.Sprintf("/%d/blacklist", id), nil), 200)
		wantStatus(t, admin.post("/logout", nil), 200)
		logs := e.logs.String()
		for _, want := range []string{"hook boom", "ban boom", "event boom", "OnRefreshReuse", "OnSecurityEvent"} {
			if !strings.Contains(logs, want) {
				t.Fatalf("log lacks %q", want)
			}
		}
		// The events were stored although the hook panicked.
		if len(eventsOf(t, db, id, EventBan)) != 1 || len(eventsOf(t, db, id, EventRefreshReuse)) != 1 {
			t.Fatal("events lost to a panicking hook")
		}
	})
}

func TestEnsureAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		svc := e.auth.Service()
		ctx := context.Background()
		acct, created, err := svc.EnsureAdmin(ctx, "Boss@Example.com", "admin", "correct horse battery")
		if err != nil || !created || !acct.IsAdmin() || !acct.Confirmed {
			t.Fatalf("create: %+v %v %v", acct, created, err)
		}
		// Idempotent; the password is not changed.
		acct2, created, err := svc.EnsureAdmin(ctx, "boss@example.com", "admin", "another password here")
		if err != nil || created || acct2.ID != acct.ID {
			t.Fatalf("again: %+v %v %v", acct2, created, err)
		}
		c := e.client()
		wantStatus(t, c.post("/login", map[string]string{"login": "admin", "password": "correct horse battery"}), 200)
		wantStatus(t, c.do("GET", "/api/admin", nil), 200)

		// An existing user is promoted.
		id := userID(e.client().register("promo@example.com", "promo", "correct horse battery"))
		acct, created, err = svc.EnsureAdmin(ctx, "promo@example.com", "promo", "whatever password")
		if err != nil || created || acct.ID != id || !slices.Contains(e.account("promo").Permissions, PermissionAdmin) {
			t.Fatalf("promote: %+v %v %v", acct, created, err)
		}
		// A username owned by another account is refused.
		if _, _, err := svc.EnsureAdmin(ctx, "new@example.com", "promo", "correct horse battery"); !errors.Is(err, ErrUsernameExists) {
			t.Fatalf("taken username: %v", err)
		}
		if _, _, err := svc.EnsureAdmin(ctx, "not an email", "x1234", "correct horse battery"); err == nil {
			t.Fatal("bad email accepted")
		}
		if _, _, err := svc.EnsureAdmin(ctx, "short@example.com", "shorty", "x"); err == nil {
			t.Fatal("weak password accepted")
		}
	})
}
