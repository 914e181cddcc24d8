package authgin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

func cachedRevocation(o *Options) {
	o.Revocation = RevocationCached
	o.BlackoutRefresh = 20 * time.Millisecond
}

// bearerStatus is the status of GET /api/me on e with access token tok.
func bearerStatus(e *testEnv, tok string) int {
	return e.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+tok).status
}

// eventually waits until GET /api/me with tok answers want on e.
func eventually(t *testing.T, e *testEnv, tok string, want int, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := bearerStatus(e, tok)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", what, got, want)
		}
	}
}

// TestRevocationCached: in the cached mode, revoking all of a user's
// sessions (password change, logout everywhere, kick, ban, permission
// change, password reset) rejects the access tokens issued before it: at
// once on the instance that revoked, within BlackoutRefresh on another,
// while a stateless instance still accepts them. The session that changed
// the password keeps its token, and a login right after a revocation, in
// its very second, gets a token that works.
func TestRevocationCached(t *testing.T) {
	forEachBackendDatabase(t, func(t *testing.T, open func(t *testing.T) *gorm.DB) {
		a := newEnv(t, open(t), cachedRevocation)
		b := newEnv(t, open(t), cachedRevocation)
		s := newEnv(t, open(t)) // stateless
		advance := func(d time.Duration) {
			for _, e := range []*testEnv{a, b, s} {
				e.clock.Advance(d)
			}
		}
		const pw, pw2 = "correct horse battery", "another good passphrase"
		id := userID(a.client().register("rev@example.com", "rev", pw))
		login := func(password string) (*client, string) {
			c := a.client()
			wantStatus(t, loginAs(c, "rev", password), 200)
			return c, c.jarCookie("/", accessCookie)
		}
		changer, kept := login(pw)
		_, other := login(pw)
		for _, e := range []*testEnv{a, b, s} {
			if got := bearerStatus(e, other); got != 200 {
				t.Fatalf("before the revocation: %d", got)
			}
		}
		advance(1500 * time.Millisecond) // into another second than the tokens'

		wantStatus(t, changer.do("PUT", testBase+"/password",
			map[string]string{"old_password": pw, "password1": pw2, "password2": pw2}), 200)
		if got := bearerStatus(a, other); got != 401 {
			t.Errorf("another session's token on the instance that changed the password: %d, want 401", got)
		}
		if got := bearerStatus(s, other); got != 200 {
			t.Errorf("another session's token on a stateless instance: %d, want 200 (it lives until it expires)", got)
		}
		eventually(t, b, other, 401, "another session's token on another instance")
		for _, e := range []*testEnv{a, b} {
			if got := bearerStatus(e, kept); got != 200 {
				t.Errorf("the token of the session that changed the password: %d, want 200", got)
			}
		}
		// A login in the revocation's own second.
		fresh, freshTok := login(pw2)
		for _, e := range []*testEnv{a, b} {
			if got := bearerStatus(e, freshTok); got != 200 {
				t.Errorf("a token issued just after the revocation: %d, want 200", got)
			}
		}
		// And a refresh of the kept session.
		wantStatus(t, changer.post("/token/refresh", nil), 200)
		wantStatus(t, changer.do("GET", "/api/me", nil), 200)

		// Logout everywhere ends the kept session's tokens too.
		advance(time.Second)
		wantStatus(t, fresh.post("/logout_all", nil), 200)
		for _, tok := range []string{kept, freshTok} {
			if got := bearerStatus(a, tok); got != 401 {
				t.Errorf("a token after logout everywhere: %d, want 401", got)
			}
			eventually(t, b, tok, 401, "a token after logout everywhere, on another instance")
		}

		admin := a.admin()
		for _, revoke := range []struct {
			what string
			do   func()
		}{
			{"kick", func() { wantStatus(t, admin.post(fmt.Sprintf("/%d/kick", id), nil), 200) }},
			{"permission change", func() {
				wantStatus(t, admin.post(fmt.Sprintf("/%d/permissions", id), map[string]any{"action": "ADD", "payload": "x"}), 200)
			}},
			{"ban", func() {
				wantStatus(t, admin.post(fmt.Sprintf("/%d/blacklist", id), nil), 200)
				wantStatus(t, admin.post(fmt.Sprintf("/%d/blacklist", id), nil), 200) // lifted again
			}},
			{"password reset", func() {
				wantStatus(t, a.client().post("/forgot_password", map[string]string{"email": "rev@example.com"}), 200)
				token := linkToken(t, a.mail.waitWith(t, 1, "/reset_password?token=").Text, "/reset_password?token=")
				wantStatus(t, a.client().post("/password/"+token, pwBody(pw2, pw2)), 200)
			}},
		} {
			advance(time.Second)
			_, tok := login(pw2)
			advance(time.Second)
			revoke.do()
			if got := bearerStatus(a, tok); got != 401 {
				t.Errorf("%s: the token on the same instance: %d, want 401", revoke.what, got)
			}
			eventually(t, b, tok, 401, revoke.what+": the token on another instance")
			if got := bearerStatus(s, tok); got != 200 {
				t.Errorf("%s: the token on a stateless instance: %d, want 200", revoke.what, got)
			}
		}
	})
}

