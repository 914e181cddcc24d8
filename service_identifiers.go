package authgin

import (
	"context"
	"errors"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// Username length bounds, in characters of the canonical key.
const (
	minUsernameLength = 3
	maxUsernameLength = 32
	// maxEmailLength is RFC 5321's limit on a forward path (256 octets
	// including the angle brackets), counted in bytes; maxEmailLocal is its
	// limit on the local part.
	maxEmailLength = 254
	maxEmailLocal  = 64
)

// canonicalUsername validates a username and returns its display form (NFC,
// surrounding white space trimmed) and its unique key (PRECIS
// UsernameCaseMapped, RFC 8265: width-folded, lower-cased, NFC), which is
// what uniqueness and reserved names compare. Fullwidth "ｊｏｈｎ" and
// "John" thus share the key "john".
//
// A username is accepted when:
//   - it is valid UTF-8 without NUL, control or format characters (this
//     includes zero-width spaces and joiners, bidi controls, soft hyphens);
//   - PRECIS UsernameCaseMapped accepts it (no spaces, symbols or
//     compatibility characters) and its key is stable under a second pass;
//   - its key is 3 to 32 characters long, made only of letters (with their
//     combining marks), digits, '_', '.' and '-', with at least one letter or
//     digit;
//   - its letters and digits come from one script, ignoring Common and
//     Inherited, so that Cyrillic 'а' cannot pose as Latin 'a' in "аdmin".
//     As in UTS #39's highly restrictive level, Latin may also be combined
//     with Han, Hiragana and Katakana (Japanese), Han and Bopomofo (Chinese)
//     or Han and Hangul (Korean).
//
// Errors are ErrInvalidUsername with a detail saying what is wrong.
func canonicalUsername(s string) (display, key string, err error) {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", "", ErrInvalidUsername.withDetail("Username must be valid UTF-8 text without NUL characters")
	}
	display = norm.NFC.String(strings.TrimSpace(s))
	for _, r := range display {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			return "", "", ErrInvalidUsername.withDetail("Username must not contain control or invisible characters")
		}
	}
	if n := utf8.RuneCountInString(display); n > maxUsernameLength {
		return "", "", ErrInvalidUsername.withDetail("Username must be at most %d characters", maxUsernameLength)
	}
	key, err = precis.UsernameCaseMapped.String(display)
	if err != nil {
		return "", "", ErrInvalidUsername.withDetail("Username may contain only letters, digits, '_', '.' and '-'")
	}
	if again, err := precis.UsernameCaseMapped.String(key); err != nil || again != key {
		return "", "", ErrInvalidUsername.withDetail("Username contains characters that are not allowed")
	}
	n := utf8.RuneCountInString(key)
	if n < minUsernameLength || n > maxUsernameLength {
		return "", "", ErrInvalidUsername.withDetail("Username must be %d to %d characters long", minUsernameLength, maxUsernameLength)
	}
	alnum := false
	for i, r := range key {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			alnum = true
		case unicode.IsMark(r) && i > 0:
			// Combining marks belong to the letter before them; many
			// scripts cannot be written without them.
		case r == '_' || r == '.' || r == '-':
		default:
			return "", "", ErrInvalidUsername.withDetail("Username may contain only letters, digits, '_', '.' and '-'")
		}
	}
	if !alnum {
		return "", "", ErrInvalidUsername.withDetail("Username must contain a letter or a digit")
	}
	if !singleScript(key) {
		return "", "", ErrInvalidUsername.withDetail("Username must not mix letters of different scripts")
	}
	return display, key, nil
}

// singleScript reports whether the characters of s belong to one script
// (Common and Inherited ones aside) or to an allowed combination.
func singleScript(s string) bool {
	var scripts []string
	for _, r := range s {
		name := scriptOf(r)
		if name == "" || slices.Contains(scripts, name) {
			continue
		}
		scripts = append(scripts, name)
	}
	if len(scripts) <= 1 {
		return true
	}
	// The combinations of UTS #39's highly restrictive level.
	for _, mix := range [...][]string{
		{"Latin", "Han", "Hiragana", "Katakana"},
		{"Latin", "Han", "Bopomofo"},
		{"Latin", "Han", "Hangul"},
	} {
		if !slices.ContainsFunc(scripts, func(sc string) bool { return !slices.Contains(mix, sc) }) {
			return true
		}
	}
	return false
}

// scriptOf returns the Unicode script of r, or "" for Common, Inherited and
// unassigned characters.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf { // fast path: ASCII letters are Latin, the rest Common
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	for name, table := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

