package authgin

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

func TestLimitDelayAfter(t *testing.T) {
	l := DefaultLimits().LoginAccount
	want := map[int64]time.Duration{1: 0, 4: 0, 5: time.Second, 6: 2 * time.Second, 7: 4 * time.Second,
		14: 512 * time.Second, 15: 15 * time.Minute, 99: 15 * time.Minute, 1 << 40: 15 * time.Minute}
	for n, d := range want {
		if got := l.delayAfter(n); got != d {
			t.Errorf("delayAfter(%d) = %s, want %s", n, got, d)
		}
	}
	if d := (Limit{Max: 10, Window: time.Hour, Delay: time.Second, MaxDelay: time.Minute}).delayAfter(1); d != time.Second {
		t.Errorf("Free 0: first failure waits %s, want 1s", d)
	}
	if d := (Limit{Max: 10, Window: time.Hour}).delayAfter(9); d != 0 {
		t.Errorf("counting limit delays %s", d)
	}
}

func TestLimitsValidated(t *testing.T) {
	db := openTestDB(t, "sqlite")
	for _, tc := range []struct {
		l    Limits
		want string
	}{
		{Limits{RegisterIP: Limit{Max: 5}}, "Options.Limits.RegisterIP: needs a positive Window"},
		{Limits{LoginAccount: Limit{Max: 5, Window: time.Hour, Delay: time.Minute, MaxDelay: time.Second}}, "Options.Limits.LoginAccount: needs a MaxDelay"},
		{Limits{TokenGuessIP: Limit{Window: time.Hour}}, "Options.Limits.TokenGuessIP: needs a positive Max"},
		{Limits{ResetMailIP: Limit{Max: 1, Window: time.Hour, Lockout: -1}}, "Options.Limits.ResetMailIP"},
	} {
		_, err := Register(gin.New().Group("/"), Options{DB: db, Secret: testSecret, BaseURL: "https://app.example", Limits: tc.l})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.l, err, tc.want)
		}
	}
	// Max < 0 turns a limit off; zero limits take the defaults.
	o, err := Options{DB: db, Secret: testSecret, BaseURL: "https://app.example",
		Limits: Limits{RegisterIP: Limit{Max: -1}}}.withDefaults()
	if err != nil || o.Limits.RegisterIP.Max != -1 || o.Limits.LoginAccount != DefaultLimits().LoginAccount {
		t.Fatalf("%+v %v", o.Limits, err)
	}
}

// loginSeq makes one login and returns what a client can observe of it:
// status, Retry-After and body.
func loginSeq(c *client, login, password string) string {
	r := c.post("/login", map[string]string{"login": login, "password": password})
	return strconv.Itoa(r.status) + " " + r.header.Get("Retry-After") + " " + string(r.raw)
}

// TestLoginAccountBackoff: consecutive failures on one account slow
// further tries from the client down with doubling delays; the right
// password after a delay gets in and forgets the failures; an unknown name
// behaves identically; the account's email and username share the count.
func TestLoginAccountBackoff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Limits.LoginIP = Limit{Max: -1} })
		e.client().register("vic@example.com", "vic", "correct horse battery")
		c := e.client()
		const pw = "correct horse battery"
		// The same sequence for the real account and an unknown one.
		for _, login := range []string{"vic", "nobody"} {
			var seq []string
			for range 5 {
				seq = append(seq, loginSeq(c, login, "wrong password"))
			}
			for _, wait := range []int{1, 2, 4, 8} {
				// During the delay even the right password is refused, before
				// any hashing.
				seq = append(seq, loginSeq(c, login, pw))
				e.clock.Advance(time.Duration(wait)*time.Second - time.Millisecond)
				seq = append(seq, loginSeq(c, login, pw))
				e.clock.Advance(time.Millisecond)
				seq = append(seq, loginSeq(c, login, "wrong password"))
			}
			got := strings.Join(seq, "\n")
			want := strings.Repeat("401  {\"code\":\"invalid_credentials\",\"detail\":\"Invalid credentials\"}\n", 5)
			tooMany := "429 %d {\"code\":\"too_many_requests\",\"detail\":\"Too many requests\"}\n"
			for _, wait := range []int{1, 2, 4, 8} {
				want += strings.NewReplacer("%d", strconv.Itoa(wait)).Replace(tooMany)
				want += strings.NewReplacer("%d", "1").Replace(tooMany) // 1 ms left, rounded up
				want += "401  {\"code\":\"invalid_credentials\",\"detail\":\"Invalid credentials\"}\n"
			}
			if got+"\n" != want {
				t.Fatalf("%s:\n%s\nwant\n%s", login, got, want)
			}
		}
		// The email spelling shares the account's count: the 16 s delay of
		// vic's ninth failure has a second left after nobody's 15 s.
		r := c.post("/login", map[string]string{"login": "VIC@example.com", "password": pw})
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q, want 1", r.header.Get("Retry-After"))
		}
		// After the delay the right password gets in and resets the count.
		e.clock.Advance(time.Second)
		wantStatus(t, c.post("/login", map[string]string{"login": "VIC@example.com", "password": pw}), 200)
		for range 4 {
			wantStatus(t, c.post("/login", map[string]string{"login": "vic", "password": "wrong"}), 401)
		}
		wantStatus(t, c.post("/login", map[string]string{"login": "vic@example.com", "password": pw}), 200)
		// No address is stored in the throttle table.
		var rows []throttleRow
		db.Find(&rows)
		for _, r := range rows {
			if strings.Contains(r.Key, "vic") || strings.Contains(r.Key, "nobody") {
				t.Fatalf("throttle key %q names the login", r.Key)
			}
		}
	})
}

