package authgin

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authgin/authgin/internal/argon2id"
	"github.com/authgin/authgin/internal/commonpasswords"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params sets the argon2id cost of new password hashes. Hashes made
// with other parameters still verify (the parameters are read from the
// stored PHC string) and are rehashed on the next successful login.
type Argon2Params struct {
	Memory      uint32 // memory in KiB
	Iterations  uint32 // passes over the memory (t)
	Parallelism uint8  // lanes (p)
	SaltLength  uint32 // random salt bytes
	KeyLength   uint32 // derived key bytes
}

// DefaultArgon2 returns the OWASP-recommended argon2id cost: m=19 MiB, t=2,
// p=1, with a 16-byte salt and a 32-byte key.
func DefaultArgon2() Argon2Params {
	return Argon2Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Bounds on argon2 parameters: what Options.Argon2 may set, and an outer
// bound on what decodePHC accepts from a stored hash. verify holds stored
// hashes to a tighter, relative bound (hasher.admits).
const (
	maxArgon2Memory     = 1 << 20 // KiB: 1 GiB
	maxArgon2Iterations = 100
	maxArgon2SaltLength = 64
	maxArgon2KeyLength  = 128
	// Legacy hashes get the same treatment.
	maxBcryptCost       = 16        // 2^16 rounds, several seconds
	maxPBKDF2Iterations = 5_000_000 // Django 5.x uses ~1M
	// bcryptMaxPassword is where bcrypt silently truncates its input.
	bcryptMaxPassword = 72
	// hashRetryAfter is the Retry-After of a request that found every
	// hashing slot busy for the whole queue timeout.
	hashRetryAfter = 3 * time.Second
	// storedCostFactor bounds the argon2id cost of a stored hash that
	// verify runs, relative to the larger of the configured cost and
	// DefaultArgon2: at most this many times its memory, its passes and its
	// work (memory × passes).
	storedCostFactor = 4
	// maxLegacyFloor caps how long a failed verification is made to last
	// (hasher.padFailure), whatever legacy hash the database holds.
	maxLegacyFloor = 2 * time.Second
)

// validate reports zero or absurd parameters with an error naming the field.
func (p Argon2Params) validate() error {
	switch {
	case p.Parallelism == 0:
		return errors.New("authgin: Options.Argon2.Parallelism must be at least 1")
	case p.Iterations == 0:
		return errors.New("authgin: Options.Argon2.Iterations must be at least 1")
	case p.Iterations > maxArgon2Iterations:
		return fmt.Errorf("authgin: Options.Argon2.Iterations must be at most %d (got %d)", maxArgon2Iterations, p.Iterations)
	case p.Memory < 8*uint32(p.Parallelism):
		return fmt.Errorf("authgin: Options.Argon2.Memory must be at least 8*Parallelism KiB (got %d KiB for %d lanes)", p.Memory, p.Parallelism)
	case p.Memory > maxArgon2Memory:
		return fmt.Errorf("authgin: Options.Argon2.Memory must be at most %d KiB (got %d)", maxArgon2Memory, p.Memory)
	case p.SaltLength < 8 || p.SaltLength > maxArgon2SaltLength:
		return fmt.Errorf("authgin: Options.Argon2.SaltLength must be between 8 and %d bytes (got %d)", maxArgon2SaltLength, p.SaltLength)
	case p.KeyLength < 16 || p.KeyLength > maxArgon2KeyLength:
		return fmt.Errorf("authgin: Options.Argon2.KeyLength must be between 16 and %d bytes (got %d)", maxArgon2KeyLength, p.KeyLength)
	}
	return nil
}

// PasswordInfo is what a PasswordPolicy may look at besides the password.
type PasswordInfo struct {
	Username string
	Email    string
}

// hasher hashes and verifies passwords. At most cap(sem) hashes run at once:
// argon2id at the default cost holds 19 MiB and a core for tens of
// milliseconds, so an unbounded burst would exhaust memory. Callers queue for
// a slot for at most queueTimeout and then get ErrOverloaded.
//
// Each slot works in a block array kept in mems and reused by the next hash
// (internal/argon2id), rather than allocating, zeroing and collecting the
// hash's memory every time.
type hasher struct {
	params       Argon2Params
	sem          chan struct{}
	mems         chan *argon2id.Memory // at most cap(sem) arrays, allocated on first use
	queueTimeout time.Duration
	waiting      atomic.Int64 // callers queued for a slot
	// legacyFloor (nanoseconds) is how long a failed verification lasts at
	// least: about as long as verifying the costliest legacy hash takes
	// (padFailure).
	legacyFloor atomic.Int64
}

// newHasher returns a hasher of argon2id hashes with p that runs at most
// concurrency hashes at once (at least one).
func newHasher(p Argon2Params, concurrency int, queueTimeout time.Duration) *hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &hasher{params: p, sem: make(chan struct{}, concurrency), mems: make(chan *argon2id.Memory, concurrency), queueTimeout: queueTimeout}
	// Give the arrays back to the system with the hasher (if Close did not).
	// A hash in flight keeps h reachable, so by then every array is in the
	// channel.
	runtime.AddCleanup(h, freeArgon2Mems, h.mems)
	return h
}