// TestRevocationMerge: the store's upsert (every dialect) and the cache's
// Go rule merge a user's revocations alike, and a kept session is exempt
// only from the revocations that kept it.
func TestRevocationMerge(t *testing.T) {
	steps := []struct {
		nowMS int64
		keep  string
		want  revocation
	}{
		{1000, "k1", revocation{1000, "k1", 0}},
		{2000, "k1", revocation{2000, "k1", 0}},    // k1 kept by both
		{3000, "k2", revocation{3000, "k2", 2000}}, // k2 was not kept at 2000
		{4000, "k2", revocation{4000, "k2", 2000}},
		{5000, "", revocation{5000, "", 4000}},
		{4500, "k3", revocation{5000, "k3", 5000}}, // an earlier clock moves nothing back
	}
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		st := migratedStore(t, db)
		ctx := context.Background()
		var mem revocation
		for i, step := range steps {
			if err := st.recordRevocation(ctx, 7, step.keep, step.nowMS); err != nil {
				t.Fatal(err)
			}
			mem = mem.then(step.nowMS, step.keep)
			got, err := st.revocationsSince(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got[7] != step.want || mem != step.want {
				t.Errorf("step %d: database %+v, Go %+v, want %+v", i, got[7], mem, step.want)
			}
		}
		// Only revocations after since are read.
		if got, err := st.revocationsSince(ctx, 5000); err != nil || len(got) != 0 {
			t.Errorf("revocations since the last one: %v, %v", got, err)
		}
	})
	r := revocation{validAfterMS: 5000, keepSession: "k", keepAfterMS: 2000}
	for _, c := range []struct {
		iat  int64
		sid  string
		want bool
	}{
		{4, "x", true}, {5, "x", false}, {4, "k", false}, {2, "k", false}, {1, "k", true},
	} {
		if got := issuedBeforeBlackout(c.iat, r.cutoff(c.sid)); got != c.want {
			t.Errorf("iat %d, session %s: rejected %v, want %v", c.iat, c.sid, got, c.want)
		}
	}
}

