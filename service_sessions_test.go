package authgin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// Rotation, reuse detection, the grace window, expiry and the session
// routes, on every backend.

// recorder collects hook calls from server goroutines.
type recorder[T any] struct {
	mu  sync.Mutex
	evs []T
}

func (r *recorder[T]) add(_ context.Context, ev T) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.evs...)
}

// withCookie returns a fresh client that sends exactly this refresh token.
func (e *testEnv) withRefresh(token string) *client {
	c := e.client()
	c.hdr.Set("Cookie", refreshCookie+"="+token)
	return c
}

// liveTokens counts the unconsumed refresh tokens of a session.
func liveTokens(t *testing.T, db *gorm.DB, sid string) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&refreshToken{}).Where("session_id = ? AND consumed_at IS NULL", sid).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func sessionRow(t *testing.T, db *gorm.DB, sid string) session {
	t.Helper()
	var s session
	if err := db.Where("id = ?", sid).First(&s).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

// sidOf returns the session id of the client's access token.
func sidOf(t *testing.T, c *client) string {
	t.Helper()
	r := c.post("/token", nil)
	wantStatus(t, r, 200)
	return r.str("sid")
}

func eventsOf(t *testing.T, db *gorm.DB, userID int64, kind string) []SecurityEvent {
	t.Helper()
	var evs []SecurityEvent
	if err := db.Where("user_id = ? AND event = ?", userID, kind).Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestRefreshRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		reuse := &recorder[UserEvent]{}
		e := newEnv(t, db, func(o *Options) { o.Hooks.OnRefreshReuse = reuse.add })
		c := e.client()
		id := int64(c.register("rot@example.com", "rot", "correct horse battery").json["id"].(float64))
		sid := sidOf(t, c)
		first := c.jarCookie(testBase, refreshCookie)

		e.clock.Advance(time.Minute)
		r := c.post("/token/refresh", nil)
		wantStatus(t, r, 200)
		ck := r.cookie(refreshCookie)
		if ck == nil || ck.Value == "" || ck.Value == first {
			t.Fatalf("no successor refresh cookie: %v", r.header["Set-Cookie"])
		}
		// Rotation never extends the absolute lifetime.
		if want := int((30*24*time.Hour - time.Minute) / time.Second); ck.MaxAge != want || ck.Path != testBase || !ck.HttpOnly {
			t.Fatalf("successor cookie %+v, want Max-Age %d", ck, want)
		}
		second := ck.Value
		if n := liveTokens(t, db, sid); n != 1 {
			t.Fatalf("%d live tokens after rotation", n)
		}
		var stored refreshToken
		db.Where("token_hash = ?", hashOpaque(second)).First(&stored)
		if stored.SessionID != sid || stored.ConsumedAt != nil {
			t.Fatalf("successor row %+v", stored)
		}
		if sidOf(t, c) != sid {
			t.Fatal("rotation changed the session id")
		}

		// Within the grace window the old token still yields an access
		// token, and nothing more.
		e.clock.Advance(20 * time.Second)
		old := e.withRefresh(first)
		r = old.post("/token/refresh", nil)
		wantStatus(t, r, 200)
		if r.str("access") == "" || r.cookie(accessCookie) == nil {
			t.Fatalf("grace answer %s", r.raw)
		}
		if r.cookie(refreshCookie) != nil {
			t.Fatal("the grace path minted another refresh token")
		}
		if n := liveTokens(t, db, sid); n != 1 {
			t.Fatalf("%d live tokens after a grace refresh", n)
		}
		if len(reuse.all()) != 0 {
			t.Fatal("reuse reported within the grace window")
		}

		// After the window, the old token is a stolen copy: the whole
		// family dies, including the legitimate successor.
		e.clock.Advance(11 * time.Second)
		wantError(t, old.post("/token/refresh", nil), 401, "invalid_token", "")
		if s := sessionRow(t, db, sid); s.RevokedAt == nil {
			t.Fatal("session not revoked on reuse")
		}
		if n := liveTokens(t, db, sid); n != 0 {
			t.Fatalf("%d live tokens after reuse", n)
		}
		wantError(t, c.post("/token/refresh", nil), 401, "invalid_token", "")
		evs := reuse.all()
		if len(evs) != 1 || evs[0].UserID != id || evs[0].SessionID != sid || evs[0].Username != "rot" {
			t.Fatalf("reuse hook %+v", evs)
		}
		if got := eventsOf(t, db, id, EventRefreshReuse); len(got) != 1 || got[0].SessionID != sid {
			t.Fatalf("reuse events %+v", got)
		}
		// A further replay is a plain 401, not a second report.
		wantError(t, old.post("/token/refresh", nil), 401, "invalid_token", "")
		if len(reuse.all()) != 1 || len(eventsOf(t, db, id, EventRefreshReuse)) != 1 {
			t.Fatal("reuse reported twice")
		}
		if !strings.Contains(e.logs.String(), "reuse detected") || strings.Contains(e.logs.String(), first) {
			t.Fatal("reuse not logged, or the token was")
		}
		// Other sessions of the user are unaffected.
		other := e.client()
		wantStatus(t, other.post("/login", map[string]string{"login": "rot", "password": "correct horse battery"}), 200)
		wantStatus(t, other.post("/token/refresh", nil), 200)
	})
}

