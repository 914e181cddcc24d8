package authgin

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// This file is a reusable in-process SMTP server (github.com/emersion/
// go-smtp on 127.0.0.1) for tests that need to read the mails the plugin
// sends, or to make delivery fail:
//
//	srv := newTestSMTPServer(t, testSMTPOptions{})
//	mailer := srv.mailer(t)            // an *SMTPMailer pointed at it
//	...
//	m := srv.waitMails(t, 1)[0]         // parsed: envelope, headers, text, HTML
//	token := mailToken(t, m)            // the ?token= of the link
//
// Failures are injected per SMTP phase: srv.failNext(phaseRcpt, 451, 2)
// answers the next two RCPT commands with 451; srv.stallNext(phaseData, 1)
// accepts the next message but never answers the final dot.

// testSMTPOptions configures newTestSMTPServer.
type testSMTPOptions struct {
	// TLS: "" or SMTPTLSNone for a plain server, SMTPTLSStartTLS to offer
	// STARTTLS (a self-signed certificate), SMTPTLSImplicit for TLS from the
	// first byte.
	TLS SMTPTLS
	// Username, when set, makes the server require AUTH PLAIN with
	// Username and Password before MAIL (go-smtp allows AUTH over TLS only).
	Username, Password string
}

// SMTP phases at which failures can be injected.
const (
	phaseMail = "mail" // MAIL FROM
	phaseRcpt = "rcpt" // RCPT TO
	phaseData = "data" // the reply to the message's final dot
)

// testMail is one mail the server accepted, parsed.
type testMail struct {
	EnvelopeFrom string
	EnvelopeTo   []string
	Raw          []byte
	Header       mail.Header
	Subject      string // decoded
	ContentType  string // media type of the whole message
	Text, HTML   string // decoded parts
}

type testFailure struct {
	code  int
	stall bool
}

// testSMTP is a running test server.
type testSMTP struct {
	Host    string
	Port    int
	RootCAs *x509.CertPool // trusts the server's self-signed certificate
	opts    testSMTPOptions

	sessions atomic.Int64 // connections that greeted, i.e. delivery attempts
	authed   atomic.Int64 // successful AUTH PLAIN exchanges

	mu       sync.Mutex
	mails    []testMail
	failures map[string][]testFailure
	parseErr error
	notify   chan struct{}
	done     chan struct{} // closed at cleanup: releases stalled sessions
}

// newTestSMTPServer starts a server on 127.0.0.1 and stops it when the
// test ends.
func newTestSMTPServer(t testing.TB, opts testSMTPOptions) *testSMTP {
	t.Helper()
	s := &testSMTP{
		Host: "127.0.0.1", opts: opts,
		failures: map[string][]testFailure{},
		notify:   make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.sessions.Add(1)
		return &testSession{srv: s}, nil
	}))
	srv.Domain = "smtp.authgin.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)

	var l net.Listener
	var err error
	switch opts.TLS {
	case "", SMTPTLSNone:
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case SMTPTLSStartTLS:
		srv.TLSConfig, s.RootCAs = testTLSConfig(t)
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case SMTPTLSImplicit:
		srv.TLSConfig, s.RootCAs = testTLSConfig(t)
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	default:
		t.Fatalf("testSMTPOptions.TLS: unknown mode %q", opts.TLS)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() {
		close(s.done)
		srv.Close()
	})
	return s
}

// config returns an SMTPConfig for this server (Timeout 5 s).
func (s *testSMTP) config() SMTPConfig {
	cfg := SMTPConfig{
		Host: s.Host, Port: s.Port, From: "no-reply@authgin.test",
		TLS: s.opts.TLS, Username: s.opts.Username, Password: s.opts.Password,
		Timeout: 5 * time.Second, HELO: "client.authgin.test",
	}
	if cfg.TLS == "" {
		cfg.TLS = SMTPTLSNone
	}
	if s.RootCAs != nil {
		cfg.TLSConfig = &tls.Config{RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return cfg
}

// mailer returns an *SMTPMailer sending to this server.
func (s *testSMTP) mailer(t testing.TB) *SMTPMailer {
	t.Helper()
	m, err := NewSMTPMailer(s.config())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// failNext answers the next n commands of phase with code (4xx transient,
// 5xx permanent).
func (s *testSMTP) failNext(phase string, code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[phase] = append(s.failures[phase], testFailure{code: code})
	}
}

// stallNext makes the next n commands of phase never answer (until the
// client gives up or the test ends).
func (s *testSMTP) stallNext(phase string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[phase] = append(s.failures[phase], testFailure{stall: true})
	}
}

// attempts is the number of connections that reached the session stage.
func (s *testSMTP) attempts() int { return int(s.sessions.Load()) }

// messages returns the mails accepted so far.
func (s *testSMTP) messages() []testMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]testMail(nil), s.mails...)
}

