package authgin

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
)

// Message is one mail: a text part and an optional HTML alternative.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
	// FromName is the sender's display name (Options.DisplayName for the
	// plugin's mails). Empty leaves it to the Mailer.
	FromName string
}

// Mailer delivers a message. Send must honour ctx cancellation. An error
// that is a *MailError with Transient false is not retried; any other error
// is retried with backoff.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// MailError is a delivery failure that says whether a retry may succeed.
type MailError struct {
	// Code is the SMTP reply code, zero when the failure was not a reply
	// (connection, timeout, TLS).
	Code int
	// Transient reports that a later attempt may succeed: a 4xx reply, a
	// timeout or a broken connection. 5xx replies and TLS certificate
	// failures are permanent.
	Transient bool
	Err       error
}

// Error describes the failure; it never contains the mail's body.
func (e *MailError) Error() string { return "authgin: mail: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *MailError) Unwrap() error { return e.Err }

// LogMailer writes mails to a logger instead of sending them, for
// development. Bodies carry one-time tokens, so they are logged only when
// ShowBody is set (Options.Debug sets it for the default mailer).
type LogMailer struct {
	Logger   *slog.Logger
	ShowBody bool
}

// Send implements Mailer.
func (l LogMailer) Send(ctx context.Context, m Message) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	if l.ShowBody {
		log.InfoContext(ctx, "authgin: mail (log mailer)", "to", m.To, "subject", m.Subject, "text", m.Text)
	} else {
		log.InfoContext(ctx, "authgin: mail (log mailer, body withheld; set Debug to print it)", "to", m.To, "subject", m.Subject)
	}
	return nil
}

// Link kinds passed to Options.LinkBuilder.
const (
	linkConfirm     = "confirm"
	linkReset       = "reset"
	linkEmailChange = "email_change" // under ConfirmPath, like linkConfirm
)

// link builds the front-end link that carries a one-time token: kind is
// linkConfirm, linkEmailChange or linkReset. It honours
// Options.LinkBuilder and otherwise appends ?token= to BaseURL +
// ConfirmPath (confirm, email change) or ResetPath. Links never come from
// the request's Host.
func (o *Options) link(kind, token string) string {
	if o.LinkBuilder != nil {
		return o.LinkBuilder(kind, token)
	}
	path := o.ConfirmPath
	if kind == linkReset {
		path = o.ResetPath
	}
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return strings.TrimRight(o.BaseURL, "/") + path + sep + "token=" + url.QueryEscape(token)
}

// MailData is what mail templates receive.
type MailData struct {
	Site        string // Options.Site
	DisplayName string // Options.DisplayName
	Username    string
	Email       string
	// Link is the confirmation or reset link; empty in the notices.
	Link string
	// NewEmail is the address an email change moves to (the notice to
	// the old address); empty in the other mails.
	NewEmail string
	// ValidFor is how long Link works, in words ("48 hours", "1 hour").
	ValidFor string
	// Time is when the mail was composed (Options.Now), in UTC.
	Time time.Time
}

// MailTemplates overrides the embedded mail templates. Each field is
// template source; an empty field keeps the embedded default. Subjects and
// text parts are text/template, HTML parts html/template (which escapes
// the data); all receive a MailData. Register parses them and reports a
// syntax error naming the field.
//
// EmailChange is the confirmation link mailed to a new address (POST
// /email); EmailChangeNotice tells the old address about the request.
type MailTemplates struct {
	ConfirmSubject, ConfirmText, ConfirmHTML                               string
	ResetSubject, ResetText, ResetHTML                                     string
	PasswordChangedSubject, PasswordChangedText, PasswordChangedHTML       string
	EmailChangeSubject, EmailChangeText, EmailChangeHTML                   string
	EmailChangeNoticeSubject, EmailChangeNoticeText, EmailChangeNoticeHTML string
	// MFAChanged tells the user that a second factor was added or removed.
	MFAChangedSubject, MFAChangedText, MFAChangedHTML string
}

//go:embed templates
var embeddedTemplates embed.FS

// Default subjects (authx's for confirm and reset).
const (
	defaultConfirmSubject           = "Confirm email"
	defaultResetSubject             = "Forgot password"
	defaultPasswordChangedSubject   = "Your password was changed"
	defaultEmailChangeSubject       = "Confirm your new email address"
	defaultEmailChangeNoticeSubject = "Your email address is being changed"
	defaultMFAChangedSubject        = "Your second factor was changed"
)