// refreshRaw posts /token/refresh with a refresh token, safely from any
// goroutine, and returns the status and the new refresh cookie, if any.
func (e *testEnv) refreshRaw(token string) (int, string, error) {
	return e.refreshWith(e.srv.Client(), token)
}

func (e *testEnv) refreshWith(hc *http.Client, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+testBase+"/token/refresh", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Cookie", refreshCookie+"="+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == refreshCookie {
			return resp.StatusCode, ck.Value, nil
		}
	}
	return resp.StatusCode, "", nil
}

func TestRefreshConcurrentTabs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("tabs@example.com", "tabs", "correct horse battery")
		sid := sidOf(t, c)
		token := c.jarCookie(testBase, refreshCookie)
		e.clock.Advance(time.Minute)

		const n = 20
		hc := e.warmClient(n)
		var wg sync.WaitGroup
		statuses := make([]int, n)
		successors := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i], successors[i], errs[i] = e.refreshWith(hc, token)
			}()
		}
		close(start)
		wg.Wait()
		var minted []string
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if statuses[i] != 200 {
				t.Fatalf("refresh %d: status %d within the grace window", i, statuses[i])
			}
			if successors[i] != "" {
				minted = append(minted, successors[i])
			}
		}
		if len(minted) != 1 {
			t.Fatalf("%d successors minted, want exactly 1", len(minted))
		}
		// How many requests overlapped the winner's read-to-write window
		// (informational: scheduling decides).
		t.Logf("%d of %d refreshes lost the compare-and-set", strings.Count(e.logs.String(), "rotated the token first"), n)
		if live := liveTokens(t, db, sid); live != 1 {
			t.Fatalf("%d live tokens in the family, want 1", live)
		}
		var rt refreshToken
		if err := db.Where("session_id = ? AND consumed_at IS NULL", sid).First(&rt).Error; err != nil || rt.TokenHash != hashOpaque(minted[0]) {
			t.Fatalf("the live token is not the one handed out: %v", err)
		}
		// The family goes on with the one successor.
		if s, next, err := e.refreshRaw(minted[0]); err != nil || s != 200 || next == "" {
			t.Fatalf("successor refresh: %d %q %v", s, next, err)
		}
	})
}

// warmClient returns an HTTP client with n open connections to the test
// server, so that n requests started together really run together instead
// of queueing behind TLS handshakes.
func (e *testEnv) warmClient(n int) *http.Client {
	e.t.Helper()
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = n
	hc := &http.Client{Transport: tr}
	e.t.Cleanup(tr.CloseIdleConnections)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := hc.Get(e.srv.URL + "/api/maybe"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	return hc
}

// TestRefreshLostRace stages the race of two refreshes of one token
// deterministically: another refresh rotates the token after this one read
// it and before it consumes it. The loser gets the grace answer and the
// family keeps exactly the winner's successor.
func TestRefreshLostRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("lost@example.com", "lostrace", "correct horse battery")
		sid := sidOf(t, c)
		token := c.jarCookie(testBase, refreshCookie)
		svc := e.auth.svc
		ctx := context.Background()
		read, err := svc.readRefresh(ctx, hashOpaque(token))
		if err != nil {
			t.Fatal(err)
		}
		winner, winnerErr := svc.Refresh(ctx, token, Client{IP: "10.0.0.1"})
		loser, err := svc.refresh(ctx, read, Client{IP: "10.0.0.2"})
		if err != nil || winnerErr != nil {
			t.Fatalf("loser %v, winner %v", err, winnerErr)
		}
		if winner.Refresh == "" || loser.Refresh != "" || loser.Access == "" {
			t.Fatalf("winner minted %q, loser minted %q", winner.Refresh, loser.Refresh)
		}
		var live []refreshToken
		db.Where("session_id = ? AND consumed_at IS NULL", sid).Find(&live)
		if len(live) != 1 || live[0].TokenHash != hashOpaque(winner.Refresh) {
			t.Fatalf("live tokens %+v", live)
		}
		if !strings.Contains(e.logs.String(), "rotated the token first") {
			t.Fatal("the lost-race path did not run")
		}
	})
}

