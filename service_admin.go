package authgin

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// Admin and search operations (authx's admin and search routers). The
// routes check the admin permission; these methods trust their caller.

// UserRef names a user in listings.
type UserRef struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// Blacklist is authx's GET /blacklist: Global lists every banned user,
// Current those banned within the access-token lifetime, whose access
// tokens from before the ban may still be in use in stateless mode.
type Blacklist struct {
	Global  []UserRef `json:"global"`
	Current []UserRef `json:"current"`
}

// Blacklist lists the banned users.
func (s *Service) Blacklist(ctx context.Context) (Blacklist, error) {
	out := Blacklist{Global: []UserRef{}, Current: []UserRef{}}
	banned, recent, err := s.st.bannedAccounts(ctx, s.now().Add(-s.o.AccessTTL))
	if err != nil {
		return Blacklist{}, err
	}
	for _, a := range banned {
		u := UserRef{ID: a.ID, Username: a.Username}
		out.Global = append(out.Global, u)
		if slices.Contains(recent, u.ID) {
			out.Current = append(out.Current, u)
		}
	}
	return out, nil
}

// ToggleBan bans user id, or lifts the ban, on behalf of actor and reports
// whether the user is now banned. A ban revokes every session of the user
// at once, so refresh fails at once (and, in strict mode, access too);
// lifting it lets the user log in again.
func (s *Service) ToggleBan(ctx context.Context, actor User, id int64, cl Client) (banned bool, err error) {
	now := s.now()
	var acct *Account
	err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		var err error
		if acct, err = tx.lockAccount(ctx, id); err != nil {
			return err
		}
		banned = !acct.Banned
		if err := tx.setBanned(ctx, id, banned, now); err != nil {
			return err
		}
		if banned {
			_, err = tx.revokeSessions(ctx, id, "", now)
		}
		return err
	})
	if err != nil {
		return false, err
	}
	acct.Banned = banned
	kind := EventUnban
	if banned {
		kind = EventBan
		s.sessionsRevoked(id, "", now)
	}
	s.log.InfoContext(ctx, "authgin: "+kind, "user_id", id, "actor_id", actor.ID)
	s.record(ctx, SecurityEvent{UserID: id, Event: kind, ActorID: actor.ID}, cl)
	runHook(ctx, s.log, "OnBan", s.o.Hooks.OnBan, BanEvent{UserEvent: s.userEvent(acct, "", cl), ActorID: actor.ID, Banned: banned})
	return banned, nil
}

// Kick revokes every session of user id on behalf of actor and returns how
// many were live.
func (s *Service) Kick(ctx context.Context, actor User, id int64, cl Client) (int64, error) {
	if _, err := s.st.accountByID(ctx, id); err != nil {
		return 0, err
	}
	now := s.now()
	n, err := s.st.revokeSessions(ctx, id, "", now)
	if err != nil {
		return 0, err
	}
	s.sessionsRevoked(id, "", now)
	s.log.InfoContext(ctx, "authgin: kick", "user_id", id, "actor_id", actor.ID, "sessions", n)
	s.record(ctx, SecurityEvent{UserID: id, Event: EventKick, ActorID: actor.ID, Detail: strconv.FormatInt(n, 10) + " sessions"}, cl)
	return n, nil
}