// mailTemplate is one kind of mail, parsed.
type mailTemplate struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// mailComposer renders the plugin's mails from templates and Options.
type mailComposer struct {
	confirmTmpl, resetTmpl, changedTmpl mailTemplate
	emailChangeTmpl, emailNoticeTmpl    mailTemplate
	mfaChangedTmpl                      mailTemplate

	site, displayName    string
	confirmTTL, resetTTL time.Duration
	now                  func() time.Time
}

// newMailComposer parses the embedded templates and the overrides of
// o.Templates. o must have its defaults applied.
func newMailComposer(o *Options) (*mailComposer, error) {
	t := o.Templates
	if t == nil {
		t = &MailTemplates{}
	}
	c := &mailComposer{
		site: o.Site, displayName: o.DisplayName,
		confirmTTL: o.ConfirmTTL, resetTTL: o.ResetTTL, now: o.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	var err error
	if c.confirmTmpl, err = parseMailTemplate("Confirm", "confirm", defaultConfirmSubject,
		t.ConfirmSubject, t.ConfirmText, t.ConfirmHTML); err != nil {
		return nil, err
	}
	if c.resetTmpl, err = parseMailTemplate("Reset", "reset", defaultResetSubject,
		t.ResetSubject, t.ResetText, t.ResetHTML); err != nil {
		return nil, err
	}
	if c.changedTmpl, err = parseMailTemplate("PasswordChanged", "password_changed", defaultPasswordChangedSubject,
		t.PasswordChangedSubject, t.PasswordChangedText, t.PasswordChangedHTML); err != nil {
		return nil, err
	}
	if c.emailChangeTmpl, err = parseMailTemplate("EmailChange", "email_change", defaultEmailChangeSubject,
		t.EmailChangeSubject, t.EmailChangeText, t.EmailChangeHTML); err != nil {
		return nil, err
	}
	if c.emailNoticeTmpl, err = parseMailTemplate("EmailChangeNotice", "email_change_notice", defaultEmailChangeNoticeSubject,
		t.EmailChangeNoticeSubject, t.EmailChangeNoticeText, t.EmailChangeNoticeHTML); err != nil {
		return nil, err
	}
	if c.mfaChangedTmpl, err = parseMailTemplate("MFAChanged", "mfa_changed", defaultMFAChangedSubject,
		t.MFAChangedSubject, t.MFAChangedText, t.MFAChangedHTML); err != nil {
		return nil, err
	}
	return c, nil
}

// parseMailTemplate parses one kind: the override when given, else the
// embedded file templates/<file>.txt / .html and the default subject. Each
// part is executed once on sample data so that a template naming an unknown
// field fails at Register, not when the first mail is due.
func parseMailTemplate(field, file, defSubject, subject, text, html string) (mailTemplate, error) {
	var mt mailTemplate
	sample := MailData{
		Site: "site", DisplayName: "name", Username: "user", Email: "user@example.com",
		Link: "https://example.com/?token=t", NewEmail: "new@example.com", ValidFor: "1 hour", Time: time.Unix(0, 0).UTC(),
	}
	src := func(override, name string) (string, error) {
		if override != "" {
			return override, nil
		}
		b, err := embeddedTemplates.ReadFile("templates/" + name)
		return string(b), err
	}
	if subject == "" {
		subject = defSubject
	}
	var err error
	mt.subject, err = texttemplate.New(field + "Subject").Parse(subject)
	if err == nil {
		err = mt.subject.Execute(io.Discard, sample)
	}
	if err != nil {
		return mt, fmt.Errorf("authgin: Options.Templates.%sSubject: %w", field, err)
	}
	s, err := src(text, file+".txt")
	if err == nil {
		mt.text, err = texttemplate.New(field + "Text").Parse(s)
	}
	if err == nil {
		err = mt.text.Execute(io.Discard, sample)
	}
	if err != nil {
		return mt, fmt.Errorf("authgin: Options.Templates.%sText: %w", field, err)
	}
	s, err = src(html, file+".html")
	if err == nil {
		mt.html, err = htmltemplate.New(field + "HTML").Parse(s)
	}
	if err == nil {
		err = mt.html.Execute(io.Discard, sample)
	}
	if err != nil {
		return mt, fmt.Errorf("authgin: Options.Templates.%sHTML: %w", field, err)
	}
	return mt, nil
}

// confirmation composes the email confirmation mail carrying link.
func (c *mailComposer) confirmation(to, username, link string) (Message, error) {
	return c.compose(c.confirmTmpl, to, username, link, c.confirmTTL)
}

// reset composes the "Forgot password" mail carrying link.
func (c *mailComposer) reset(to, username, link string) (Message, error) {
	return c.compose(c.resetTmpl, to, username, link, c.resetTTL)
}

// passwordChanged composes the notice that the password was changed.
func (c *mailComposer) passwordChanged(to, username string) (Message, error) {
	return c.compose(c.changedTmpl, to, username, "", 0)
}

// mfaChanged composes the notice that a second factor was added or
// removed.
func (c *mailComposer) mfaChanged(to, username string) (Message, error) {
	return c.compose(c.mfaChangedTmpl, to, username, "", 0)
}

// emailChange composes the confirmation link mailed to a new address.
func (c *mailComposer) emailChange(to, username, link string) (Message, error) {
	return c.compose(c.emailChangeTmpl, to, username, link, c.confirmTTL)
}

// emailChangeNotice composes the notice to the old address that the
// account's address is being changed to newEmail.
func (c *mailComposer) emailChangeNotice(to, username, newEmail string) (Message, error) {
	return c.composeData(c.emailNoticeTmpl, to, MailData{Username: username, NewEmail: newEmail}, 0)
}

func (c *mailComposer) compose(t mailTemplate, to, username, link string, ttl time.Duration) (Message, error) {
	return c.composeData(t, to, MailData{Username: username, Link: link}, ttl)
}

// composeData renders t for to with data, whose Site, DisplayName, Email,
// ValidFor and Time it fills in.
func (c *mailComposer) composeData(t mailTemplate, to string, data MailData, ttl time.Duration) (Message, error) {
	data.Site, data.DisplayName, data.Email, data.Time = c.site, c.displayName, to, c.now().UTC()
	if ttl > 0 {
		data.ValidFor = humanDuration(ttl)
	}
	var subject, text, html bytes.Buffer
	if err := t.subject.Execute(&subject, data); err != nil {
		return Message{}, fmt.Errorf("authgin: mail subject template: %w", err)
	}
	if err := t.text.Execute(&text, data); err != nil {
		return Message{}, fmt.Errorf("authgin: mail text template: %w", err)
	}
	if err := t.html.Execute(&html, data); err != nil {
		return Message{}, fmt.Errorf("authgin: mail HTML template: %w", err)
	}
	return Message{
		To: to,
		// A subject is one header line, whatever a template produced.
		Subject:  strings.Join(strings.Fields(subject.String()), " "),
		Text:     text.String(),
		HTML:     html.String(),
		FromName: c.displayName,
	}, nil
}

// humanDuration renders d for a mail: "48 hours", "1 hour", "30 minutes".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	default:
		return d.Round(time.Second).String()
	}
}