// close gives back the block arrays of the slots that are not hashing. A
// hash still running puts its array back afterwards (the cleanup frees it),
// and a hash after close maps a new one.
func (h *hasher) close() { freeArgon2Mems(h.mems) }

func freeArgon2Mems(mems chan *argon2id.Memory) {
	for {
		select {
		case m := <-mems:
			m.Free()
		default:
			return
		}
	}
}

// argon2id derives keyLen bytes from NFC(password) and salt with p's cost.
// The caller holds a hashing slot. It works in a kept block array sized for
// h's parameters; a stored hash with more memory than those (older, within
// the caps) gets a temporary array of its own (argon2id.Memory.Key).
func (h *hasher) argon2id(password string, salt []byte, p Argon2Params, keyLen uint32) []byte {
	pw := []byte(norm.NFC.String(password))
	var m *argon2id.Memory
	select {
	case m = <-h.mems:
	default: // this slot's first hash
		m = argon2id.NewMemory(h.params.Memory, h.params.Parallelism)
	}
	defer func() { h.mems <- m }() // never blocks: one array a slot, and the caller holds a slot
	return m.Key(pw, salt, p.Iterations, p.Memory, p.Parallelism, keyLen)
}

// acquire takes a hashing slot. The caller must call the returned release.
func (h *hasher) acquire(ctx context.Context) (release func(), err error) {
	if ctx.Err() != nil {
		return nil, ErrOverloaded.withRetry(hashRetryAfter)
	}
	release = func() { <-h.sem }
	select {
	case h.sem <- struct{}{}:
		return release, nil
	default:
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.queueTimeout)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return release, nil
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, ErrOverloaded.withRetry(hashRetryAfter)
}

// queued reports whether a caller is waiting for a hashing slot: the
// server hashes as fast as it can, and logins wait anyway.
func (h *hasher) queued() bool { return h.waiting.Load() > 0 }

// hash returns the argon2id PHC string of NFC(password):
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<key>, salt and key
// in standard base64 without padding.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("authgin: reading random salt: %w", err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	p := h.params
	key := h.argon2id(password, salt, p, p.KeyLength)
	return encodePHC(p, salt, key), nil
}

