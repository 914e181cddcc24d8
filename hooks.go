package authgin

import (
	"context"
	"log/slog"
	"time"
)

// Hooks are callbacks run after an event was committed. A hook runs on the
// request's goroutine after the response data is decided; a panic in it is
// recovered and logged and never changes the response.
type Hooks struct {
	OnRegister       func(context.Context, UserEvent)
	OnLogin          func(context.Context, UserEvent)
	OnLoginFailed    func(context.Context, LoginFailedEvent)
	OnLogout         func(context.Context, UserEvent)
	OnRefreshReuse   func(context.Context, UserEvent)
	OnConfirm        func(context.Context, UserEvent)
	OnPasswordChange func(context.Context, UserEvent)
	OnPasswordReset  func(context.Context, UserEvent)
	// OnUsernameChange replaces authx's change_username callbacks.
	OnUsernameChange func(context.Context, UsernameChangeEvent)
	OnBan            func(context.Context, BanEvent)
	// OnEmailChange runs when an email change link was used: the account
	// has its new, confirmed address.
	OnEmailChange func(context.Context, EmailChangeEvent)
	// OnAccountDeleted runs after an account deleted itself (POST
	// /delete_account): the app deletes the data it keeps for UserID.
	OnAccountDeleted func(context.Context, UserEvent)
	// OnSecurityEvent receives every event recorded in the security log
	// (see the Event constants), including those without a typed hook:
	// logout_all, kick, permission changes, blackouts.
	OnSecurityEvent func(context.Context, SecurityEvent)
}

// UserEvent describes an event that concerns one user.
type UserEvent struct {
	UserID    int64
	Username  string
	SessionID string
	IP        string
	UserAgent string
	Time      time.Time
}

// LoginFailedEvent describes a failed login. UserID is zero when the login
// named no known user.
type LoginFailedEvent struct {
	UserEvent
	Login string // what the client typed, never the password
}

// UsernameChangeEvent describes a username change by the user or an admin.
type UsernameChangeEvent struct {
	UserEvent
	ActorID     int64
	OldUsername string
	NewUsername string
}

// EmailChangeEvent describes a completed email change.
type EmailChangeEvent struct {
	UserEvent
	OldEmail string
	NewEmail string
}

// BanEvent describes a ban or an unban by an admin.
type BanEvent struct {
	UserEvent
	ActorID int64
	Banned  bool
}

// runHook calls fn(ctx, ev) if fn is set, recovering and logging a panic.
func runHook[E any](ctx context.Context, log *slog.Logger, name string, fn func(context.Context, E), ev E) {
	if fn == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			log.ErrorContext(ctx, "authgin: hook panicked", "hook", name, "panic", r)
		}
	}()
	fn(ctx, ev)
}
