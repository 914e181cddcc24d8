package authgin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// Message is one mail: a text part and an optional HTML part.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Mailer delivers a message. Send must honour ctx cancellation.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

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

// MailTemplates overrides the mail texts. (Placeholder until templates land.)
type MailTemplates struct{}

// outbox delivers mails: in the background for fire-and-forget mails
// (after register), synchronously where the user asked for one.
type outbox struct {
	mailer Mailer
	log    *slog.Logger
	queue  chan Message
	wg     sync.WaitGroup
	once   sync.Once
}

func newOutbox(m Mailer, size int, log *slog.Logger) *outbox {
	o := &outbox{mailer: m, log: log, queue: make(chan Message, size)}
	o.wg.Add(1)
	go o.run()
	return o
}

func (o *outbox) run() {
	defer o.wg.Done()
	for m := range o.queue {
		if err := o.mailer.Send(context.Background(), m); err != nil {
			o.log.Error("authgin: mail delivery failed", "to", m.To, "subject", m.Subject, "err", err)
		}
	}
}

// enqueue queues m for background delivery; a full queue drops and logs it.
func (o *outbox) enqueue(m Message) {
	select {
	case o.queue <- m:
	default:
		o.log.Error("authgin: mail queue full, mail dropped", "to", m.To, "subject", m.Subject)
	}
}

// send delivers m now and reports failure to the caller.
func (o *outbox) send(ctx context.Context, m Message) error {
	if err := o.mailer.Send(ctx, m); err != nil {
		o.log.ErrorContext(ctx, "authgin: mail delivery failed", "to", m.To, "subject", m.Subject, "err", err)
		return ErrMailUnavailable
	}
	return nil
}

// close stops accepting mails and waits until the queue is drained or ctx
// ends.
func (o *outbox) close(ctx context.Context) error {
	o.once.Do(func() { close(o.queue) })
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// confirmationMail composes the email confirmation message.
func confirmationMail(o *Options, to, username, link string) Message {
	return Message{
		To:      to,
		Subject: "Confirm email",
		Text: fmt.Sprintf("Hello %s,\n\nplease confirm your email address for %s:\n\n%s\n\n%s\n",
			username, o.Site, link, o.DisplayName),
	}
}
