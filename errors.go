package authgin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// Error is an error with an HTTP status, a stable machine-readable code and
// a human-readable detail. Every error a route returns is rendered from one,
// as {"detail": Detail, "code": Code}.
type Error struct {
	Status int    // HTTP status
	Code   string // stable snake_case code, the contract clients match on
	Detail string // default English text (authx's where it had one)
	// RetryAfter, when positive, is sent as the Retry-After header in
	// whole seconds, rounded up.
	RetryAfter time.Duration
}

// Error returns "code: detail", for logs; clients see the JSON rendering.
func (e *Error) Error() string { return e.Code + ": " + e.Detail }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrTooManyRequests) matches whatever Retry-After it carries.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// withRetry returns a copy of e carrying a Retry-After.
func (e *Error) withRetry(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// withDetail returns a copy of e with another detail text.
func (e *Error) withDetail(format string, args ...any) *Error {
	c := *e
	c.Detail = fmt.Sprintf(format, args...)
	return &c
}

func newError(status int, code, detail string) *Error {
	return &Error{Status: status, Code: code, Detail: detail}
}

// The errors the routes return. Codes are stable; details are authx's
// English texts where authx had one.
var (
	ErrInvalidCredentials = newError(http.StatusUnauthorized, "invalid_credentials", "Invalid credentials")
	ErrUserNotFound       = newError(http.StatusNotFound, "user_not_found", "User not found")
	ErrUserBanned         = newError(http.StatusBadRequest, "user_banned", "User is banned")
	ErrUnauthorized       = newError(http.StatusUnauthorized, "unauthorized", "Not authenticated")
	ErrInvalidToken       = newError(http.StatusUnauthorized, "invalid_token", "Invalid or expired token")
	ErrForbidden          = newError(http.StatusForbidden, "forbidden", "Forbidden")
	ErrCrossOrigin        = newError(http.StatusForbidden, "csrf", "Cross-origin request rejected")
	ErrTooManyRequests    = newError(http.StatusTooManyRequests, "too_many_requests", "Too many requests")

	ErrEmailExists        = newError(http.StatusBadRequest, "email_exists", "Email already exists")
	ErrUsernameExists     = newError(http.StatusBadRequest, "username_exists", "Username already exists")
	ErrPasswordsMismatch  = newError(http.StatusBadRequest, "passwords_mismatch", "Passwords mismatch")
	ErrInvalidEmail       = newError(http.StatusBadRequest, "invalid_email", "Invalid email")
	ErrInvalidUsername    = newError(http.StatusBadRequest, "invalid_username", "Invalid username")
	ErrInvalidPassword    = newError(http.StatusBadRequest, "invalid_password", "Invalid password")
	ErrSameUsername       = newError(http.StatusBadRequest, "same_username", "Enter NEW username")
	ErrWrongCaptcha       = newError(http.StatusBadRequest, "wrong_captcha", "Wrong captcha")
	ErrCaptchaUnavailable = newError(http.StatusServiceUnavailable, "captcha_unavailable",
		"Captcha verification is unavailable, try again later")

	ErrAlreadyConfirmed    = newError(http.StatusBadRequest, "already_confirmed", "Email already confirmed")
	ErrInvalidConfirmToken = newError(http.StatusForbidden, "invalid_confirmation_token", "Invalid or expired confirmation token")
	ErrInvalidID           = newError(http.StatusBadRequest, "invalid_id", "Invalid id")
	ErrMailUnavailable     = newError(http.StatusServiceUnavailable, "mail_unavailable", "The mail could not be sent, try again later")

	ErrUnsupportedMediaType = newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	ErrBodyTooLarge         = newError(http.StatusRequestEntityTooLarge, "body_too_large", "Request body too large")
	ErrMalformedBody        = newError(http.StatusBadRequest, "malformed_body", "Malformed JSON body")
	ErrInvalidInput         = newError(http.StatusBadRequest, "invalid_input", "Invalid input")

	ErrUnavailable = newError(http.StatusServiceUnavailable, "unavailable", "Service temporarily unavailable")
	ErrOverloaded  = newError(http.StatusServiceUnavailable, "overloaded", "Server is busy, try again later")
	errInternal    = newError(http.StatusInternalServerError, "internal", "Internal server error")
)

// The password rule errors of checkPassword (all 400).
var (
	ErrPasswordTooShort         = newError(http.StatusBadRequest, "password_too_short", "Password is too short")
	ErrPasswordTooLong          = newError(http.StatusBadRequest, "password_too_long", "Password is too long")
	ErrPasswordCommon           = newError(http.StatusBadRequest, "password_common", "Password is too common")
	ErrPasswordContainsUsername = newError(http.StatusBadRequest, "password_contains_username", "Password must not contain your username")
	ErrPasswordPolicy           = newError(http.StatusBadRequest, "password_policy", "Password is not allowed")
)

// The errors of the password routes.
var (
	ErrPasswordExists    = newError(http.StatusBadRequest, "password_exists", "Password exists")
	ErrWrongPassword     = newError(http.StatusBadRequest, "wrong_password", "Wrong password!")
	ErrSamePassword      = newError(http.StatusBadRequest, "same_password", "Enter NEW password")
	ErrInvalidResetToken = newError(http.StatusNotFound, "invalid_reset_token", "Invalid or expired reset token")
)

// ErrNoPublicKeys answers GET /.well-known/jwks.json when tokens are
// signed with HS256, whose key is secret.
var ErrNoPublicKeys = newError(http.StatusNotFound, "not_found", "Tokens are signed with a shared secret: there are no public keys")

// ErrEmailNotConfirmed is RequireConfirmed's answer before the account's
// email is confirmed.
var ErrEmailNotConfirmed = newError(http.StatusForbidden, "email_not_confirmed", "Email not confirmed")

// Errors of the session, admin and search routes.
var (
	ErrSessionNotFound   = newError(http.StatusNotFound, "session_not_found", "Session not found")
	ErrBlackoutNotFound  = newError(http.StatusNotFound, "blackout_not_found", "No blackout is set")
	ErrInvalidAction     = newError(http.StatusBadRequest, "invalid_action", "wrong action")
	ErrInvalidPermission = newError(http.StatusBadRequest, "invalid_permission", "Invalid permission")
	ErrInvalidPage       = newError(http.StatusBadRequest, "invalid_page", "Invalid page")
)

// ErrInvalidProfile is the 400 of a user field (Options.UserFields) that
// register or PATCH /me refused; its detail names the field.
var ErrInvalidProfile = newError(http.StatusBadRequest, "invalid_profile", "Invalid profile")

// httpError maps any error to the *Error rendered to the client. Errors that
// are not *Error are database or programming faults: the caller logs them;
// the client sees only a code.
func httpError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.As(err, new(*storeError)):
		return ErrUnavailable
	default:
		return errInternal
	}
}