// retryPolicy bounds the attempts to deliver one mail.
type retryPolicy struct {
	attempts   int           // total attempts, at least 1
	backoff    time.Duration // wait before the first retry; doubles each time
	maxBackoff time.Duration // cap on one wait
	budget     time.Duration // total time for all attempts; zero means none
	attemptTTL time.Duration // bound on one attempt; zero means none
}

// outboxWorkers is how many mails the outbox delivers at once, so one slow
// or retried mail does not hold up the others.
const outboxWorkers = 2

// outbox delivers mails: in the background for fire-and-forget mails
// (after register, password changed), synchronously where the user asked
// for one (POST /confirm, forgot password).
type outbox struct {
	mailer Mailer
	log    *slog.Logger
	queue  chan queuedMail

	// queuedRetry and syncRetry are the retry policies of enqueueLater and
	// send. Tests shorten them before the first mail.
	queuedRetry, syncRetry retryPolicy

	// stop ends in-flight deliveries and backoff waits when close gives up.
	stopCtx context.Context
	stop    context.CancelFunc

	mu     sync.RWMutex // guards closed against enqueueLater racing close
	closed bool
	wg     sync.WaitGroup
}

func newOutbox(m Mailer, size int, log *slog.Logger) *outbox {
	if size < 1 {
		size = 1
	}
	if log == nil {
		log = slog.Default()
	}
	o := &outbox{
		mailer: m, log: log, queue: make(chan queuedMail, size),
		// Background mails are retried for about half a minute (2+4+8+16 s
		// of waits); a mail the user is waiting for gets a few quick
		// attempts within 10 seconds.
		queuedRetry: retryPolicy{attempts: 5, backoff: 2 * time.Second, maxBackoff: 30 * time.Second, attemptTTL: time.Minute},
		syncRetry:   retryPolicy{attempts: 3, backoff: 250 * time.Millisecond, maxBackoff: 2 * time.Second, budget: 10 * time.Second},
	}
	o.stopCtx, o.stop = context.WithCancel(context.Background())
	o.wg.Add(outboxWorkers)
	for range outboxWorkers {
		go o.run()
	}
	return o
}

