package authgin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// testMailOptions are Options with the mail-related defaults applied.
func testMailOptions() Options {
	return Options{
		BaseURL: "https://shop.example/app/", Site: "Example", DisplayName: "Example Shop",
		ConfirmPath: "/confirm", ResetPath: "/reset_password",
		ConfirmTTL: 48 * time.Hour, ResetTTL: time.Hour,
		Now: func() time.Time { return time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC) },
	}
}

// mailLogBuffer is a goroutine-safe sink for a test logger.
type mailLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *mailLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *mailLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newMailTestLogger() (*slog.Logger, *mailLogBuffer) {
	b := &mailLogBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func TestOptionsLink(t *testing.T) {
	o := testMailOptions()
	for _, tc := range []struct {
		name, kind, token string
		edit              func(*Options)
		want              string
	}{
		{"confirm", linkConfirm, "abc_-XYZ", nil, "https://shop.example/app/confirm?token=abc_-XYZ"},
		{"reset", linkReset, "abc", nil, "https://shop.example/app/reset_password?token=abc"},
		{"escaped", linkConfirm, "a+b/c=&d", nil, "https://shop.example/app/confirm?token=a%2Bb%2Fc%3D%26d"},
		{"path without slash", linkReset, "t", func(o *Options) { o.ResetPath = "#/reset" }, "https://shop.example/app/#/reset?token=t"},
		{"path with query", linkConfirm, "t", func(o *Options) { o.ConfirmPath = "/verify?lang=en" }, "https://shop.example/app/verify?lang=en&token=t"},
		{"builder", linkReset, "t", func(o *Options) {
			o.LinkBuilder = func(kind, token string) string { return "myapp://" + kind + "/" + token }
		}, "myapp://reset/t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := o
			if tc.edit != nil {
				tc.edit(&o)
			}
			if got := o.link(tc.kind, tc.token); got != tc.want {
				t.Errorf("link = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMailComposerDefaults(t *testing.T) {
	o := testMailOptions()
	c, err := newMailComposer(&o)
	if err != nil {
		t.Fatal(err)
	}
	confirm, err := c.confirmation("alice@example.com", "alice", o.link(linkConfirm, "TOK1"))
	if err != nil {
		t.Fatal(err)
	}
	reset, err := c.reset("alice@example.com", "alice", o.link(linkReset, "TOK2"))
	if err != nil {
		t.Fatal(err)
	}
	changed, err := c.passwordChanged("alice@example.com", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m               Message
		subject, link   string
		wantText        []string
		wantHTMLContain string
	}{
		{confirm, "Confirm email", "https://shop.example/app/confirm?token=TOK1", []string{"48 hours", "Example account"}, `href="https://shop.example/app/confirm?token=TOK1"`},
		{reset, "Forgot password", "https://shop.example/app/reset_password?token=TOK2", []string{"1 hour", "Example account"}, `href="https://shop.example/app/reset_password?token=TOK2"`},
		{changed, "Your password was changed", "", []string{"2025-03-01 12:30 UTC", "Example account"}, "2025-03-01 12:30 UTC"},
	} {
		m := tc.m
		if m.To != "alice@example.com" || m.Subject != tc.subject || m.FromName != "Example Shop" {
			t.Errorf("To/Subject/FromName = %q %q %q", m.To, m.Subject, m.FromName)
		}
		if tc.link != "" && !strings.Contains(m.Text, tc.link) {
			t.Errorf("%s: text lacks %s:\n%s", tc.subject, tc.link, m.Text)
		}
		for _, w := range append(tc.wantText, "Hello alice", "Example Shop") {
			if !strings.Contains(m.Text, w) {
				t.Errorf("%s: text lacks %q:\n%s", tc.subject, w, m.Text)
			}
		}
		if !strings.Contains(m.HTML, tc.wantHTMLContain) || !strings.Contains(m.HTML, "<html>") {
			t.Errorf("%s: HTML lacks %q:\n%s", tc.subject, tc.wantHTMLContain, m.HTML)
		}
	}
}

func TestMailComposerOverrides(t *testing.T) {
	o := testMailOptions()
	o.Templates = &MailTemplates{
		ResetSubject: "Reset your {{.Site}}\r\nBcc: evil@example.com password",
		ResetText:    "Go to {{.Link}} within {{.ValidFor}}",
		ResetHTML:    `<p>Hi {{.Username}}, <a href="{{.Link}}">reset</a></p>`,
	}
	c, err := newMailComposer(&o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.reset("x@example.com", `<script>alert(1)</script>`, o.link(linkReset, "T"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Reset your Example Bcc: evil@example.com password" {
		t.Errorf("subject = %q, want one line", m.Subject)
	}
	if m.Text != "Go to https://shop.example/app/reset_password?token=T within 1 hour" {
		t.Errorf("text = %q", m.Text)
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML part does not escape data: %s", m.HTML)
	}
	// Kinds without overrides keep the embedded templates.
	if cm, _ := c.confirmation("x@example.com", "x", "L"); cm.Subject != "Confirm email" || !strings.Contains(cm.HTML, "<html>") {
		t.Errorf("confirmation lost its defaults: %+v", cm)
	}

	for field, tmpl := range map[string]MailTemplates{
		"Options.Templates.ConfirmHTML":         {ConfirmHTML: "{{.Link"},
		"Options.Templates.ResetText":           {ResetText: "{{.NoSuchField}}"},
		"Options.Templates.PasswordChangedText": {PasswordChangedText: "{{template \"x\"}}"},
		"Options.Templates.ConfirmSubject":      {ConfirmSubject: "{{if}}"},
	} {
		o := testMailOptions()
		o.Templates = &tmpl
		if _, err := newMailComposer(&o); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v, want one naming the field", field, err)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1 hour", 48 * time.Hour: "48 hours", 30 * time.Minute: "30 minutes",
		time.Minute: "1 minute", 90 * time.Minute: "90 minutes", 1500 * time.Millisecond: "2s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestLogMailerWithholdsBody(t *testing.T) {
	log, buf := newMailTestLogger()
	m := Message{To: "a@example.com", Subject: "Confirm email", Text: "link ?token=SECRET"}
	_ = LogMailer{Logger: log}.Send(context.Background(), m)
	if strings.Contains(buf.String(), "SECRET") || !strings.Contains(buf.String(), "Confirm email") {
		t.Errorf("log = %s", buf)
	}
	_ = LogMailer{Logger: log, ShowBody: true}.Send(context.Background(), m)
	if !strings.Contains(buf.String(), "SECRET") {
		t.Errorf("ShowBody did not log the body: %s", buf)
	}
}

// fastOutbox returns an outbox on mailer whose retries wait milliseconds.
func fastOutbox(t *testing.T, m Mailer, size int) (*outbox, *mailLogBuffer) {
	t.Helper()
	log, buf := newMailTestLogger()
	o := newOutbox(m, size, log)
	fastMailRetries(o)
	t.Cleanup(func() { _ = o.close(context.Background()) })
	return o, buf
}

// fastMailRetries makes o retry within milliseconds: 3 attempts in both
// paths. Call it before the first mail is queued.
func fastMailRetries(o *outbox) {
	o.queuedRetry = retryPolicy{attempts: 3, backoff: time.Millisecond, maxBackoff: 4 * time.Millisecond, attemptTTL: 10 * time.Second}
	o.syncRetry = retryPolicy{attempts: 3, backoff: time.Millisecond, maxBackoff: 4 * time.Millisecond, budget: 10 * time.Second}
}

const mailSecretToken = "SECRET-TOKEN-0123456789"

func TestOutboxSendRetriesTransientFailures(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{})
	srv.failNext(phaseRcpt, 451, 2)
	o, logs := fastOutbox(t, srv.mailer(t), 8)
	if err := o.send(context.Background(), testMailMessage(t, "a@example.com", mailSecretToken)); err != nil {
		t.Fatalf("send: %v", err)
	}
	if srv.attempts() != 3 || len(srv.messages()) != 1 {
		t.Errorf("attempts = %d, mails = %d; want 3 and 1", srv.attempts(), len(srv.messages()))
	}
	if n := strings.Count(logs.String(), "retrying"); n != 2 {
		t.Errorf("logged %d retries, want 2:\n%s", n, logs)
	}
}

func TestOutboxSendFailures(t *testing.T) {
	for _, tc := range []struct {
		name         string
		setup        func(*testSMTP)
		wantAttempts int
	}{
		{"421 on RCPT", func(s *testSMTP) { s.failNext(phaseRcpt, 421, 10) }, 3},
		{"451 on DATA", func(s *testSMTP) { s.failNext(phaseData, 451, 10) }, 3},
		{"550 permanent", func(s *testSMTP) { s.failNext(phaseRcpt, 550, 10) }, 1},
		{"stall in DATA", func(s *testSMTP) { s.stallNext(phaseData, 10) }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestSMTPServer(t, testSMTPOptions{})
			tc.setup(srv)
			cfg := srv.config()
			cfg.Timeout = 100 * time.Millisecond // the stalled server times out
			mailer, err := NewSMTPMailer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			o, logs := fastOutbox(t, mailer, 8)
			err = o.send(context.Background(), testMailMessage(t, "a@example.com", mailSecretToken))
			if !errors.Is(err, ErrMailUnavailable) {
				t.Fatalf("send = %v, want ErrMailUnavailable", err)
			}
			if got := srv.attempts(); got != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tc.wantAttempts)
			}
			l := logs.String()
			if !strings.Contains(l, "giving up") || !strings.Contains(l, fmt.Sprintf("attempts=%d", tc.wantAttempts)) {
				t.Errorf("failure not logged:\n%s", l)
			}
			if strings.Contains(l, mailSecretToken) || strings.Contains(l, "Hello alice") {
				t.Errorf("log leaks the mail body:\n%s", l)
			}
		})
	}
}

func TestOutboxSendSilentServer(t *testing.T) {
	host, port, accepted := newSilentServer(t)
	mailer, err := NewSMTPMailer(SMTPConfig{Host: host, Port: port, From: "a@authgin.test", TLS: SMTPTLSNone,
		Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o, logs := fastOutbox(t, mailer, 8)
	if err := o.send(context.Background(), testMailMessage(t, "a@example.com", mailSecretToken)); !errors.Is(err, ErrMailUnavailable) {
		t.Fatalf("send = %v, want ErrMailUnavailable", err)
	}
	if accepted.Load() != 3 {
		t.Errorf("connections = %d, want 3", accepted.Load())
	}
	if !strings.Contains(logs.String(), "giving up") {
		t.Errorf("not logged:\n%s", logs)
	}
}

func TestOutboxSendRespectsBudgetAndContext(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{})
	srv.stallNext(phaseData, 10)
	cfg := srv.config()
	cfg.Timeout = time.Minute
	mailer, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := fastOutbox(t, mailer, 8)
	o.syncRetry.budget = 100 * time.Millisecond // ends the stalled attempt; no retry after it
	if err := o.send(context.Background(), testMailMessage(t, "a@example.com", "t")); !errors.Is(err, ErrMailUnavailable) {
		t.Fatalf("send = %v, want ErrMailUnavailable", err)
	}
	if srv.attempts() != 1 {
		t.Errorf("attempts = %d, want 1 (the budget was spent)", srv.attempts())
	}

	o.syncRetry.budget = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client went away
	if err := o.send(ctx, testMailMessage(t, "a@example.com", "t")); !errors.Is(err, ErrMailUnavailable) {
		t.Fatalf("send = %v, want ErrMailUnavailable", err)
	}
	if srv.attempts() > 2 {
		t.Errorf("attempts = %d: a cancelled request was retried", srv.attempts())
	}
}

func TestOutboxEnqueueRetriesThenLogs(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{})
	srv.failNext(phaseMail, 451, 3)
	o, logs := fastOutbox(t, srv.mailer(t), 8)
	enqueue(o, testMailMessage(t, "a@example.com", mailSecretToken))
	if err := o.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if srv.attempts() != 3 || len(srv.messages()) != 0 {
		t.Errorf("attempts = %d, mails = %d; want 3 and 0", srv.attempts(), len(srv.messages()))
	}
	l := logs.String()
	if strings.Count(l, "retrying") != 2 || !strings.Contains(l, "giving up") || !strings.Contains(l, "attempts=3") {
		t.Errorf("log:\n%s", l)
	}
	if strings.Contains(l, mailSecretToken) {
		t.Errorf("log leaks the token:\n%s", l)
	}
}

func TestOutboxEnqueueRetrySucceeds(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{})
	srv.failNext(phaseData, 421, 1)
	o, _ := fastOutbox(t, srv.mailer(t), 8)
	enqueue(o, testMailMessage(t, "a@example.com", "tok"))
	m := srv.waitMails(t, 1)[0]
	if mailToken(t, m) != "tok" || srv.attempts() != 2 {
		t.Errorf("token %q after %d attempts", mailToken(t, m), srv.attempts())
	}
}

func TestOutboxCloseDrainsQueue(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{})
	o, _ := fastOutbox(t, srv.mailer(t), 64)
	for i := range 20 {
		enqueue(o, testMailMessage(t, fmt.Sprintf("user%d@example.com", i), fmt.Sprint(i)))
	}
	if err := o.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.messages()); got != 20 {
		t.Fatalf("delivered %d of 20 queued mails before close returned", got)
	}
	seen := map[string]bool{}
	for _, m := range srv.messages() {
		seen[m.EnvelopeTo[0]] = true
	}
	if len(seen) != 20 {
		t.Errorf("distinct recipients = %d, want 20", len(seen))
	}
}

func TestOutboxCloseGivesUpAtDeadline(t *testing.T) {
	srv := newTestSMTPServer(t, testSMTPOptions{})
	srv.stallNext(phaseData, 100)
	cfg := srv.config()
	cfg.Timeout = time.Minute
	mailer, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// One queue slot: two mails stall in the workers, one waits, the
	// fourth is dropped.
	o, logs := fastOutbox(t, mailer, 1)
	for i := range 4 {
		enqueue(o, testMailMessage(t, fmt.Sprintf("u%d@example.com", i), "t"))
		if i < 2 {
			mailWaitUntil(t, func() bool { return srv.attempts() == i+1 })
		}
	}
	if !strings.Contains(logs.String(), "queue full") {
		t.Errorf("a full queue was not logged:\n%s", logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := o.close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close = %v, want context.DeadlineExceeded", err)
	}
	mailWaitUntil(t, func() bool { return strings.Contains(logs.String(), "shutting down") })
	enqueue(o, testMailMessage(t, "late@example.com", "t"))
	if !strings.Contains(logs.String(), "outbox closed") {
		t.Errorf("enqueue after close was not logged:\n%s", logs)
	}
}

// mailWaitUntil polls cond until it holds, failing the test after 10 seconds.
func mailWaitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestQueuedMailComposedInBackground: the confirmation mail after register
// is rendered by the outbox worker; a template that fails only for some
// data fails there, is logged, and the registration still succeeds.
func TestQueuedMailComposedInBackground(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) {
			o.Templates = &MailTemplates{ConfirmText: `{{if eq .Username "boom"}}{{.Nope}}{{end}}Confirm: {{.Link}}`}
		})
		wantStatus(t, e.client().register("boom@example.com", "boom", "correct horse battery"), 200)
		mailWaitUntil(t, func() bool { return strings.Contains(e.logs.String(), "composing a mail failed") })
		if l := e.logs.String(); !strings.Contains(l, "mail=confirmation") {
			t.Fatalf("log does not name the mail: %s", l)
		}
		wantStatus(t, e.client().register("fine@example.com", "fine", "correct horse battery"), 200)
		if m := e.mail.wait(t, 1); m.To != "fine@example.com" || !strings.Contains(m.Text, "Confirm: https://") {
			t.Fatalf("mail = %+v", m)
		}
		if n := e.mail.count(); n != 1 {
			t.Fatalf("%d mails sent, want 1", n)
		}
	})
}

// enqueue queues a composed mail, as enqueueLater does for the service's.
func enqueue(o *outbox, m Message) {
	o.enqueueLater(queuedMail{to: m.To, what: m.Subject, compose: func() (Message, error) { return m, nil }})
}
