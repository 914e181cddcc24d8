package authgin

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTPTLS selects how the connection to the SMTP server is encrypted.
type SMTPTLS string

// The TLS modes of SMTPConfig.TLS.
const (
	// SMTPTLSStartTLS upgrades a plain connection with STARTTLS and fails
	// when the server does not offer it. The default; port 587.
	SMTPTLSStartTLS SMTPTLS = "starttls"
	// SMTPTLSImplicit speaks TLS from the first byte ("SMTPS"); port 465.
	SMTPTLSImplicit SMTPTLS = "tls"
	// SMTPTLSNone sends in clear, for a relay on the same host or network.
	// Authentication is refused in this mode. Port 25.
	SMTPTLSNone SMTPTLS = "none"
)

// SMTPConfig configures NewSMTPMailer.
type SMTPConfig struct {
	// Host is the SMTP server's host name or IP address, without port.
	Host string
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int
	// Username and Password authenticate (PLAIN, LOGIN or SCRAM, whichever
	// the server offers first in that order). Only over TLS: a Username
	// with TLS none is a configuration error.
	Username string
	Password string
	// From is the sender: "no-reply@example.com", or with a display name
	// "Example <no-reply@example.com>". A Message's FromName (the plugin
	// sets Options.DisplayName) replaces the display name.
	From string
	// TLS is the encryption mode. Default SMTPTLSStartTLS.
	TLS SMTPTLS
	// TLSConfig customises certificate checks (e.g. RootCAs for a private
	// CA). Nil verifies against the system roots with ServerName Host and
	// TLS 1.2 at least.
	TLSConfig *tls.Config
	// Timeout bounds connecting and each step of the conversation.
	// Default 10 seconds. The Send context bounds the whole delivery.
	Timeout time.Duration
	// HELO is the name this client announces. Default the OS host name.
	HELO string
}

// SMTPMailer sends mails through an SMTP server, one connection per mail.
// It is safe for concurrent use.
type SMTPMailer struct {
	host   string
	from   *mail.Address
	tls    SMTPTLS
	tlsCfg *tls.Config
	opts   []gomail.Option
}

// NewSMTPMailer validates cfg and returns a Mailer for it. Errors name the
// offending field. It does not connect: a server that is down shows at the
// first Send.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	host := strings.TrimSpace(cfg.Host)
	if host == "" {
		return nil, errors.New("authgin: SMTPConfig.Host is required")
	}
	if strings.ContainsAny(host, "/ ") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return nil, fmt.Errorf("authgin: SMTPConfig.Host must be a host name or IP address without port (got %q)", cfg.Host)
	}
	mode := SMTPTLS(strings.ToLower(string(cfg.TLS)))
	port := cfg.Port
	switch mode {
	case "", SMTPTLSStartTLS:
		mode = SMTPTLSStartTLS
		if port == 0 {
			port = 587
		}
	case SMTPTLSImplicit:
		if port == 0 {
			port = 465
		}
	case SMTPTLSNone:
		if port == 0 {
			port = 25
		}
	default:
		return nil, fmt.Errorf("authgin: SMTPConfig.TLS must be %q, %q or %q (got %q)",
			SMTPTLSNone, SMTPTLSStartTLS, SMTPTLSImplicit, cfg.TLS)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("authgin: SMTPConfig.Port must be between 1 and 65535 (got %d)", cfg.Port)
	}
	if cfg.Username != "" && mode == SMTPTLSNone {
		return nil, errors.New("authgin: SMTPConfig.Username requires TLS (starttls or tls): credentials are never sent in clear")
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("authgin: SMTPConfig.Password is set but SMTPConfig.Username is empty")
	}
	if cfg.From == "" {
		return nil, errors.New("authgin: SMTPConfig.From is required")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("authgin: SMTPConfig.From is not a valid address (%q): %w", cfg.From, err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("authgin: SMTPConfig.Timeout must not be negative (got %s)", cfg.Timeout)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}

	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = host
	}

	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(timeout)}
	switch mode {
	case SMTPTLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tlsCfg))
	case SMTPTLSImplicit:
		// Send dials TLS itself; this tells go-mail not to STARTTLS on top.
		opts = append(opts, gomail.WithSSL())
	case SMTPTLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.Username != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin,
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	s := &SMTPMailer{host: host, from: from, tls: mode, tlsCfg: tlsCfg, opts: opts}
	if _, err := gomail.NewClient(host, opts...); err != nil {
		return nil, fmt.Errorf("authgin: SMTPConfig: %w", err)
	}
	return s, nil
}

// Send implements Mailer: one connection, one mail. Cancelling ctx aborts
// the delivery at once, also in the middle of the conversation. Failures
// are *MailError values that tell transient from permanent ones.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	msg, err := s.message(m)
	if err != nil {
		return &MailError{Err: err}
	}
	// go-mail watches ctx only while dialling; closing the connection when
	// ctx ends makes any blocked read or write return.
	var conn net.Conn
	var stop func() bool
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var err error
		if s.tls == SMTPTLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsCfg}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		c := conn
		stop = context.AfterFunc(ctx, func() { _ = c.Close() }) // cancellation: unblocks the protocol, its error is moot
		return conn, nil
	}
	c, err := gomail.NewClient(s.host, append(s.opts[:len(s.opts):len(s.opts)], gomail.WithDialContextFunc(dial))...)
	if err != nil {
		return &MailError{Err: err}
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if conn != nil {
		// go-mail leaves the connection open when the greeting, STARTTLS
		// or AUTH fails; after QUIT closing again is harmless.
		stop()
		_ = conn.Close() // usually already closed after QUIT
	}
	if err != nil {
		return classifySMTPError(ctx, err)
	}
	return nil
}

// message builds the MIME message: text/plain, and multipart/alternative
// with text/html when m has an HTML part.
func (s *SMTPMailer) message(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	name := m.FromName
	if name == "" {
		name = s.from.Name
	}
	if err := msg.FromFormat(name, s.from.Address); err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(messageID(s.from.Address))
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID returns a random Message-ID in the sender's domain.
func messageID(from string) string {
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		domain = from[i+1:]
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + domain
}

// classifySMTPError wraps a go-mail failure in a *MailError: 4xx replies,
// timeouts and broken connections are transient; 5xx replies, bad
// addresses, certificate failures and missing AUTH mechanisms are not.
func classifySMTPError(ctx context.Context, err error) *MailError {
	if cerr := ctx.Err(); cerr != nil {
		// The caller's deadline or cancellation closed the connection.
		return &MailError{Transient: !errors.Is(cerr, context.Canceled), Err: fmt.Errorf("%w (%v)", cerr, err)}
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch {
		case code >= 500:
			return &MailError{Code: code, Err: err}
		case code >= 400:
			return &MailError{Code: code, Transient: true, Err: err}
		case se.Reason == gomail.ErrGetSender, se.Reason == gomail.ErrGetRcpts, se.Reason == gomail.ErrNoUnencoded:
			return &MailError{Err: err}
		default: // no reply: the connection broke or timed out
			return &MailError{Transient: true, Err: err}
		}
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &MailError{Code: tp.Code, Transient: tp.Code >= 400 && tp.Code < 500, Err: err}
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) || errors.Is(err, gomail.ErrNoSupportedAuthDiscovered) ||
		errors.Is(err, gomail.ErrPlainAuthNotSupported) || errors.Is(err, gomail.ErrLoginAuthNotSupported) {
		return &MailError{Err: err}
	}
	return &MailError{Transient: true, Err: err}
}