// canonicalEmail validates an email address and returns it (NFC, surrounding
// white space trimmed) and its unique key, the lower-cased address.
//
// Only a bare address is accepted, as net/mail parses it: no display name
// ("Name <a@example.com>"), angle brackets, comments, groups or quoted local
// parts. The address is at most 254 bytes with a local part of at most 64,
// and its domain must contain a dot (no single-label or literal domains:
// such addresses cannot receive mail from the internet). Errors are
// ErrInvalidEmail with a detail saying what is wrong.
func canonicalEmail(s string) (addr, key string, err error) {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", "", ErrInvalidEmail.withDetail("Email must be valid UTF-8 text without NUL characters")
	}
	addr = norm.NFC.String(strings.TrimSpace(s))
	if addr == "" {
		return "", "", ErrInvalidEmail.withDetail("Email is required")
	}
	if err := checkAddress(addr); err != nil {
		return "", "", err
	}
	key = norm.NFC.String(strings.ToLower(addr))
	// The key must itself be a valid address (lower-casing can lengthen
	// some characters) and canonicalise to itself.
	if err := checkAddress(key); err != nil {
		return "", "", err
	}
	if norm.NFC.String(strings.ToLower(key)) != key {
		return "", "", ErrInvalidEmail.withDetail("Email contains characters that are not allowed")
	}
	return addr, key, nil
}

// checkAddress applies canonicalEmail's rules to a trimmed NFC address.
func checkAddress(addr string) error {
	for _, r := range addr {
		if unicode.In(r, unicode.Cc, unicode.Cf) || unicode.IsSpace(r) {
			return ErrInvalidEmail.withDetail("Email must not contain spaces, control or invisible characters")
		}
	}
	if len(addr) > maxEmailLength {
		return ErrInvalidEmail.withDetail("Email must be at most %d bytes", maxEmailLength)
	}
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		return ErrInvalidEmail.withDetail("Enter a plain email address such as name@example.com")
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if len(local) > maxEmailLocal {
		return ErrInvalidEmail.withDetail("The part of the email before '@' must be at most %d bytes", maxEmailLocal)
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.HasPrefix(domain, "[") {
		return ErrInvalidEmail.withDetail("The email's domain must be a full domain name such as example.com")
	}
	return nil
}

// usernameSkeleton returns the confusable skeleton of a username key
// (Unicode UTS #39 §4, with the confusables.txt data of Unicode 13.0.0
// that github.com/mtibben/confusables ships): two names whose skeletons
// are equal look alike. Each character is mapped to its prototype, so
// Cyrillic "сосо943308" and Latin "coco943308" both give "coco9433O8",
// and "rn" and "m" give "rn". Keys are case-mapped already, so names that
// differ only in case share a key before they share a skeleton.
func usernameSkeleton(key string) string { return confusables.Skeleton(key) }

// reservedSkeletons returns the skeletons of the username keys of names,
// so that look-alikes of a reserved name are reserved too; a name that is
// no valid username could never be registered and is left out.
func reservedSkeletons(names []string) map[string]struct{} {
	skels := make(map[string]struct{}, len(names))
	for _, n := range names {
		if _, k, err := canonicalUsername(n); err == nil {
			skels[usernameSkeleton(k)] = struct{}{}
		}
	}
	return skels
}

// defaultReservedUsernames returns a fresh slice of the names that cannot be
// registered when Options.ReservedUsernames is nil: names that could pass
// for the site or its staff, or collide with routes.
func defaultReservedUsernames() []string {
	return []string{
		"admin", "administrator", "root", "system", "sysadmin", "superuser",
		"support", "help", "staff", "moderator", "mod", "owner", "official",
		"security", "abuse", "postmaster", "hostmaster", "webmaster", "info",
		"noreply", "no-reply", "mail", "me", "api", "www", "auth", "login",
		"logout", "register", "signup", "account", "accounts", "user", "users",
		"settings", "null", "undefined", "anonymous", "everyone", "all",
	}
}

// backfillSkeletons sets the username skeleton of every account that has
// none: the accounts that registered before the column existed. The first
// account (by id) to claim a skeleton keeps it; a later look-alike keeps
// its name and NULL, and is logged, since renaming it is the app's call.
// Instances that start together do the same work without harm.
func backfillSkeletons(ctx context.Context, st *store, log *slog.Logger) error {
	set, clashes := 0, 0
	var after int64
	for {
		rows, err := st.accountsWithoutSkeleton(ctx, after, 500)
		if err != nil || len(rows) == 0 {
			if set+clashes > 0 {
				log.InfoContext(ctx, "authgin: username skeletons backfilled", "set", set, "look_alikes_left_without", clashes)
			}
			return err
		}
		for _, a := range rows {
			after = a.ID
			err := st.setSkeleton(ctx, a.ID, usernameSkeleton(a.UsernameKey))
			switch {
			case errors.Is(err, errDuplicate):
				clashes++
				log.WarnContext(ctx, "authgin: username looks like another account's; it keeps its name but not its skeleton",
					"user_id", a.ID)
			case err != nil:
				return err
			default:
				set++
			}
		}
	}
}