// Blackout returns the blackout cutoff; ErrBlackoutNotFound when none is
// set.
func (s *Service) blackoutRow(ctx context.Context) (time.Time, error) {
	c, err := s.st.blackoutCutoff(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if c == 0 {
		return time.Time{}, ErrBlackoutNotFound
	}
	return time.UnixMilli(c).UTC(), nil
}

// SetBlackout invalidates every token issued until now: refresh tokens of
// sessions opened before it fail at once, and access tokens issued before
// it fail at once in strict mode and on this instance, and within
// Options.BlackoutRefresh on other instances.
func (s *Service) SetBlackout(ctx context.Context, actor User, cl Client) (time.Time, error) {
	now := s.now()
	cutoff := now.UnixMilli()
	if err := s.st.setBlackout(ctx, cutoff, actor.ID); err != nil {
		return time.Time{}, err
	}
	s.blackout.cutoff.Store(cutoff)
	s.strict.clear()
	s.log.WarnContext(ctx, "authgin: blackout set", "actor_id", actor.ID)
	s.record(ctx, SecurityEvent{UserID: actor.ID, Event: EventBlackout, ActorID: actor.ID, SessionID: actor.SessionID}, cl)
	return time.UnixMilli(cutoff).UTC(), nil
}

// ClearBlackout lifts the blackout. Lifting none is not an error.
func (s *Service) ClearBlackout(ctx context.Context, actor User, cl Client) error {
	lifted, err := s.st.deleteBlackout(ctx)
	if err != nil {
		return err
	}
	s.blackout.cutoff.Store(0)
	if lifted {
		s.log.WarnContext(ctx, "authgin: blackout lifted", "actor_id", actor.ID)
		s.record(ctx, SecurityEvent{UserID: actor.ID, Event: EventBlackoutLifted, ActorID: actor.ID}, cl)
	}
	return nil
}

// IDByUsername finds a user by username (compared by canonical key).
func (s *Service) IDByUsername(ctx context.Context, username string) (int64, error) {
	_, key, err := canonicalUsername(username)
	if err != nil {
		return 0, ErrUserNotFound
	}
	acct, err := s.st.accountByUsername(ctx, key)
	if err != nil {
		return 0, err
	}
	if acct == nil {
		return 0, ErrUserNotFound
	}
	return acct.ID, nil
}

// The actions of UpdatePermissions (authx).
const (
	PermissionsAdd    = "ADD"
	PermissionsRemove = "REMOVE"
	PermissionsClear  = "CLEAR"
)

// Bounds on permission names and sets.
const (
	maxPermissionLen = 64
	maxPermissions   = 64
)

// UpdatePermissions adds, removes or clears permissions of user id on
// behalf of actor and returns the new set. The user's sessions are
// revoked, so the next login carries the new set.
func (s *Service) UpdatePermissions(ctx context.Context, actor User, id int64, action string, payload []string, cl Client) ([]string, error) {
	action = strings.ToUpper(action)
	switch action {
	case PermissionsAdd, PermissionsRemove, PermissionsClear:
	default:
		return nil, ErrInvalidAction
	}
	for _, p := range payload {
		if err := checkPermissionName(p); err != nil {
			return nil, err
		}
	}
	now := s.now()
	var perms Permissions
	err := s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		acct, err := tx.lockAccount(ctx, id)
		if err != nil {
			return err
		}
		perms = slices.Clone(acct.Permissions)
		switch action {
		case PermissionsAdd:
			for _, p := range payload {
				if !slices.Contains(perms, p) {
					perms = append(perms, p)
				}
			}
		case PermissionsRemove:
			perms = slices.DeleteFunc(perms, func(p string) bool { return slices.Contains(payload, p) })
		case PermissionsClear:
			perms = Permissions{}
		}
		if len(perms) > maxPermissions {
			return ErrInvalidPermission.withDetail("At most %d permissions", maxPermissions)
		}
		if perms == nil {
			perms = Permissions{}
		}
		if err := tx.setPermissions(ctx, id, perms, now); err != nil {
			return err
		}
		_, err = tx.revokeSessions(ctx, id, "", now)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.sessionsRevoked(id, "", now)
	s.log.InfoContext(ctx, "authgin: permissions changed", "user_id", id, "actor_id", actor.ID, "action", action)
	detail := action
	if action != PermissionsClear {
		detail += " " + strings.Join(payload, ",")
	}
	s.record(ctx, SecurityEvent{UserID: id, Event: EventPermissionsChange, ActorID: actor.ID, Detail: detail}, cl)
	return perms, nil
}

// checkPermissionName accepts 1 to 64 printable characters without spaces.
func checkPermissionName(p string) error {
	if p == "" || len(p) > maxPermissionLen {
		return ErrInvalidPermission
	}
	for _, r := range p {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == unicode.ReplacementChar {
			return ErrInvalidPermission
		}
	}
	return nil
}

// Profile is the private view of a user that admins see (authx's
// UserPrivateInfo).
type Profile struct {
	ID          int64      `json:"id"`
	Username    string     `json:"username"`
	Email       string     `json:"email"`
	Active      bool       `json:"active"` // not banned
	Confirmed   bool       `json:"confirmed"`
	Permissions []string   `json:"permissions"`
	CreatedAt   time.Time  `json:"createdAt"`
	LastLogin   *time.Time `json:"lastLogin"`
	// fields are the user's own fields (Options.UserFields), rendered
	// after the members above.
	fields []fieldJSON
}

func newProfile(a *Account) Profile {
	p := Profile{
		ID: a.ID, Username: a.Username, Email: a.Email, Active: !a.Banned, Confirmed: a.Confirmed,
		Permissions: a.Permissions, CreatedAt: a.CreatedAt.UTC(),
	}
	if p.Permissions == nil {
		p.Permissions = []string{}
	}
	if a.LastLoginAt != nil {
		t := a.LastLoginAt.UTC()
		p.LastLogin = &t
	}
	return p
}

// UserProfile returns the private profile of user id.
func (s *Service) UserProfile(ctx context.Context, id int64) (Profile, error) {
	acct, err := s.st.accountByID(ctx, id)
	if err != nil {
		return Profile{}, err
	}
	p := []Profile{newProfile(acct)}
	return p[0], s.attachFields(ctx, p)
}

// SearchQuery filters SearchUsers. Zero fields do not filter.
type SearchQuery struct {
	ID int64
	// Username matches usernames containing it, ignoring case. It is text,
	// never a pattern: % and _ match themselves.
	Username string
	// Fields match users whose searchable user field (Options.UserFields)
	// of each name has exactly the value given as text: a string as it
	// is, other types as JSON (true, 42).
	Fields map[string]string
}

// maxSearchLen bounds the username filter.
const maxSearchLen = 256

// SearchUsers returns page p (by id) of the users matching q.
func (s *Service) SearchUsers(ctx context.Context, q SearchQuery, p int) (Page[Profile], error) {
	if err := checkPage(p); err != nil {
		return Page[Profile]{}, err
	}
	if len(q.Username) > maxSearchLen || strings.IndexByte(q.Username, 0) >= 0 || !utf8.ValidString(q.Username) {
		return Page[Profile]{}, ErrInvalidInput.withDetail("Invalid username filter")
	}
	fragment := ""
	if q.Username != "" {
		fragment = searchKey(q.Username)
	}
	match, err := s.fieldFilters(q.Fields)
	if err != nil {
		return Page[Profile]{}, err
	}
	rows, n, err := s.st.searchAccounts(ctx, q.ID, fragment, match, p, PageSize)
	if err != nil {
		return Page[Profile]{}, err
	}
	items := make([]Profile, 0, len(rows))
	for i := range rows {
		items = append(items, newProfile(&rows[i]))
	}
	if err := s.attachFields(ctx, items); err != nil {
		return Page[Profile]{}, err
	}
	return Page[Profile]{Items: items, Pages: pageCount(n), CurrentPage: p}, nil
}

// searchKey maps search text as usernames are mapped into username_key
// (width folding, lower case, NFC), so that it matches case-insensitively.
// Unlike canonicalUsername it accepts any fragment.
func searchKey(s string) string {
	s = width.Fold.String(strings.ToValidUTF8(s, ""))
	return norm.NFC.String(cases.Lower(language.Und).String(s))
}

// EnsureAdmin makes sure an admin account exists, for bootstrapping (e.g.
// examples/basic's AUTHGIN_ADMIN): the account with this email gets the
// "admin" permission, or is created (confirmed, with the password) when no
// account has this email. The password of an existing account is left
// alone. Reserved usernames are allowed here. It reports whether the
// account was created.
func (s *Service) EnsureAdmin(ctx context.Context, email, username, password string) (acct *Account, created bool, err error) {
	email, emailKey, err := canonicalEmail(email)
	if err != nil {
		return nil, false, err
	}
	username, usernameKey, err := canonicalUsername(username)
	if err != nil {
		return nil, false, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		acct, err = s.st.accountByEmail(ctx, emailKey)
		if err != nil {
			return nil, false, err
		}
		if acct != nil {
			return acct, false, s.promote(ctx, acct)
		}
		if attempt > 0 {
			break
		}
		pw, err := checkPassword(password, PasswordInfo{Username: username, Email: email}, s.passwords)
		if err != nil {
			return nil, false, err
		}
		hash, err := s.hasher.hash(ctx, pw)
		if err != nil {
			return nil, false, err
		}
		now := s.now()
		skeleton := usernameSkeleton(usernameKey)
		acct = &Account{
			Email: email, EmailKey: emailKey, Username: username, UsernameKey: usernameKey, UsernameSkeleton: &skeleton,
			PasswordHash: hash, Permissions: Permissions{PermissionAdmin}, Confirmed: true, CreatedAt: now, UpdatedAt: now,
		}
		err = s.st.createAccount(ctx, acct)
		if err == nil {
			s.log.InfoContext(ctx, "authgin: admin account created", "user_id", acct.ID)
			return acct, true, nil
		}
		if !errors.Is(err, errDuplicate) {
			return nil, false, err
		}
		// Created concurrently under this email (promote it), or the
		// username or a look-alike belongs to another account (the loop
		// ends with an error).
	}
	return nil, false, ErrUsernameExists
}

// promote adds the admin permission to acct.
func (s *Service) promote(ctx context.Context, acct *Account) error {
	if acct.IsAdmin() {
		return nil
	}
	return s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		a, err := tx.lockAccount(ctx, acct.ID)
		if err != nil {
			return err
		}
		if !a.IsAdmin() {
			a.Permissions = append(a.Permissions, PermissionAdmin)
			if err := tx.setPermissions(ctx, a.ID, a.Permissions, s.now()); err != nil {
				return err
			}
		}
		*acct = *a
		s.log.InfoContext(ctx, "authgin: account promoted to admin", "user_id", a.ID)
		return nil
	})
}