// TestLoginAccountCap: the delay stops doubling at 15 minutes; 100
// failures in 24 hours make tries wait for the rest of that day; then the
// right password still gets in.
func TestLoginAccountCap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Limits.LoginIP = Limit{Max: -1} })
		e.client().register("cap@example.com", "cap", "correct horse battery")
		c := e.client()
		start := e.clock.Now()
		maxWait := 0
		wrong := func() *response { return c.post("/login", map[string]string{"login": "cap", "password": "wrong"}) }
		for failures := 1; failures <= 100; failures++ {
			wantStatus(t, wrong(), 401)
			if failures < 5 {
				continue
			}
			r := wrong() // during the delay: refused, not counted
			wantError(t, r, 429, "too_many_requests", "")
			wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
			if failures < 100 {
				maxWait = max(maxWait, wait)
				if wait > 900 {
					t.Fatalf("failure %d: Retry-After %d over the 15-minute cap", failures, wait)
				}
			} else if want := int((start.Add(24*time.Hour).Sub(e.clock.Now()) + time.Second - 1) / time.Second); wait != want || wait <= 900 {
				t.Fatalf("after 100 failures Retry-After %d, want the rest of the window %d", wait, want)
			}
			e.clock.Advance(time.Duration(wait) * time.Second)
		}
		if maxWait != 900 {
			t.Fatalf("largest delay %d s, want 900", maxWait)
		}
		var th throttleRow
		db.Where("bucket = ?", loginBucketKeys(t, db, "cap", "127.0.0.1")[0]).First(&th)
		if th.Count != 100 {
			t.Fatalf("count %d, want 100", th.Count)
		}
		wantStatus(t, c.post("/login", map[string]string{"login": "cap", "password": "correct horse battery"}), 200)
	})
}

