package authgin

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// testMailMessage is a confirmation-like mail with a link carrying token.
func testMailMessage(t *testing.T, to, token string) Message {
	t.Helper()
	o := testMailOptions()
	c, err := newMailComposer(&o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.confirmation(to, "alice", o.link(linkConfirm, token))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSMTPMailerDeliversMultipart(t *testing.T) {
	for _, mode := range []SMTPTLS{SMTPTLSNone, SMTPTLSStartTLS, SMTPTLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			opts := testSMTPOptions{TLS: mode}
			if mode != SMTPTLSNone {
				opts.Username, opts.Password = "mailer", "s3cret pass"
			}
			srv := newTestSMTPServer(t, opts)
			if err := srv.mailer(t).Send(context.Background(), testMailMessage(t, "alice@example.com", "tok-123")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			m := srv.waitMails(t, 1)[0]
			if mode != SMTPTLSNone && srv.authed.Load() != 1 {
				t.Errorf("AUTH PLAIN exchanges = %d, want 1", srv.authed.Load())
			}
			if m.EnvelopeFrom != "no-reply@authgin.test" {
				t.Errorf("MAIL FROM = %q", m.EnvelopeFrom)
			}
			if len(m.EnvelopeTo) != 1 || m.EnvelopeTo[0] != "alice@example.com" {
				t.Errorf("RCPT TO = %q", m.EnvelopeTo)
			}
			from, err := mail.ParseAddress(m.Header.Get("From"))
			if err != nil || from.Name != "Example Shop" || from.Address != "no-reply@authgin.test" {
				t.Errorf("From = %q (%v), want display name and address", m.Header.Get("From"), err)
			}
			if got := m.Header.Get("To"); !strings.Contains(got, "alice@example.com") {
				t.Errorf("To = %q", got)
			}
			if m.Subject != "Confirm email" {
				t.Errorf("Subject = %q", m.Subject)
			}
			if m.Header.Get("Date") == "" || !strings.HasSuffix(strings.Trim(m.Header.Get("Message-Id"), "<>"), "@authgin.test") {
				t.Errorf("Date = %q, Message-Id = %q", m.Header.Get("Date"), m.Header.Get("Message-Id"))
			}
			if m.ContentType != "multipart/alternative" {
				t.Errorf("Content-Type = %q, want multipart/alternative", m.ContentType)
			}
			const link = "https://shop.example/app/confirm?token=tok-123"
			if !strings.Contains(m.Text, link) {
				t.Errorf("text part lacks %s:\n%s", link, m.Text)
			}
			if !strings.Contains(m.HTML, `href="`+link+`"`) {
				t.Errorf("HTML part lacks the link:\n%s", m.HTML)
			}
			if got := mailToken(t, m); got != "tok-123" {
				t.Errorf("token in link = %q", got)
			}
		})
	}
}

func TestSMTPMailerTextOnlyAndConfigDisplayName(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{})
	cfg := srv.config()
	cfg.From = "Fallback Name <no-reply@authgin.test>"
	mailer, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = mailer.Send(context.Background(), Message{To: "bob@example.com", Subject: "Héllo", Text: "plain body"})
	if err != nil {
		t.Fatal(err)
	}
	m := srv.waitMails(t, 1)[0]
	from, _ := mail.ParseAddress(m.Header.Get("From"))
	if from == nil || from.Name != "Fallback Name" {
		t.Errorf("From = %q, want the config's display name", m.Header.Get("From"))
	}
	if m.ContentType != "text/plain" || strings.TrimSpace(m.Text) != "plain body" || m.Subject != "Héllo" {
		t.Errorf("got %q %q %q", m.ContentType, m.Text, m.Subject)
	}
}

func TestSMTPMailerAuthFailureIsPermanent(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{TLS: SMTPTLSStartTLS, Username: "mailer", Password: "right"})
	cfg := srv.config()
	cfg.Password = "wrong"
	mailer, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = mailer.Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"})
	var me *MailError
	if !errors.As(err, &me) || me.Transient || me.Code != 535 {
		t.Fatalf("err = %#v, want permanent MailError 535", err)
	}
	if transientMailError(err) {
		t.Error("an authentication failure must not be retried")
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error text leaks the password: %v", err)
	}
}

func TestSMTPMailerRejectsUntrustedCertificate(t *testing.T) {
	for _, mode := range []SMTPTLS{SMTPTLSStartTLS, SMTPTLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			srv := newTestSMTPServer(t, testSMTPOptions{TLS: mode, Username: "u", Password: "p"})
			cfg := srv.config()
			cfg.TLSConfig = nil // system roots do not trust the self-signed certificate
			mailer, err := NewSMTPMailer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = mailer.Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"})
			var me *MailError
			if !errors.As(err, &me) || me.Transient {
				t.Fatalf("err = %v, want a permanent MailError", err)
			}
			if srv.authed.Load() != 0 || len(srv.messages()) != 0 {
				t.Error("credentials or mail went to an unverified server")
			}
		})
	}
}

