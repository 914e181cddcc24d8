package authgin

import (
	"context"
	"strings"
)

// The kinds of SecurityEvent.
const (
	EventRegister          = "register"
	EventLogin             = "login"
	EventLoginFailed       = "login_failed" // recorded for known users only
	EventLogout            = "logout"
	EventLogoutAll         = "logout_all"
	EventSessionRevoked    = "session_revoked" // DELETE /sessions/{id}
	EventRefreshReuse      = "refresh_reuse"
	EventPasswordChange    = "password_change"
	EventPasswordReset     = "password_reset"
	EventUsernameChange    = "username_change"
	EventBan               = "ban"
	EventUnban             = "unban"
	EventKick              = "kick"
	EventPermissionsChange = "permissions_change"
	EventBlackout          = "blackout"        // recorded for the admin who set it
	EventBlackoutLifted    = "blackout_lifted" // recorded for the admin who lifted it
	EventEmailChange       = "email_change"
	// EventAccountDeleted is what stays of a deleted account's log: its
	// id and the time, nothing personal.
	EventAccountDeleted = "account_deleted"
	EventImportBanned   = "import_banned" // imported from authx as inactive (Importer)
)

// record stores a security event and runs Hooks.OnSecurityEvent. It is
// called after the change it describes was committed and is best effort: a
// failure is logged and never fails the request. It outlives a client that
// hangs up, bounded by Options.DBTimeout. (Login writes its event in its own
// transaction instead.)
func (s *Service) record(ctx context.Context, ev SecurityEvent, cl Client) {
	ev = s.newEvent(ev, cl)
	// The store bounds the call by DBTimeout.
	if err := s.st.insertEvent(context.WithoutCancel(ctx), &ev); err != nil {
		s.log.ErrorContext(ctx, "authgin: recording a security event failed", "event", ev.Event, "user_id", ev.UserID, "err", err)
	}
	runHook(ctx, s.log, "OnSecurityEvent", s.o.Hooks.OnSecurityEvent, ev)
}

// newEvent completes ev with the client and the time, ready to insert.
func (s *Service) newEvent(ev SecurityEvent, cl Client) SecurityEvent {
	ev.IP = clean(cl.IP, 64)
	ev.UserAgent = clean(cl.UserAgent, 512)
	ev.Detail = clean(ev.Detail, 255)
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = s.now()
	}
	return ev
}

// clean makes client-supplied text storable on every backend: valid UTF-8,
// no NUL, at most n bytes.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.ReplaceAll(s, "\x00", "")
	return truncate(s, n)
}

// Page is one page of a listing: authx's {"items", "pages", "currentPage"}.
type Page[T any] struct {
	Items       []T   `json:"items"`
	Pages       int64 `json:"pages"`
	CurrentPage int   `json:"currentPage"`
}

// PageSize is the number of items on a page of a listing (authx).
const PageSize = 20

// maxPage bounds page numbers so that offsets never overflow.
const maxPage = 1 << 20

// checkPage validates a 1-based page number.
func checkPage(p int) error {
	if p < 1 || p > maxPage {
		return ErrInvalidPage
	}
	return nil
}

func pageCount(n int64) int64 { return (n + PageSize - 1) / PageSize }

// Events returns page p (newest first) of the security log of userID, on
// behalf of actor: users read their own log, admins anyone's.
func (s *Service) Events(ctx context.Context, actor User, userID int64, p int) (Page[SecurityEvent], error) {
	if actor.ID != userID && !actor.IsAdmin() {
		return Page[SecurityEvent]{}, ErrForbidden
	}
	if err := checkPage(p); err != nil {
		return Page[SecurityEvent]{}, err
	}
	items, n, err := s.st.eventsOf(ctx, userID, p, PageSize)
	if err != nil {
		return Page[SecurityEvent]{}, err
	}
	for i := range items {
		items[i].CreatedAt = items[i].CreatedAt.UTC()
	}
	return Page[SecurityEvent]{Items: items, Pages: pageCount(n), CurrentPage: p}, nil
}