// TestLoginAccountVictimNotSlowedDown: failures from other addresses
// never stop the account's owner from a fresh address, while an address
// that has failed itself waits the account-wide delay once guessing is
// spread over many addresses (each gets one try). Over HTTP, the client
// IPs set by a trusted proxy.
func TestLoginAccountVictimNotSlowedDown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newProxyEnv(t, db, func(r *gin.Engine) { r.SetTrustedProxies([]string{"127.0.0.1"}) })
		const pw = "correct horse battery"
		e.client().register("vic@example.com", "vic", pw)
		c := e.client()
		login := func(ip, password string) *response {
			return c.post("/login", map[string]string{"login": "vic", "password": password}, "X-Forwarded-For", ip)
		}
		count := func(key string) int64 {
			var row throttleRow
			db.Where("bucket = ?", key).Limit(1).Find(&row)
			return row.Count
		}
		// One attacker keeps the account's backoff hot...
		for range 5 {
			wantStatus(t, login("198.51.100.1", "wrong password"), 401)
		}
		wantError(t, login("198.51.100.1", pw), 429, "too_many_requests", "")
		// ...and the owner, elsewhere, gets in at once.
		wantStatus(t, login("203.0.113.7", pw), 200)

		// Guessing spread over addresses: ten failures bring the account's
		// delay (LoginAccountAllIPs: 10 free).
		for i := range 10 {
			wantStatus(t, login("192.0.2."+strconv.Itoa(i+1), "wrong password"), 401)
		}
		account := loginBucketKeys(t, db, "vic", "192.0.2.1")[1]
		if n := count(account); n != 10 {
			t.Fatalf("account-wide count %d, want 10", n)
		}
		// A fresh address still gets its try checked; the account's running
		// delay does not count it.
		wantStatus(t, login("192.0.2.11", "wrong password"), 401)
		wantStatus(t, login("203.0.113.8", pw), 200)
		for i := range 10 {
			wantStatus(t, login("192.0.2."+strconv.Itoa(i+21), "wrong password"), 401)
		}
		// An address that failed before waits, even with the right password,
		// and the refused try is not counted against it.
		r := login("192.0.2.21", pw)
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q, want the account's 1 s", r.header.Get("Retry-After"))
		}
		if n := count(loginBucketKeys(t, db, "vic", "192.0.2.21")[0]); n != 1 {
			t.Fatalf("the refused try was counted: %d", n)
		}
		e.clock.Advance(time.Second)
		wantStatus(t, login("192.0.2.21", pw), 200)
	})
}

func TestRegisterIPThrottle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Limits.RegisterIP = Limit{Max: 3, Window: time.Hour} })
		c := e.client()
		c.register("r1@example.com", "reg1", "correct horse battery")
		wantStatus(t, c.post("/register", map[string]string{"email": "bad"}), 400) // failures count too
		c.register("r2@example.com", "reg2", "correct horse battery")
		r := c.post("/register", map[string]string{"email": "r3@example.com", "username": "reg3",
			"password1": "correct horse battery", "password2": "correct horse battery"})
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") != "3600" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		e.clock.Advance(40 * time.Minute)
		if r := c.post("/register", map[string]string{}); r.header.Get("Retry-After") != "1200" {
			t.Fatalf("Retry-After %q, want 1200", r.header.Get("Retry-After"))
		}
		e.clock.Advance(20 * time.Minute)
		c.register("r3@example.com", "reg3", "correct horse battery")
	})
}

func TestRefreshSessionThrottle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Limits.RefreshSession = Limit{Max: 3, Window: time.Minute} })
		a := e.client()
		a.register("rs@example.com", "rsx", "correct horse battery")
		b := e.client()
		wantStatus(t, b.post("/login", map[string]string{"login": "rsx", "password": "correct horse battery"}), 200)
		for range 3 {
			wantStatus(t, a.post("/token/refresh", nil), 200)
		}
		r := a.post("/token/refresh", nil)
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") != "60" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		// Per session: the other login of the same user is unaffected.
		wantStatus(t, b.post("/token/refresh", nil), 200)
		// Unknown refresh tokens are 401, never counted against anyone.
		x := e.client()
		x.hdr.Set("Cookie", refreshCookie+"=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		wantError(t, x.post("/token/refresh", nil), 401, "invalid_token", "")
		e.clock.Advance(time.Minute)
		wantStatus(t, a.post("/token/refresh", nil), 200)
	})
}

func TestTokenGuessThrottle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) {
			o.Limits.TokenGuessIP = Limit{Max: 3, Window: 10 * time.Minute, Lockout: 10 * time.Minute}
		})
		e.client().register("tg@example.com", "tgx", "correct horse battery")
		token := linkToken(t, e.mail.wait(t, 1).Text, "/confirm?token=")
		g := e.client()
		// Confirmation and reset tokens share the count.
		for i := range 2 {
			wantError(t, g.post("/confirm/guess"+strconv.Itoa(i), nil), 403, "invalid_confirmation_token", "")
		}
		pw := map[string]string{"password1": "new horse battery", "password2": "new horse battery"}
		r := g.post("/password/guess", pw)
		if r.status != 404 || r.str("code") != ErrInvalidResetToken.Code {
			t.Fatalf("reset guess: %d %s", r.status, r.raw)
		}
		wantError(t, g.post("/password/guess2", pw), 429, "too_many_requests", "")
		// Over the limit even the right token waits, and is not used up.
		r = g.post("/confirm/"+token, nil)
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") != "600" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		e.clock.Advance(10 * time.Minute)
		wantStatus(t, g.post("/confirm/"+token, nil), 200)
		if !e.account("tgx").Confirmed {
			t.Fatal("not confirmed")
		}
	})
}