// TestRefreshRevokedDuringRotation stages a replay (after the grace
// window) that revokes the family between a legitimate refresh's read and
// its write: the legitimate refresh must fail and mint nothing.
func TestRefreshRevokedDuringRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("revo@example.com", "revoked", "correct horse battery")
		sid := sidOf(t, c)
		stolen := c.jarCookie(testBase, refreshCookie)
		wantStatus(t, c.post("/token/refresh", nil), 200)
		current := c.jarCookie(testBase, refreshCookie)
		e.clock.Advance(time.Minute)
		svc := e.auth.svc
		ctx := context.Background()
		read, err := svc.readRefresh(ctx, hashOpaque(current))
		if err != nil {
			t.Fatal(err)
		}
		_, replayErr := svc.Refresh(ctx, stolen, Client{})
		toks, err := svc.refresh(ctx, read, Client{})
		if !errors.Is(err, ErrInvalidToken) || !errors.Is(replayErr, ErrInvalidToken) || toks.Refresh != "" {
			t.Fatalf("legit %v %q, replay %v", err, toks.Refresh, replayErr)
		}
		if n := liveTokens(t, db, sid); n != 0 {
			t.Fatalf("%d live tokens in the revoked family", n)
		}
	})
}

func TestRefreshReplayRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		reuse := &recorder[UserEvent]{}
		e := newEnv(t, db, func(o *Options) { o.Hooks.OnRefreshReuse = reuse.add })
		e.client().register("race@example.com", "race", "correct horse battery")
		const rounds = 6
		for round := range rounds {
			c := e.client()
			wantStatus(t, c.post("/login", map[string]string{"login": "race", "password": "correct horse battery"}), 200)
			sid := sidOf(t, c)
			stolen := c.jarCookie(testBase, refreshCookie)
			wantStatus(t, c.post("/token/refresh", nil), 200)
			current := c.jarCookie(testBase, refreshCookie)
			e.clock.Advance(31 * time.Second) // past the grace window of stolen

			hc := e.warmClient(2)
			var wg sync.WaitGroup
			var replay, legit int
			var replayErr, legitErr error
			var minted string
			wg.Add(2)
			go func() { defer wg.Done(); replay, _, replayErr = e.refreshWith(hc, stolen) }()
			go func() { defer wg.Done(); legit, minted, legitErr = e.refreshWith(hc, current) }()
			wg.Wait()
			if replayErr != nil || legitErr != nil {
				t.Fatal(replayErr, legitErr)
			}
			if replay != 401 {
				t.Fatalf("round %d: replay got %d", round, replay)
			}
			if s := sessionRow(t, db, sid); s.RevokedAt == nil {
				t.Fatalf("round %d: session survived the replay (legit %d)", round, legit)
			}
			if live := liveTokens(t, db, sid); live != 0 {
				t.Fatalf("round %d: %d live tokens remain in the family (legit %d)", round, live, legit)
			}
			if minted != "" {
				if s, _, _ := e.refreshRaw(minted); s != 401 {
					t.Fatalf("round %d: the successor minted in the race still works: %d", round, s)
				}
			}
		}
		if n := len(reuse.all()); n != rounds {
			t.Fatalf("%d reuse reports, want %d", n, rounds)
		}
	})
}

func TestRefreshWithoutRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.DisableRotation = true })
		c := e.client()
		c.register("norot@example.com", "norot", "correct horse battery")
		token := c.jarCookie(testBase, refreshCookie)
		for range 3 {
			e.clock.Advance(time.Hour)
			r := c.post("/token/refresh", nil)
			wantStatus(t, r, 200)
			if r.cookie(refreshCookie) != nil {
				t.Fatal("refresh token rotated with DisableRotation")
			}
		}
		if c.jarCookie(testBase, refreshCookie) != token {
			t.Fatal("refresh cookie changed")
		}
		wantStatus(t, c.post("/logout", nil), 200)
		wantError(t, e.withRefresh(token).post("/token/refresh", nil), 401, "invalid_token", "")
	})
}