func encodePHC(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2id.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// verify reports whether password matches encoded, which is an argon2id PHC
// string, a bcrypt hash ($2a$, $2b$, $2y$) or a Django pbkdf2_sha256 hash
// (pbkdf2_sha256$<iterations>$<salt>$<base64 key>). rehash is true, for a
// match only, when the hash is legacy (bcrypt, pbkdf2) or argon2id with
// parameters other than h's: the caller should then store a fresh hash.
//
// encoded == "" (unknown user, account without password) runs a dummy
// argon2id derivation of h's cost, so that the answer takes as long as for a
// known user, and reports no match. A malformed or out-of-bounds hash
// (beyond admits' bound for argon2id) reports no match and no error. Every
// answer of no match lasts at least the legacy floor (padFailure). The only
// errors are ErrOverloaded (no hashing slot in time) and failures of the
// system's random source.
func (h *hasher) verify(ctx context.Context, encoded, password string) (match, rehash bool, err error) {
	start := time.Now()
	match, rehash, err = h.check(ctx, encoded, password)
	if !match && err == nil {
		h.padFailure(ctx, start)
	}
	return match, rehash, err
}

// check is verify without the padding.
func (h *hasher) check(ctx context.Context, encoded, password string) (match, rehash bool, err error) {
	switch {
	case encoded == "":
		return false, false, h.dummy(ctx, password)
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, key, ok := decodePHC(encoded)
		if !ok || !h.admits(p) {
			return false, false, nil
		}
		release, err := h.acquire(ctx)
		if err != nil {
			return false, false, err
		}
		defer release()
		got := h.argon2id(password, salt, p, uint32(len(key))) // #nosec G115 -- len(key) was checked against maxArgon2KeyLength by parsePHC's validate
		if subtle.ConstantTimeCompare(got, key) != 1 {
			return false, false, nil
		}
		return true, p != h.params, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		if !bcryptWellFormed(encoded) {
			return false, false, nil
		}
		return h.verifyLegacy(ctx, password, func(pw string) (match, ran bool) {
			// bcrypt only reads the first 72 bytes of its input, so the
			// hash of a 72-byte prefix would "match" any longer password
			// that starts with it. A password over 72 bytes can never have
			// been hashed whole by bcrypt, so it never matches.
			if len(pw) > bcryptMaxPassword {
				return false, false
			}
			return bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw)) == nil, true
		})
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"):
		iter, salt, key, ok := decodeDjangoPBKDF2(encoded)
		if !ok {
			return false, false, nil
		}
		return h.verifyLegacy(ctx, password, func(pw string) (match, ran bool) {
			got, err := pbkdf2.Key(sha256.New, pw, salt, iter, len(key))
			return err == nil && subtle.ConstantTimeCompare(got, key) == 1, true
		})
	default:
		return false, false, nil
	}
}

// verifyLegacy runs check in a hashing slot on the password as given and,
// if that fails and NFC changes it, on its NFC form: legacy systems hashed
// whatever bytes they received, while authgin normalises. check reports
// whether it ran the hash function (not for a password bcrypt cannot
// take); the time of each run feeds the legacy floor (observeLegacy).
func (h *hasher) verifyLegacy(ctx context.Context, password string, check func(string) (match, ran bool)) (match, rehash bool, err error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	timed := func(pw string) bool {
		start := time.Now()
		match, ran := check(pw)
		if ran {
			h.observeLegacy(time.Since(start))
		}
		return match
	}
	if timed(password) {
		return true, true, nil
	}
	if n := norm.NFC.String(password); n != password && timed(n) {
		return true, true, nil
	}
	return false, false, nil
}

// admits reports whether verify runs a stored argon2id hash of cost p: at
// most storedCostFactor times the memory, the passes and the work of h's
// cost or of DefaultArgon2, whichever is larger. Hashes made before the
// cost was lowered still verify (and are rehashed); a hostile row in the
// users table cannot make a login map a gigabyte or run a hundred passes.
func (h *hasher) admits(p Argon2Params) bool {
	d := DefaultArgon2()
	mem := uint64(max(h.params.Memory, d.Memory))
	passes := uint64(max(h.params.Iterations, d.Iterations))
	work := max(uint64(h.params.Memory)*uint64(h.params.Iterations), uint64(d.Memory)*uint64(d.Iterations))
	return uint64(p.Memory) <= storedCostFactor*mem && uint64(p.Iterations) <= storedCostFactor*passes &&
		uint64(p.Memory)*uint64(p.Iterations) <= storedCostFactor*work
}

// Legacy hashes and timing.
//
// Verifying an imported bcrypt or PBKDF2 hash takes as long as its own
// cost says (bcrypt's default cost 10 is several argon2id derivations at
// the default cost), so without care a failed login would tell an
// imported account from an unknown name, whose dummy derivation is
// argon2id's. Wrapping the legacy hash in argon2id ("onion" hashing)
// would not help here: verifying still runs the legacy function first,
// and golang.org/x/crypto/bcrypt has no call that computes a hash with a
// given salt, which wrapping needs. So the answers are equalised instead:
// every verification that finds no match, whatever the hash, lasts at
// least the legacy floor, the time the costliest legacy hash in the
// database takes. The floor is measured when Register starts
// (calibrateLegacy, from the parameters the store finds) and follows
// every legacy verification since (observeLegacy), so that it keeps up
// with the machine's load. Without legacy hashes it is zero and costs
// nothing. Successful logins are not padded: they reveal the account
// anyway.