func TestConfirmMailIPThrottle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Limits.ConfirmMailIP = Limit{Max: 3, Window: time.Hour} })
		a, b := e.client(), e.client()
		a.register("cm1@example.com", "cm1", "correct horse battery")
		b.register("cm2@example.com", "cm2", "correct horse battery")
		wantStatus(t, a.post("/confirm", nil), 200)
		wantStatus(t, a.post("/confirm", nil), 200)
		wantStatus(t, b.post("/confirm", nil), 200)
		// A fourth mail from the same IP, for a user under their own limit.
		r := b.post("/confirm", nil)
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") != "3600" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	})
}

// TestAttemptConcurrent: a burst of tries on one login name at the moment
// a delay applies lets exactly one through (compare-and-set), on every
// backend.
func TestAttemptConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		thr, _ := migratedThrottler(t, db)
		l := Limit{Max: 100, Window: time.Hour, Free: 1, Delay: time.Minute, MaxDelay: time.Hour}
		const n = 20
		waits := make(chan time.Duration, n)
		errs := make(chan error, n)
		start := make(chan struct{})
		for range n {
			go func() {
				<-start
				w, err := thr.attempt(context.Background(), "login:account:burst", l)
				waits <- w
				errs <- err
			}()
		}
		close(start)
		through := 0
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			if <-waits == 0 {
				through++
			}
		}
		if through != 1 {
			t.Fatalf("%d tries got through, want 1", through)
		}
	})
}

// TestAttemptConcurrentNoDelay: a burst of tries on one login name with no
// delay due lets every try through and counts each one: a try never waits
// for losing a race to the others.
func TestAttemptConcurrentNoDelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		thr, _ := migratedThrottler(t, db)
		l := Limit{Max: 1000, Window: time.Hour, Free: 100, Delay: time.Minute, MaxDelay: time.Hour}
		const n = 40
		var wg sync.WaitGroup
		start := make(chan struct{})
		waits := make(chan time.Duration, n)
		for range n {
			wg.Go(func() {
				<-start
				w, err := thr.attempt(context.Background(), "login:account:crowd", l)
				if err != nil {
					t.Error(err)
				}
				waits <- w
			})
		}
		close(start)
		wg.Wait()
		close(waits)
		for w := range waits {
			if w != 0 {
				t.Fatalf("a try waits %v with %d of %d free tries used", w, n, l.Free)
			}
		}
		var th throttleRow
		if err := db.Where("bucket = ?", "login:account:crowd").First(&th).Error; err != nil || th.Count != n {
			t.Fatalf("count %d (%v), want %d", th.Count, err, n)
		}
	})
}

// TestAttemptFollowsLimit: random tries, pauses and successes against a
// plain model of a backoff limit (count in a window, the delays of
// delayAfter, the window's end at Max) give the same waits, for limits
// with and without delays, on every backend.
func TestAttemptFollowsLimit(t *testing.T) {
	limits := []Limit{
		{Max: 100, Window: 24 * time.Hour, Free: 5, Delay: time.Second, MaxDelay: 15 * time.Minute},
		{Max: 6, Window: time.Minute, Free: 0, Delay: 1500 * time.Millisecond, MaxDelay: 5 * time.Second},
		{Max: 3, Window: 10 * time.Second},
		{Max: 1, Window: time.Second, Delay: time.Second, MaxDelay: time.Second},
	}
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		thr, clock := migratedThrottler(t, db)
		ctx := context.Background()
		for i, l := range limits {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			key := "login:account:model" + strconv.Itoa(i)
			var m struct {
				found               bool
				start, count, until int64
			}
			for step := range 400 {
				switch r := rng.IntN(10); {
				case r == 0:
					if err := thr.reset(ctx, key); err != nil {
						t.Fatal(err)
					}
					m.found = false
					continue
				case r < 4:
					clock.Advance(time.Duration(rng.Int64N(int64(2 * max(l.Delay, l.Window/4)))))
				}
				now := clock.Now().UnixMilli()
				var want time.Duration
				if m.found && m.until > now {
					want = time.Duration(m.until-now) * time.Millisecond
				} else {
					if !m.found || m.start <= now-l.Window.Milliseconds() {
						m.start, m.count = now, 0
					}
					m.found, m.count = true, m.count+1
					m.until = 0
					if m.count >= l.Max {
						m.until = m.start + l.Window.Milliseconds()
					} else if d := l.delayAfter(m.count); d > 0 {
						m.until = now + d.Milliseconds()
					}
				}
				got, err := thr.attempt(ctx, key, l)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("limit %d step %d (count %d): wait %v, want %v", i, step, m.count, got, want)
				}
			}
		}
	})
}