// TestRevocationCacheReload: a reload keeps only recent revocations, and
// keeps one made through this instance that the read did not see.
func TestRevocationCacheReload(t *testing.T) {
	db := openTestDB(t, "sqlite")
	st := migratedStore(t, db)
	clock := newFakeClock()
	o := Options{Revocation: RevocationCached, Now: clock.Now, AccessTTL: 15 * time.Minute, BlackoutRefresh: time.Hour}
	k := newRevocationCache(&o, st)
	ctx := context.Background()
	now := clock.Now()
	old := now.Add(-o.AccessTTL - revocationMargin - time.Second)
	if err := st.recordRevocation(ctx, 1, "", old.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := st.recordRevocation(ctx, 2, "", now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	k.revoked(3, "", now) // not in the database (yet)
	if err := k.reload(ctx); err != nil {
		t.Fatal(err)
	}
	m := *k.m.Load()
	if _, ok := m[1]; ok || len(m) != 2 {
		t.Errorf("cache %v, want users 2 and 3 only", m)
	}
	tok := &AccessClaims{ID: 2, IssuedAt: now.Unix() - 1}
	if !k.rejects(tok) {
		t.Error("a token issued before the revocation passes")
	}
	tok.IssuedAt = now.Unix()
	if k.rejects(tok) {
		t.Error("a token issued at the revocation (whole second) is rejected")
	}
}

func TestRevocationOptions(t *testing.T) {
	base := func() Options {
		return Options{DB: &gorm.DB{}, Secret: testSecret, BaseURL: "https://app.example"}
	}
	o := base()
	o.Strict = true
	if got, err := o.withDefaults(); err != nil || got.Revocation != RevocationStrict {
		t.Errorf("Strict: %v, %v; want RevocationStrict", got.Revocation, err)
	}
	o = base()
	o.Revocation = RevocationStrict
	if got, err := o.withDefaults(); err != nil || !got.Strict {
		t.Errorf("RevocationStrict: Strict %v, %v; want true", got.Strict, err)
	}
	o.Revocation = RevocationCached
	o.Strict = true
	if _, err := o.withDefaults(); err == nil || !strings.Contains(err.Error(), "Options.Strict") {
		t.Errorf("Strict with RevocationCached: %v, want an error", err)
	}
	o = base()
	o.Revocation = 7
	if _, err := o.withDefaults(); err == nil || !strings.Contains(err.Error(), "Options.Revocation") {
		t.Errorf("an unknown mode: %v, want an error", err)
	}
	if RevocationCached.String() != "cached" {
		t.Error(RevocationCached.String())
	}
}

// TestRevocationCachedAllocs: the cached mode's check allocates nothing:
// RequireUser costs as many allocations as in the stateless mode, with
// revocations cached (one of them the token's user's).
func TestRevocationCachedAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector's runtime allocates now and then by itself; CI counts without it (CGO_ENABLED=0)")
	}
	allocs := func(mode RevocationMode) float64 {
		// AllocsPerRun counts every goroutine's allocations: no
		// background re-reads of the blackout or the revocations meanwhile.
		e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.Revocation, o.BlackoutRefresh = mode, time.Hour })
		c := e.client()
		c.register("alloc@example.com", "alloc", "correct horse battery")
		e.mail.wait(t, 1) // the confirmation mail is sent in the background
		tok := c.jarCookie("/", accessCookie)
		for id := range int64(1000) {
			e.auth.svc.revoked.revoked(id+100, "", e.clock.Now().Add(-time.Hour))
		}
		e.auth.svc.revoked.revoked(1, "some other session", e.clock.Now().Add(-time.Hour))
		r := gin.New()
		r.GET("/me", e.auth.RequireUser(), func(c *gin.Context) { c.Status(http.StatusNoContent) })
		req := httptest.NewRequest(http.MethodGet, "/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		serve := func() {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				t.Fatalf("%s: status %d", mode, w.Code)
			}
		}
		serve()
		return testing.AllocsPerRun(200, serve)
	}
	stateless, cached := allocs(RevocationStateless), allocs(RevocationCached)
	if cached > stateless {
		t.Errorf("RequireUser allocates %v times in the cached mode, %v in the stateless one", cached, stateless)
	}
}

// BenchmarkRevocationCheck is the cached mode's per-request check alone:
// a hit (the user has a revocation) and a miss, with 1001 users cached.
func BenchmarkRevocationCheck(b *testing.B) {
	o := Options{Revocation: RevocationCached, Now: time.Now, AccessTTL: 15 * time.Minute}
	k := newRevocationCache(&o, nil)
	now := time.Now()
	for id := range int64(1001) {
		k.revoked(id, "kept", now.Add(-time.Minute))
	}
	for _, c := range []struct {
		name string
		id   int64
	}{{"hit", 500}, {"miss", 5000}} {
		claims := &AccessClaims{ID: c.id, SessionID: "kept", IssuedAt: now.Unix()}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if k.rejects(claims) {
					b.Fatal("rejected")
				}
			}
		})
	}
}