// observeLegacy raises the legacy floor to d, or lets it decay by an
// eighth towards d, so that one slow moment does not pad every later
// failure.
func (h *hasher) observeLegacy(d time.Duration) {
	d = min(d, maxLegacyFloor)
	for {
		old := h.legacyFloor.Load()
		next := max(int64(d), old-old/8)
		if next == old || h.legacyFloor.CompareAndSwap(old, next) {
			return
		}
	}
}

// padFailure waits until the legacy floor has passed since start (or ctx
// ends).
func (h *hasher) padFailure(ctx context.Context, start time.Time) {
	wait := time.Duration(h.legacyFloor.Load()) - time.Since(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// calibrateLegacy sets the legacy floor from the stored legacy hashes'
// parameters, as the store reports them (legacyHashPrefixes: "$2b$12$",
// "pbkdf2_sha256$600000$..."): it times one bcrypt hash at the highest
// cost and one PBKDF2 derivation at the most iterations found, each
// within verify's caps.
func (h *hasher) calibrateLegacy(prefixes []string) {
	cost, iter := 0, 0
	for _, p := range prefixes {
		if c, err := strconv.Atoi(strings.TrimSuffix(p[min(4, len(p)):], "$")); strings.HasPrefix(p, "$2") && err == nil &&
			c >= bcrypt.MinCost && c <= maxBcryptCost {
			cost = max(cost, c)
		}
		if rest, ok := strings.CutPrefix(p, "pbkdf2_sha256$"); ok {
			digits, _, _ := strings.Cut(rest, "$")
			if n, err := strconv.Atoi(digits); err == nil && n >= 1 && n <= maxPBKDF2Iterations {
				iter = max(iter, n)
			}
		}
	}
	if cost > 0 {
		start := time.Now()
		if _, err := bcrypt.GenerateFromPassword([]byte("calibration"), cost); err == nil {
			h.observeLegacy(time.Since(start))
		}
	}
	if iter > 0 {
		start := time.Now()
		if _, err := pbkdf2.Key(sha256.New, "calibration", []byte("calibration-salt"), iter, sha256.Size); err == nil {
			h.observeLegacy(time.Since(start))
		}
	}
}

// dummy burns one argon2id derivation of h's cost in a hashing slot.
func (h *hasher) dummy(ctx context.Context, password string) error {
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("authgin: reading random salt: %w", err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	p := h.params
	key := h.argon2id(password, salt, p, p.KeyLength)
	// Compare like the real path does; the result is meaningless.
	subtle.ConstantTimeCompare(key, make([]byte, len(key)))
	return nil
}

// decodePHC parses an argon2id PHC string of version 19 with parameters in
// the order m, t, p, and checks them against the caps.
func decodePHC(s string) (p Argon2Params, salt, key []byte, ok bool) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return p, nil, nil, false
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, false
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, found := strings.CutPrefix(kv[i], name)
		if !found {
			return p, nil, nil, false
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, false
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return p, nil, nil, false
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return p, nil, nil, false
	}
	p = Argon2Params{
		Memory: uint32(vals[0]), Iterations: uint32(vals[1]), Parallelism: uint8(vals[2]), // #nosec G115 -- parsed with bitSize 32; p checked <= 255 above
		SaltLength: uint32(len(salt)), KeyLength: uint32(len(key)), // #nosec G115 -- decoded from a stored string far below 4 GiB; validate bounds both
	}
	if p.validate() != nil {
		return p, nil, nil, false
	}
	return p, salt, key, true
}

// bcryptWellFormed checks the modular crypt layout $2x$NN$<53 chars> and the
// cost cap before the bcrypt package sees the hash.
func bcryptWellFormed(s string) bool {
	if len(s) != 60 || s[6] != '$' {
		return false
	}
	cost, err := strconv.Atoi(s[4:6])
	if err != nil || cost < bcrypt.MinCost || cost > maxBcryptCost {
		return false
	}
	for i := 7; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// decodeDjangoPBKDF2 parses Django's pbkdf2_sha256$<iterations>$<salt>$<key>,
// where the salt is used as its text and the key is padded standard base64.
func decodeDjangoPBKDF2(s string) (iter int, salt, key []byte, ok bool) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2_sha256" || parts[2] == "" {
		return 0, nil, nil, false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxPBKDF2Iterations {
		return 0, nil, nil, false
	}
	key, err = base64.StdEncoding.Strict().DecodeString(parts[3])
	// Django derives 32 bytes (the SHA-256 size); refuse short keys, which
	// would be easy to collide with.
	if err != nil || len(key) < 16 || len(key) > 64 {
		return 0, nil, nil, false
	}
	return iter, []byte(parts[2]), key, true
}

// passwordRules are the rules checkPassword applies: a length in
// characters, context words, and the app's policy.
type passwordRules struct {
	min, max int
	// context holds words a password must not contain because an attacker
	// guessing passwords for this site tries them first (NIST SP 800-63B
	// §3.1.1.2: "context-specific words, such as the name of the service"),
	// in contextWords' form.
	context []string
	policy  func(string, PasswordInfo) error
}

// checkPassword applies the password rules and returns the NFC-normalised
// password, or an *Error (status 400):
//   - invalid_password: not valid UTF-8, or contains NUL;
//   - password_too_long / password_too_short: more than max or fewer than
//     min characters (runes after NFC), checked before anything costly;
//   - password_common: in the built-in list of common passwords
//     (internal/commonpasswords, ignoring case), or containing one of the
//     rules' context words (the site's name), ignoring case and
//     everything but letters and digits;
//   - password_contains_username: contains the username or the email's local
//     part, ignoring case, when that is at least 3 characters long;
//   - password_policy (or the policy's own *Error): rejected by policy,
//     which runs last; its error text becomes the detail.
//
// There are no composition rules (NIST 800-63B).
func checkPassword(password string, info PasswordInfo, r passwordRules) (string, error) {
	if !utf8.ValidString(password) || strings.IndexByte(password, 0) >= 0 {
		return "", ErrInvalidPassword.withDetail("Password must be valid UTF-8 text without NUL characters")
	}
	p := norm.NFC.String(password)
	n := utf8.RuneCountInString(p)
	if n > r.max {
		return "", ErrPasswordTooLong.withDetail("Password must be at most %d characters", r.max)
	}
	if n < r.min {
		return "", ErrPasswordTooShort.withDetail("Password must be at least %d characters", r.min)
	}
	lower := strings.ToLower(p)
	if commonpasswords.Contains(lower) {
		return "", ErrPasswordCommon
	}
	if len(r.context) > 0 {
		squeezed := squeeze(lower)
		for _, w := range r.context {
			if strings.Contains(squeezed, w) {
				return "", ErrPasswordCommon.withDetail("Password must not contain the name of this site")
			}
		}
	}
	if containsIdentifier(lower, info.Username) {
		return "", ErrPasswordContainsUsername
	}
	if at := strings.LastIndexByte(info.Email, '@'); at > 0 && containsIdentifier(lower, info.Email[:at]) {
		return "", ErrPasswordContainsUsername.withDetail("Password must not contain your email address")
	}
	if r.policy != nil {
		if err := r.policy(p, info); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return "", e
			}
			return "", ErrPasswordPolicy.withDetail("%s", err.Error())
		}
	}
	return p, nil
}