// migratedThrottler returns a throttler on db, migrated, with a fake clock.
func migratedThrottler(t *testing.T, db *gorm.DB) (*throttler, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	return newThrottler(migratedStore(t, db), clock.Now), clock
}

// TestTokenGuessConcurrent: a burst of wrong tokens from one IP gets at
// most Max of them looked at; the rest are 429 before any lookup, because
// each try is counted before its token is read. The confirmations table is
// locked while the burst arrives, so that every guess admitted so far
// waits at its lookup: a check that counted only after the lookup would
// admit them all.
func TestTokenGuessConcurrent(t *testing.T) {
	forEachBackendDatabase(t, func(t *testing.T, open func(t *testing.T) *gorm.DB) {
		const max, n = 4, 16
		e := newEnv(t, open(t), func(o *Options) {
			o.Limits.TokenGuessIP = Limit{Max: max, Window: 10 * time.Minute, Lockout: 10 * time.Minute}
		})
		release := lockConfirmations(t, open(t))
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			c := e.client()
			wg.Go(func() { statuses <- c.post("/confirm/guess"+strconv.Itoa(i), nil).status })
		}
		time.Sleep(time.Second) // every request reaches the throttle or the lock
		release()
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		if counts[http.StatusForbidden] > max || counts[http.StatusTooManyRequests] != n-counts[http.StatusForbidden] {
			t.Errorf("statuses %v: %d guesses looked at, want at most %d and 429 for the others", counts, counts[http.StatusForbidden], max)
		}
	})
}

// lockConfirmations keeps other connections from reading the
// email_confirmations table (on SQLite: from beginning a transaction, as
// confirming does) until release.
func lockConfirmations(t *testing.T, db *gorm.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lock, unlock string
	switch db.Dialector.Name() {
	case "sqlite":
		lock, unlock = "BEGIN IMMEDIATE", "ROLLBACK"
	case "postgres":
		lock, unlock = "BEGIN; LOCK TABLE email_confirmations IN ACCESS EXCLUSIVE MODE", "ROLLBACK"
	case "mysql":
		lock, unlock = "LOCK TABLES email_confirmations WRITE", "UNLOCK TABLES"
	}
	if _, err := conn.ExecContext(ctx, lock); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, unlock); err != nil {
				t.Error(err)
			}
			conn.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// TestTokenGuessValidGivesBack: a valid token's try is given back, so only
// failures use up TokenGuessIP.
func TestTokenGuessValidGivesBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) {
			o.Limits.TokenGuessIP = Limit{Max: 3, Window: 10 * time.Minute, Lockout: 10 * time.Minute}
		})
		e.client().register("gb@example.com", "gbx", "correct horse battery")
		token := linkToken(t, e.mail.wait(t, 1).Text, "/confirm?token=")
		g := e.client()
		for i := range 2 {
			wantError(t, g.post("/confirm/guess"+strconv.Itoa(i), nil), 403, "invalid_confirmation_token", "")
		}
		wantStatus(t, g.post("/confirm/"+token, nil), 200)
		// Two failures so far: a third is still looked at, a fourth not.
		wantError(t, g.post("/confirm/guess2", nil), 403, "invalid_confirmation_token", "")
		wantError(t, g.post("/confirm/guess3", nil), 429, "too_many_requests", "")
	})
}