func TestRefreshIdleAndAbsoluteExpiryWithRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) {
			o.RefreshTTL = 4 * time.Hour
			o.RefreshIdleTTL = time.Hour
			o.AccessTTL = 10 * time.Minute
		})
		c := e.client()
		c.register("exp@example.com", "exp", "correct horse battery")
		// Used every 50 minutes, rotated each time, the session still ends
		// at its absolute lifetime.
		for i := range 4 {
			e.clock.Advance(50 * time.Minute)
			r := c.post("/token/refresh", nil)
			wantStatus(t, r, 200)
			want := int((4*time.Hour - time.Duration(i+1)*50*time.Minute) / time.Second)
			if ck := r.cookie(refreshCookie); ck == nil || ck.MaxAge != want {
				t.Fatalf("refresh %d: cookie %+v, want Max-Age %d", i, ck, want)
			}
		}
		e.clock.Advance(40*time.Minute + time.Second) // 4 h + 1 s since login
		wantError(t, c.post("/token/refresh", nil), 401, "invalid_token", "")

		// Idle: a rotated token unused for longer than the idle timeout.
		c2 := e.client()
		wantStatus(t, c2.post("/login", map[string]string{"login": "exp", "password": "correct horse battery"}), 200)
		e.clock.Advance(59 * time.Minute)
		wantStatus(t, c2.post("/token/refresh", nil), 200)
		e.clock.Advance(59 * time.Minute)
		wantStatus(t, c2.post("/token/refresh", nil), 200)
		e.clock.Advance(time.Hour + time.Second)
		wantError(t, c2.post("/token/refresh", nil), 401, "invalid_token", "")
	})
}

func TestSessionRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		logouts := &recorder[UserEvent]{}
		e := newEnv(t, db, func(o *Options) { o.Hooks.OnLogout = logouts.add })
		laptop := e.client()
		id := int64(laptop.register("ses@example.com", "ses", "correct horse battery").json["id"].(float64))
		phone := e.client()
		phone.hdr.Set("User-Agent", "phone/1.0")
		e.clock.Advance(time.Minute)
		wantStatus(t, phone.post("/login", map[string]string{"login": "ses", "password": "correct horse battery"}), 200)
		stranger := e.client()
		stranger.register("str@example.com", "str", "correct horse battery")
		strangerSID := sidOf(t, stranger)

		r := laptop.do("GET", testBase+"/sessions", nil)
		wantStatus(t, r, 200)
		var list []map[string]any
		decodeJSON(t, r.raw, &list)
		if len(list) != 2 {
			t.Fatalf("sessions %s", r.raw)
		}
		// Most recently used first: the phone.
		if list[0]["userAgent"] != "phone/1.0" || list[0]["current"] != false || list[1]["current"] != true ||
			list[0]["ip"] != "127.0.0.1" || list[0]["createdAt"] == nil || list[0]["lastUsedAt"] == nil || list[0]["expiresAt"] == nil {
			t.Fatalf("sessions %s", r.raw)
		}
		phoneSID := list[0]["id"].(string)
		if phoneSID != sidOf(t, phone) || r.header.Get("Cache-Control") != "no-store" {
			t.Fatal("listed session id is not the phone's")
		}
		wantError(t, e.client().do("GET", testBase+"/sessions", nil), 401, "unauthorized", "")

		// Only one's own live sessions can be ended.
		wantError(t, laptop.do("DELETE", testBase+"/sessions/"+strangerSID, nil), 404, "session_not_found", "")
		wantError(t, laptop.do("DELETE", testBase+"/sessions/nonexistent", nil), 404, "session_not_found", "")
		wantError(t, laptop.do("DELETE", testBase+"/sessions/"+strings.Repeat("x", 200), nil), 404, "session_not_found", "")
		wantStatus(t, stranger.post("/token/refresh", nil), 200)
		r = laptop.do("DELETE", testBase+"/sessions/"+phoneSID, nil)
		wantStatus(t, r, 200)
		if r.cookie(refreshCookie) != nil {
			t.Fatal("ending another session expired the caller's cookies")
		}
		wantError(t, phone.post("/token/refresh", nil), 401, "invalid_token", "")
		wantError(t, laptop.do("DELETE", testBase+"/sessions/"+phoneSID, nil), 404, "session_not_found", "")
		if evs := logouts.all(); len(evs) != 1 || evs[0].SessionID != phoneSID || evs[0].UserID != id {
			t.Fatalf("logout hook %+v", evs)
		}
		if evs := eventsOf(t, db, id, EventSessionRevoked); len(evs) != 1 || evs[0].SessionID != phoneSID {
			t.Fatalf("events %+v", evs)
		}
		r = laptop.do("GET", testBase+"/sessions", nil)
		decodeJSON(t, r.raw, &list)
		if len(list) != 1 || list[0]["current"] != true {
			t.Fatalf("sessions after revoke %s", r.raw)
		}

		// Ending the current session is a logout.
		own := sidOf(t, laptop)
		r = laptop.do("DELETE", testBase+"/sessions/"+own, nil)
		wantStatus(t, r, 200)
		if ck := r.cookie(refreshCookie); ck == nil || ck.MaxAge != -1 {
			t.Fatal("ending the current session left its cookies")
		}

		// logout_all ends every session, the current one included.
		var clients []*client
		for range 3 {
			cl := e.client()
			wantStatus(t, cl.post("/login", map[string]string{"login": "ses", "password": "correct horse battery"}), 200)
			clients = append(clients, cl)
		}
		r = clients[0].post("/logout_all", nil)
		wantStatus(t, r, 200)
		if r.json["revoked"] != float64(3) {
			t.Fatalf("logout_all %s", r.raw)
		}
		if ck := r.cookie(accessCookie); ck == nil || ck.MaxAge != -1 {
			t.Fatal("logout_all left the cookies")
		}
		for _, cl := range clients {
			wantError(t, cl.post("/token/refresh", nil), 401, "invalid_token", "")
		}
		wantError(t, e.client().post("/logout_all", nil), 401, "unauthorized", "")
		if len(eventsOf(t, db, id, EventLogoutAll)) != 1 {
			t.Fatal("logout_all not recorded")
		}
		var live int64
		db.Model(&refreshToken{}).Where("user_id = ? AND consumed_at IS NULL", id).Count(&live)
		if live != 0 {
			t.Fatalf("%d live refresh tokens after logout_all", live)
		}
		// The stranger was not touched.
		wantStatus(t, stranger.post("/token/refresh", nil), 200)
	})
}