// contextWords returns the words of names that passwords must not
// contain: each name lower-cased with everything but letters and digits
// removed, when at least 4 characters long ("My Shop" gives "myshop"),
// and each of its words of at least 5 characters ("Acme Bookstore" gives
// "acmebookstore" and "bookstore"). Shorter words would refuse too many
// unrelated passwords.
func contextWords(names ...string) []string {
	var words []string
	add := func(w string) {
		if utf8.RuneCountInString(w) >= 4 && !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	for _, name := range names {
		lower := strings.ToLower(norm.NFC.String(name))
		add(squeeze(lower))
		for _, w := range strings.FieldsFunc(lower, func(r rune) bool { return !isAlnum(r) }) {
			if utf8.RuneCountInString(w) >= 5 {
				add(w)
			}
		}
	}
	return words
}

// squeeze returns s with everything but letters and digits removed.
func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if isAlnum(r) {
			return r
		}
		return -1
	}, s)
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// containsIdentifier reports whether lowerPassword contains id, ignoring
// case, for ids of at least 3 characters (shorter ones match by chance).
func containsIdentifier(lowerPassword, id string) bool {
	id = strings.ToLower(norm.NFC.String(strings.TrimSpace(id)))
	return utf8.RuneCountInString(id) >= 3 && strings.Contains(lowerPassword, id)
}
