package main

import (
	"net"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
)

// TestBrowserSocialLogin clicks "Sign in with oidc" on the example's
// front end, pointed at an OpenID provider in process (mockoidc on
// loopback), and lands on the start page logged in as the provider's
// user; a second click finds the same account.
func TestBrowserSocialLogin(t *testing.T) {
	op, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Shutdown() })

	l := listen(t, "127.0.0.1:0")
	base := "http://" + l.Addr().String()
	exampleEnv(t, map[string]string{
		"DATABASE_URL": t.TempDir() + "/social.db", "BASE_URL": base,
		"OIDC_ISSUER": op.Issuer(), "OIDC_CLIENT_ID": op.ClientID, "OIDC_CLIENT_SECRET": op.ClientSecret,
	})
	startExample(t, l, false, time.Minute, nil)
	ctx := newBrowser(t, 2*time.Minute, false)

	op.QueueUser(&mockoidc.MockUser{Subject: "ada-at-idp", Email: "ada@idp.example", EmailVerified: true, PreferredUsername: "ada"})
	var who string
	browse(t, ctx, "open the start page", chromedp.Navigate(base+"/"), state("signed-out"),
		chromedp.WaitVisible(`#social-buttons a[data-provider="oidc"]`, chromedp.ByQuery))
	browse(t, ctx, "sign in with the provider", chromedp.Click(`#social-buttons a[data-provider="oidc"]`, chromedp.ByQuery),
		state("signed-in"), chromedp.Poll(`document.getElementById("me-username").textContent === "ada"`, nil),
		chromedp.Text("#me-id", &who, chromedp.ByQuery))
	browse(t, ctx, "see the linked provider", chromedp.Poll(`document.getElementById("linked").textContent.includes("linked (ada@idp.example)")`, nil),
		chromedp.Poll(`document.getElementById("me-confirmed").textContent === "yes"`, nil))

	browse(t, ctx, "log out", chromedp.Click("#logout", chromedp.ByID), state("signed-out"))
	op.QueueUser(&mockoidc.MockUser{Subject: "ada-at-idp", Email: "ada@idp.example", EmailVerified: true, PreferredUsername: "ada"})
	var again string
	browse(t, ctx, "sign in again", chromedp.WaitVisible(`#social-buttons a[data-provider="oidc"]`, chromedp.ByQuery),
		chromedp.Click(`#social-buttons a[data-provider="oidc"]`, chromedp.ByQuery),
		state("signed-in"), chromedp.Text("#me-id", &again, chromedp.ByQuery))
	if again != who {
		t.Fatalf("the second sign-in is user %s, the first %s", again, who)
	}
}