func TestLogoutKillsRotatedFamily(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("lo@example.com", "logoutee", "correct horse battery")
		first := c.jarCookie(testBase, refreshCookie)
		wantStatus(t, c.post("/token/refresh", nil), 200)
		second := c.jarCookie(testBase, refreshCookie)
		sid := sidOf(t, c)
		wantStatus(t, c.post("/logout", nil), 200)
		for _, tok := range []string{first, second} {
			wantError(t, e.withRefresh(tok).post("/token/refresh", nil), 401, "invalid_token", "")
		}
		if n := liveTokens(t, db, sid); n != 0 {
			t.Fatalf("%d live tokens after logout", n)
		}
		if len(eventsOf(t, db, e.account("logoutee").ID, EventLogout)) != 1 {
			t.Fatal("logout not recorded")
		}
	})
}

func TestEventsRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		// 24 quick failures on one account: the per-account backoff is off.
		e := newEnv(t, db, func(o *Options) { o.Limits.LoginAccount = Limit{Max: -1} })
		c := e.client()
		id := int64(c.register("ev@example.com", "eventee", "correct horse battery").json["id"].(float64))
		c.hdr.Set("User-Agent", "tester/2")
		for i := range 24 {
			e.clock.Advance(time.Second)
			wantStatus(t, e.client().post("/login", map[string]string{"login": "eventee", "password": fmt.Sprint("wrong ", i)}), 401)
		}
		e.clock.Advance(time.Second)
		wantStatus(t, c.post("/login", map[string]string{"login": "eventee", "password": "correct horse battery"}), 200)
		// Failed logins of unknown users are not anybody's events.
		wantStatus(t, c.post("/login", map[string]string{"login": "nobody", "password": "x"}), 401)

		r := c.do("GET", testBase+"/events", nil)
		wantStatus(t, r, 200)
		var page struct {
			Items       []SecurityEvent `json:"items"`
			Pages       int64           `json:"pages"`
			CurrentPage int             `json:"currentPage"`
		}
		decodeJSON(t, r.raw, &page)
		// register + 24 failures + login = 26 events: 2 pages, newest first.
		if page.Pages != 2 || page.CurrentPage != 1 || len(page.Items) != PageSize {
			t.Fatalf("page %+v", page)
		}
		if page.Items[0].Event != EventLogin || page.Items[0].UserAgent != "tester/2" || page.Items[0].SessionID == "" ||
			page.Items[1].Event != EventLoginFailed || page.Items[0].UserID != id {
			t.Fatalf("first items %+v %+v", page.Items[0], page.Items[1])
		}
		r = c.do("GET", testBase+"/events?p=2", nil)
		decodeJSON(t, r.raw, &page)
		if page.CurrentPage != 2 || len(page.Items) != 6 || page.Items[5].Event != EventRegister {
			t.Fatalf("page 2 %+v", page)
		}
		r = c.do("GET", testBase+"/events?p=3", nil)
		decodeJSON(t, r.raw, &page)
		if r.status != 200 || len(page.Items) != 0 || page.Pages != 2 {
			t.Fatalf("page 3 %s", r.raw)
		}
		for _, bad := range []string{"0", "-1", "x", "99999999999999999999"} {
			wantError(t, c.do("GET", testBase+"/events?p="+bad, nil), 400, "invalid_page", "")
		}
		wantError(t, e.client().do("GET", testBase+"/events", nil), 401, "unauthorized", "")

		// Another user's log: admins only.
		other := e.client()
		otherID := int64(other.register("ev2@example.com", "eventee2", "correct horse battery").json["id"].(float64))
		wantError(t, other.do("GET", fmt.Sprintf("%s/events?user_id=%d", testBase, id), nil), 403, "forbidden", "")
		wantError(t, other.do("GET", testBase+"/events?user_id=abc", nil), 403, "forbidden", "")
		wantStatus(t, other.do("GET", fmt.Sprintf("%s/events?user_id=%d", testBase, otherID), nil), 200)
		admin := e.admin()
		r = admin.do("GET", fmt.Sprintf("%s/events?user_id=%d", testBase, id), nil)
		wantStatus(t, r, 200)
		decodeJSON(t, r.raw, &page)
		if page.Pages != 2 || page.Items[0].UserID != id {
			t.Fatalf("admin view %s", r.raw)
		}
		wantError(t, admin.do("GET", testBase+"/events?user_id=abc", nil), 400, "invalid_id", "")
		if strings.Contains(string(r.raw), "correct horse") || strings.Contains(string(r.raw), "wrong 1") {
			t.Fatal("an event holds a password")
		}
	})
}