// retryAfterSeconds renders d as whole seconds, rounded up and at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// abortError renders err as {"detail","code"} and aborts the chain. Faults
// that are not *Error are logged to log here, the one place they surface.
func abortError(c *gin.Context, log *slog.Logger, err error) {
	e := httpError(err)
	if log != nil && e.Status >= 500 && e.Code != ErrOverloaded.Code && e.Code != ErrMailUnavailable.Code {
		log.ErrorContext(c.Request.Context(), "authgin: request failed",
			"method", c.Request.Method, "route", c.FullPath(), "err", err)
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	c.AbortWithStatusJSON(e.Status, gin.H{"detail": e.Detail, "code": e.Code})
}

// The errors of social login (the /oauth routes).
var (
	ErrUnknownProvider = newError(http.StatusNotFound, "unknown_provider", "Unknown provider")
	ErrOAuthState      = newError(http.StatusBadRequest, "oauth_state", "The login expired or was started elsewhere: start it again")
	ErrOAuthDenied     = newError(http.StatusBadRequest, "oauth_denied", "The provider did not authorize the login")
	ErrOAuthProvider   = newError(http.StatusBadGateway, "oauth_provider", "The provider failed or sent an invalid answer")
	ErrOAuthEmail      = newError(http.StatusBadRequest, "oauth_email", "The provider gave no verified email address")
	ErrOAuthLinked     = newError(http.StatusBadRequest, "oauth_linked", "This provider account is linked to another user")
	ErrOAuthNotLinked  = newError(http.StatusNotFound, "oauth_not_linked", "This provider is not linked to your account")
	ErrLastLoginMethod = newError(http.StatusBadRequest, "last_login_method",
		"This is your only way to log in: set a password or link another provider first")
	ErrInvalidNext = newError(http.StatusBadRequest, "invalid_next", "next must be a path on this site")
)