// queuedMail is a background mail. Its templates run in the outbox's
// worker (compose), not in the request that queued it; to and what name it
// in logs until then.
type queuedMail struct {
	to, what string
	compose  func() (Message, error)
}

func (o *outbox) run() {
	defer o.wg.Done()
	for q := range o.queue {
		if o.stopCtx.Err() != nil {
			o.log.Error("authgin: mail not delivered: shutting down", "to", q.to, "mail", q.what)
			continue
		}
		m, err := q.compose()
		if err != nil {
			o.log.Error("authgin: composing a mail failed", "to", q.to, "mail", q.what, "err", err)
			continue
		}
		_ = o.deliver(o.stopCtx, m, o.queuedRetry)
	}
}

// enqueueLater queues a mail that the worker composes and then delivers
// with retries. A full or closed queue drops the mail and logs it: the
// caller never blocks.
func (o *outbox) enqueueLater(q queuedMail) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		o.log.Error("authgin: mail dropped: outbox closed", "to", q.to, "mail", q.what)
		return
	}
	select {
	case o.queue <- q:
	default:
		o.log.Error("authgin: mail dropped: queue full", "to", q.to, "mail", q.what)
	}
}

// send delivers m now, retrying transient failures briefly, and returns
// ErrMailUnavailable when it could not.
func (o *outbox) send(ctx context.Context, m Message) error {
	if err := o.deliver(ctx, m, o.syncRetry); err != nil {
		return ErrMailUnavailable
	}
	return nil
}

// deliver tries to send m under policy p and logs every failure. Bodies
// carry tokens and are never logged.
func (o *outbox) deliver(ctx context.Context, m Message, p retryPolicy) error {
	if p.budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.budget)
		defer cancel()
	}
	wait := p.backoff
	for attempt := 1; ; attempt++ {
		err := o.attempt(ctx, m, p.attemptTTL)
		if err == nil {
			if attempt > 1 {
				o.log.InfoContext(ctx, "authgin: mail delivered after retry", "to", m.To, "subject", m.Subject, "attempt", attempt)
			}
			return nil
		}
		transient := transientMailError(err)
		last := !transient || attempt >= p.attempts || ctx.Err() != nil
		if last {
			o.log.ErrorContext(ctx, "authgin: mail delivery failed, giving up", "to", m.To, "subject", m.Subject,
				"attempts", attempt, "transient", transient, "err", err)
			return err
		}
		o.log.WarnContext(ctx, "authgin: mail delivery failed, retrying", "to", m.To, "subject", m.Subject,
			"attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			o.log.ErrorContext(ctx, "authgin: mail delivery failed, giving up", "to", m.To, "subject", m.Subject,
				"attempts", attempt, "transient", transient, "err", err)
			return err
		}
		wait = min(2*wait, p.maxBackoff)
	}
}

// attempt calls the mailer once, bounded by ttl when positive.
func (o *outbox) attempt(ctx context.Context, m Message, ttl time.Duration) error {
	if ttl > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ttl)
		defer cancel()
	}
	return o.mailer.Send(ctx, m)
}

// transientMailError reports whether another attempt may deliver the mail:
// everything except a permanent *MailError and a cancelled context.
func transientMailError(err error) bool {
	var me *MailError
	if errors.As(err, &me) {
		return me.Transient
	}
	// The caller gave up; a timeout of one attempt is worth a retry.
	return !errors.Is(err, context.Canceled)
}

// close stops accepting mails and waits until the queue is drained or ctx
// ends; then in-flight deliveries are cancelled and the mails still queued
// are logged as not delivered.
func (o *outbox) close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.queue)
	}
	o.mu.Unlock()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
		o.stop()
		return nil
	case <-ctx.Done():
		o.stop()
		return ctx.Err()
	}
}