// TestPasswordChangeEndsAccessInStrictMode: a password change or reset
// revokes sessions, so in strict mode their access tokens fail at once; both
// are recorded in the security log.
func TestPasswordChangeEndsAccessInStrictMode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Strict = true })
		c := e.client()
		id := userID(c.register("pwd@example.com", "pwdchange", "correct horse battery"))
		other := e.client()
		wantStatus(t, other.post("/login", map[string]string{"login": "pwdchange", "password": "correct horse battery"}), 200)
		wantStatus(t, other.do("GET", "/api/me", nil), 200)

		wantStatus(t, c.do(http.MethodPut, testBase+"/password", map[string]string{
			"old_password": "correct horse battery", "password1": "new staple battery", "password2": "new staple battery"}), 200)
		wantError(t, other.do("GET", "/api/me", nil), 401, "unauthorized", "")
		wantStatus(t, c.do("GET", "/api/me", nil), 200) // the session that changed it stays
		if evs := eventsOf(t, db, id, EventPasswordChange); len(evs) != 1 || evs[0].SessionID != sidOf(t, c) {
			t.Fatalf("password change events %+v", evs)
		}

		wantStatus(t, e.client().post("/forgot_password", map[string]string{"email": "pwd@example.com"}), 200)
		var token string
		deadline := time.Now().Add(10 * time.Second)
		for token == "" {
			for i := 1; i <= e.mail.count(); i++ {
				if m := e.mail.wait(t, i); strings.Contains(m.Text, "/reset_password?token=") {
					token = linkToken(t, m.Text, "https://app.example/reset_password?token=")
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("no reset mail")
			}
			time.Sleep(5 * time.Millisecond)
		}
		wantStatus(t, e.client().post("/password/"+token, map[string]string{"password1": "third fine phrase", "password2": "third fine phrase"}), 200)
		wantError(t, c.do("GET", "/api/me", nil), 401, "unauthorized", "")
		if len(eventsOf(t, db, id, EventPasswordReset)) != 1 {
			t.Fatal("password reset not recorded")
		}
	})
}