// waitMails waits until at least n mails were accepted (failing the test
// after 10 seconds) and returns them all.
func (s *testSMTP) waitMails(t testing.TB, n int) []testMail {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, perr := append([]testMail(nil), s.mails...), s.parseErr
		s.mu.Unlock()
		if perr != nil {
			t.Fatalf("test SMTP server: cannot parse a received mail: %v", perr)
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			t.Fatalf("test SMTP server: got %d mails, want %d", len(got), n)
		}
	}
}

// take pops the next injected failure for phase and applies it: an SMTP
// error to return, or a stall until the test ends.
func (s *testSMTP) take(phase string) error {
	s.mu.Lock()
	q := s.failures[phase]
	if len(q) == 0 {
		s.mu.Unlock()
		return nil
	}
	f := q[0]
	s.failures[phase] = q[1:]
	s.mu.Unlock()
	if f.stall {
		<-s.done
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Shutting down"}
	}
	ec := smtp.EnhancedCode{f.code / 100, 0, 0}
	return &smtp.SMTPError{Code: f.code, EnhancedCode: ec, Message: "Injected failure"}
}

func (s *testSMTP) record(m testMail, err error) {
	s.mu.Lock()
	if err != nil && s.parseErr == nil {
		s.parseErr = err
	}
	if err == nil {
		s.mails = append(s.mails, m)
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// testSession is one SMTP connection.
type testSession struct {
	srv    *testSMTP
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*testSession)(nil)

func (ss *testSession) AuthMechanisms() []string {
	if ss.srv.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *testSession) Auth(mech string) (sasl.Server, error) {
	if ss.srv.opts.Username == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.srv.opts.Username || password != ss.srv.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		ss.srv.authed.Add(1)
		return nil
	}), nil
}

func (ss *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	if err := ss.srv.take(phaseMail); err != nil {
		return err
	}
	ss.from = from
	return nil
}

func (ss *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.srv.take(phaseRcpt); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *testSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.srv.take(phaseData); err != nil {
		return err
	}
	m, perr := parseTestMail(raw)
	m.EnvelopeFrom, m.EnvelopeTo = ss.from, append([]string(nil), ss.to...)
	ss.srv.record(m, perr)
	return nil
}

func (ss *testSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *testSession) Logout() error { return nil }

// parseTestMail parses a received message with net/mail and
// mime/multipart, decoding the text and HTML parts.
func parseTestMail(raw []byte) (testMail, error) {
	m := testMail{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, err
	}
	m.Header = msg.Header
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return m, err
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return m, err
	}
	m.ContentType = mt
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := decodeTransfer(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		if err != nil {
			return m, err
		}
		if mt == "text/html" {
			m.HTML = body
		} else {
			m.Text = body
		}
		return m, nil
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return m, err
		}
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			return m, err
		}
		body, err := decodeTransfer(p.Header.Get("Content-Transfer-Encoding"), p)
		if err != nil {
			return m, err
		}
		switch pt {
		case "text/plain":
			m.Text = body
		case "text/html":
			m.HTML = body
		}
	}
}

func decodeTransfer(enc string, r io.Reader) (string, error) {
	switch strings.ToLower(enc) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}

// mailLink returns the first link in the text part of m.
func mailLink(t testing.TB, m testMail) *url.URL {
	t.Helper()
	raw := regexp.MustCompile(`https?://[^\s"<>]+`).FindString(m.Text)
	if raw == "" {
		t.Fatalf("no link in mail text:\n%s", m.Text)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mailToken returns the token query parameter of the link in m.
func mailToken(t testing.TB, m testMail) string {
	t.Helper()
	tok := mailLink(t, m).Query().Get("token")
	if tok == "" {
		t.Fatalf("link in mail has no token:\n%s", m.Text)
	}
	return tok
}

// testTLSConfig makes a self-signed certificate for 127.0.0.1 and
// localhost, and a pool that trusts it.
func testTLSConfig(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "authgin test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}, pool
}

// newSilentServer accepts TCP connections and never says a word: the
// greeting never comes. It returns the address and a counter of accepted
// connections.
func newSilentServer(t testing.TB) (host string, port int, accepted *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "127.0.0.1", l.Addr().(*net.TCPAddr).Port, accepted
}
