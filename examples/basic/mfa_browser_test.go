package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestBrowserSecondFactors drives the front end in Chromium with the
// DevTools virtual authenticator (a platform authenticator with resident
// keys and user verification): turn on an authenticator app from its QR
// page, log in with a code, register a passkey, log in with the passkey
// alone, and use it as the second factor of a password login.
func TestBrowserSecondFactors(t *testing.T) {
	for backend, database := range testDatabases(t) {
		t.Run(backend, func(t *testing.T) {
			l := listen(t, "127.0.0.1:0")
			// localhost, not 127.0.0.1: an IP address is no WebAuthn RP ID.
			base := "http://localhost:" + portOf(l)
			exampleEnv(t, map[string]string{"DATABASE_URL": database(t), "BASE_URL": base})
			startExample(t, l, false, time.Minute, nil)
			ctx := newBrowser(t, 3*time.Minute, false)
			const pw = "correct horse battery"

			browse(t, ctx, "add a virtual authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
				if err := webauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
					return err
				}
				_, err := webauthn.AddVirtualAuthenticator(&webauthn.VirtualAuthenticatorOptions{
					Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
					HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
				}).Do(ctx)
				return err
			}))
			browse(t, ctx, "register", chromedp.Navigate(base+"/"), state("signed-out"), fill("#register-form", map[string]string{
				"email": "ada@example.com", "username": "ada", "password1": pw, "password2": pw,
			}), state("signed-in"), messageContains("Welcome, ada"))

			// The authenticator app.
			var secret, qr string
			browse(t, ctx, "set up an authenticator app", chromedp.Click("#totp-setup", chromedp.ByID),
				chromedp.WaitVisible("#totp-setup-box", chromedp.ByID),
				chromedp.Poll(`document.getElementById("totp-secret").textContent !== ""`, nil),
				chromedp.Text("#totp-secret", &secret, chromedp.ByID),
				chromedp.AttributeValue("#totp-qr", "src", &qr, nil, chromedp.ByID))
			if !strings.HasPrefix(qr, "data:image/png;base64,") {
				t.Fatalf("QR code %.40q", qr)
			}
			code := func(ahead time.Duration) string {
				c, err := totp.GenerateCode(secret, time.Now().Add(ahead))
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			var codes int
			browse(t, ctx, "turn it on", fill("#totp-enable-form", map[string]string{"code": code(0)}),
				messageContains("authenticator app is on"),
				chromedp.Evaluate(`document.querySelectorAll("#recovery-codes li").length`, &codes))
			if codes != 10 {
				t.Fatalf("%d recovery codes shown", codes)
			}
			browse(t, ctx, "log out", chromedp.Click("#logout", chromedp.ByID), state("signed-out"))
			browse(t, ctx, "the password alone does not log in",
				fill("#login-form", map[string]string{"login": "ada", "password": pw}),
				chromedp.WaitVisible("#mfa-form", chromedp.ByID), messageContains("Enter the code"), state("signed-out"))
			wrong := "000000"
			for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second, time.Minute} {
				if code(d) == wrong {
					wrong = "999999"
				}
			}
			browse(t, ctx, "a wrong code is refused", fill("#mfa-form", map[string]string{"code": wrong}),
				messageContains("Invalid code"), state("signed-out"))
			// The next step's code: the current one was used to turn the app on.
			browse(t, ctx, "log in with the code", fill("#mfa-form", map[string]string{"code": code(30 * time.Second)}),
				state("signed-in"), messageContains("Logged in as ada"))
			if amr := amrOf(t, ctx); amr != "pwd,otp" {
				t.Fatalf("amr %q after a code", amr)
			}
			browse(t, ctx, "the sessions list shows the second factor",
				chromedp.Poll(`document.getElementById("sessions").textContent.includes("signed in with pwd + otp")`, nil))

			// A passkey.
			browse(t, ctx, "register a passkey", fill("#passkey-form", map[string]string{"name": "Laptop"}),
				messageContains("Passkey added: Laptop"),
				chromedp.Poll(`document.getElementById("passkeys").textContent.includes("Laptop")`, nil))
			browse(t, ctx, "log out", chromedp.Click("#logout", chromedp.ByID), state("signed-out"))
			browse(t, ctx, "log in with the passkey alone", chromedp.Click("#passkey-login", chromedp.ByID),
				state("signed-in"), messageContains("Logged in with a passkey as ada"))
			if amr := amrOf(t, ctx); amr != "hwk" {
				t.Fatalf("amr %q after a passkey login", amr)
			}
			browse(t, ctx, "log out", chromedp.Click("#logout", chromedp.ByID), state("signed-out"))
			browse(t, ctx, "password, then the passkey as second factor",
				fill("#login-form", map[string]string{"login": "ada@example.com", "password": pw}),
				chromedp.WaitVisible("#mfa-passkey", chromedp.ByID), chromedp.Click("#mfa-passkey", chromedp.ByID),
				state("signed-in"), messageContains("Logged in as ada"))
			if amr := amrOf(t, ctx); amr != "pwd,hwk" {
				t.Fatalf("amr %q after a passkey as second factor", amr)
			}
		})
	}
}

// amrOf returns the amr claim of the page's access token, comma-joined.
func amrOf(t *testing.T, ctx context.Context) string {
	t.Helper()
	var amr string
	browse(t, ctx, "read the amr claim", chromedp.Evaluate(
		`fetch("/api/users/token", {method: "POST"}).then((r) => r.json()).then((j) => (j.amr || []).join(","))`,
		&amr, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	return amr
}