func TestSMTPMailerStartTLSIsMandatory(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{}) // offers no STARTTLS
	cfg := srv.config()
	cfg.TLS = SMTPTLSStartTLS
	cfg.Username, cfg.Password = "u", "p"
	mailer, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := mailer.Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"}); err == nil {
		t.Fatal("Send fell back to a plain connection")
	}
	if len(srv.messages()) != 0 {
		t.Error("mail sent in clear")
	}
}

func TestSMTPMailerClassifiesReplies(t *testing.T) {
	for _, tc := range []struct {
		phase     string
		code      int
		transient bool
	}{
		{phaseMail, 421, true},
		{phaseRcpt, 451, true},
		{phaseData, 452, true},
		{phaseRcpt, 550, false},
		{phaseData, 554, false},
	} {
		t.Run(tc.phase+"-"+string(rune('0'+tc.code/100)), func(t *testing.T) {
			srv := newTestSMTPServer(t, testSMTPOptions{})
			srv.failNext(tc.phase, tc.code, 1)
			err := srv.mailer(t).Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"})
			var me *MailError
			if !errors.As(err, &me) || me.Code != tc.code || me.Transient != tc.transient {
				t.Fatalf("err = %v (%#v), want code %d transient %v", err, me, tc.code, tc.transient)
			}
		})
	}
}

func TestSMTPMailerTimeoutIsTransient(t *testing.T) {
	host, port, accepted := newSilentServer(t)
	mailer, err := NewSMTPMailer(SMTPConfig{Host: host, Port: port, From: "a@authgin.test", TLS: SMTPTLSNone,
		Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = mailer.Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"})
	var me *MailError
	if !errors.As(err, &me) || !me.Transient {
		t.Fatalf("err = %v, want a transient MailError", err)
	}
	if accepted.Load() != 1 {
		t.Errorf("connections = %d, want 1", accepted.Load())
	}
}

func TestSMTPMailerHonoursContext(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{})
	srv.stallNext(phaseData, 1)
	cfg := srv.config()
	cfg.Timeout = time.Minute // only ctx can end the stalled conversation
	mailer, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = mailer.Send(ctx, Message{To: "a@example.com", Subject: "s", Text: "t"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if !transientMailError(err) {
		t.Error("a timed-out attempt should be retryable")
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	err = mailer.Send(ctx, Message{To: "a@example.com", Subject: "s", Text: "t"})
	if !errors.Is(err, context.Canceled) || transientMailError(err) {
		t.Fatalf("err = %v, want a non-retryable context.Canceled", err)
	}
}

func TestNewSMTPMailerValidates(t *testing.T) {
	ok := SMTPConfig{Host: "smtp.example.com", From: "no-reply@example.com"}
	for _, tc := range []struct {
		name  string
		edit  func(*SMTPConfig)
		field string
	}{
		{"no host", func(c *SMTPConfig) { c.Host = "" }, "SMTPConfig.Host"},
		{"host with port", func(c *SMTPConfig) { c.Host = "smtp.example.com:25" }, "SMTPConfig.Host"},
		{"bad port", func(c *SMTPConfig) { c.Port = 70000 }, "SMTPConfig.Port"},
		{"negative port", func(c *SMTPConfig) { c.Port = -1 }, "SMTPConfig.Port"},
		{"bad tls", func(c *SMTPConfig) { c.TLS = "ssl3" }, "SMTPConfig.TLS"},
		{"auth in clear", func(c *SMTPConfig) { c.TLS, c.Username, c.Password = SMTPTLSNone, "u", "p" }, "SMTPConfig.Username"},
		{"password alone", func(c *SMTPConfig) { c.Password = "p" }, "SMTPConfig.Password"},
		{"no from", func(c *SMTPConfig) { c.From = "" }, "SMTPConfig.From"},
		{"bad from", func(c *SMTPConfig) { c.From = "not an address" }, "SMTPConfig.From"},
		{"negative timeout", func(c *SMTPConfig) { c.Timeout = -time.Second }, "SMTPConfig.Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := NewSMTPMailer(c)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want one naming %s", err, tc.field)
			}
		})
	}
	for _, c := range []SMTPConfig{
		ok,
		{Host: "::1", From: "a@b.example", TLS: "TLS", Username: "u", Password: "p"},
		{Host: "10.0.0.1", Port: 2525, From: "A <a@b.example>", TLS: SMTPTLSNone},
	} {
		if _, err := NewSMTPMailer(c); err != nil {
			t.Errorf("NewSMTPMailer(%+v): %v", c, err)
		}
	}
}

func ExampleNewSMTPMailer() {
	mailer, err := NewSMTPMailer(SMTPConfig{
		Host:     "smtp.example.com",
		Username: "app",
		Password: "secret",
		From:     "no-reply@example.com",
		TLS:      SMTPTLSStartTLS, // port 587; SMTPTLSImplicit is port 465
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = Options{Mailer: mailer, DisplayName: "Example Shop", Site: "Example"}

	// Credentials never travel in clear:
	_, err = NewSMTPMailer(SMTPConfig{Host: "localhost", From: "a@example.com", TLS: SMTPTLSNone, Username: "app"})
	fmt.Println(err)
	// Output:
	// authgin: SMTPConfig.Username requires TLS (starttls or tls): credentials are never sent in clear
}
