package authgin

// Reading mongoexport output of authx's users collection: JSON lines or
// one JSON array, in MongoDB Extended JSON v2 (canonical or relaxed),
// streamed record by record.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// exportReader yields the records of an export one at a time with the line
// each starts on. It holds one record and the decoder's read-ahead, never
// the whole export.
type exportReader struct {
	lines *lineCounter
	dec   *json.Decoder
	// skipped counts the bytes read before the decoder's first (a BOM).
	skipped int64
	array   bool // one JSON array, rather than JSON lines
	started bool
	done    bool
}

// exportRecord is one record as read: its raw JSON and where it starts.
type exportRecord struct {
	line int
	raw  json.RawMessage
}

func newExportReader(r io.Reader) *exportReader {
	lc := &lineCounter{r: r}
	return &exportReader{lines: lc}
}

// start looks at the first bytes: a UTF-8 byte order mark is skipped, a
// '[' means one JSON array.
func (er *exportReader) start() error {
	er.started = true
	br := bufio.NewReader(er.lines)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
		er.skipped = 3
	}
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if len(b) < i {
			if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
				break // empty, or only white space so far: JSON lines
			}
			return err
		}
		c := b[i-1]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		er.array = c == '['
		break
	}
	er.dec = json.NewDecoder(br)
	if er.array {
		if _, err := er.dec.Token(); err != nil {
			return er.syntaxError(err)
		}
	}
	return nil
}

// next returns the next record; io.EOF after the last. A syntax error
// ends the export: what follows cannot be told apart reliably.
func (er *exportReader) next() (exportRecord, error) {
	if !er.started {
		if err := er.start(); err != nil {
			er.done = true
			return exportRecord{}, err
		}
	}
	if er.done {
		return exportRecord{}, io.EOF
	}
	if er.array && !er.dec.More() {
		er.done = true
		if _, err := er.dec.Token(); err != nil { // the closing ']'
			return exportRecord{}, er.syntaxError(err)
		}
		if _, err := er.dec.Token(); !errors.Is(err, io.EOF) {
			return exportRecord{}, fmt.Errorf("authgin: import: line %d: data after the JSON array", er.lines.lineAt(er.offset()))
		}
		return exportRecord{}, io.EOF
	}
	var raw json.RawMessage
	if err := er.dec.Decode(&raw); err != nil {
		er.done = true
		if errors.Is(err, io.EOF) && !er.array {
			return exportRecord{}, io.EOF
		}
		return exportRecord{}, er.syntaxError(err)
	}
	start := er.offset() - int64(len(raw))
	return exportRecord{line: er.lines.lineAt(start), raw: raw}, nil
}

// offset is how many bytes of the export the decoder has consumed.
func (er *exportReader) offset() int64 {
	if er.dec == nil {
		return er.skipped
	}
	return er.skipped + er.dec.InputOffset()
}

// syntaxError names the line where the export stops being JSON.
func (er *exportReader) syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("authgin: import: line %d: the export is not valid JSON: %w", er.lines.lineAt(er.skipped+se.Offset-1), err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("authgin: import: the export ends in the middle of a record (line %d)", er.lines.lineAt(er.offset()))
	}
	return fmt.Errorf("authgin: import: reading the export: %w", err)
}

// lineCounter passes reads through and tells the line of a byte offset. It
// keeps the bytes read past the last offset asked about (the decoder's
// read-ahead), so offsets must be asked about in increasing order.
type lineCounter struct {
	r       io.Reader
	pending []byte // bytes from base on
	base    int64
	lines   int // newlines before base
}

func (lc *lineCounter) Read(p []byte) (int, error) {
	n, err := lc.r.Read(p)
	lc.pending = append(lc.pending, p[:n]...)
	return n, err
}

// lineAt returns the 1-based line of byte offset off and forgets the bytes
// before it. An offset before one asked about earlier gets that one's line.
func (lc *lineCounter) lineAt(off int64) int {
	if k := off - lc.base; k > 0 {
		k = min(k, int64(len(lc.pending)))
		lc.lines += bytes.Count(lc.pending[:k], []byte{'\n'})
		lc.pending = lc.pending[k:]
		lc.base += k
	}
	return lc.lines + 1
}

// authxUser is one record of authx's users collection, read.
type authxUser struct {
	id          int64
	hasID       bool
	email       string
	username    string
	password    string
	active      bool
	confirmed   bool
	permissions []string
	createdAt   time.Time // zero when absent
	lastLogin   *time.Time
	social      bool // has provider or sid: a social-login account
}

// recordError is why a record cannot be read: reason and detail.
type recordError struct {
	reason ImportReason
	detail string
}

// parseAuthxUser reads one record. Unknown fields (the export's _id among
// them) are ignored; absent or null fields take authx's defaults (active,
// unconfirmed, no permissions, no password). A field of the wrong type is
// ReasonMalformedRecord, a date that does not parse ReasonInvalidDate; u
// holds what was read either way (its id, email and username for the
// rejects file).
func parseAuthxUser(raw json.RawMessage) (u authxUser, rerr *recordError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return u, &recordError{ReasonMalformedRecord, "the record is not a JSON object"}
	}
	u.active = true
	malformed := func(field, want string) *recordError {
		return &recordError{ReasonMalformedRecord, fmt.Sprintf("%s is not %s", field, want)}
	}
	present := func(name string) (json.RawMessage, bool) {
		v, ok := fields[name]
		if !ok || string(bytes.TrimSpace(v)) == "null" {
			return nil, false
		}
		return v, true
	}
	// The identifying fields first, so that a reject names its record.
	var first *recordError
	note := func(e *recordError) {
		if first == nil {
			first = e
		}
	}
	if v, ok := present("id"); !ok {
		note(&recordError{ReasonMalformedRecord, "the record has no id"})
	} else if id, err := ejsonInt(v); err != nil {
		note(malformed("id", "an integer"))
	} else {
		u.id, u.hasID = id, true
		if id <= 0 {
			note(&recordError{ReasonMalformedRecord, "id is not positive"})
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"email", &u.email}, {"username", &u.username}, {"password", &u.password}} {
		if v, ok := present(f.name); ok && json.Unmarshal(v, f.dst) != nil {
			note(malformed(f.name, "a string"))
		}
	}
	for _, name := range []string{"provider", "sid"} {
		if v, ok := present(name); ok && string(bytes.TrimSpace(v)) != `""` {
			u.social = true
		}
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"active", &u.active}, {"confirmed", &u.confirmed}} {
		if v, ok := present(f.name); ok && json.Unmarshal(v, f.dst) != nil {
			note(malformed(f.name, "true or false"))
		}
	}
	if v, ok := present("permissions"); ok && json.Unmarshal(v, &u.permissions) != nil {
		note(malformed("permissions", "a list of strings"))
	}
	if first != nil {
		return u, first
	}
	if v, ok := present("created_at"); ok {
		t, err := ejsonTime(v)
		if err != nil {
			return u, &recordError{ReasonInvalidDate, "created_at " + err.Error()}
		}
		u.createdAt = t
	}
	if v, ok := present("last_login"); ok {
		t, err := ejsonTime(v)
		if err != nil {
			return u, &recordError{ReasonInvalidDate, "last_login " + err.Error()}
		}
		u.lastLogin = &t
	}
	return u, nil
}

// ejsonInt reads an integer: a JSON number without fraction or exponent,
// {"$numberLong": "12"} or {"$numberInt": "12"}.
func ejsonInt(v json.RawMessage) (int64, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '{' {
		var w map[string]string
		if err := json.Unmarshal(v, &w); err != nil || len(w) != 1 {
			return 0, errors.New("not an Extended JSON integer")
		}
		s, ok := w["$numberLong"]
		if !ok {
			s, ok = w["$numberInt"]
		}
		if !ok {
			return 0, errors.New("not an Extended JSON integer")
		}
		return strconv.ParseInt(s, 10, 64)
	}
	return strconv.ParseInt(string(v), 10, 64)
}

// Imported times must lie between these: before 1970 no authx existed,
// and MySQL's DATETIME ends with 9999.
var (
	minImportTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxImportTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ejsonTime reads a date: {"$date": "2019-05-01T12:00:00.000Z"} (relaxed),
// {"$date": {"$numberLong": "1556712000000"}} (canonical), {"$date": <ms>}
// (the older mongoexport), or a bare ISO 8601 string. A time without a zone
// is UTC: authx stored naive UTC times.
func ejsonTime(v json.RawMessage) (time.Time, error) {
	v = bytes.TrimSpace(v)
	var t time.Time
	var err error
	switch {
	case len(v) > 0 && v[0] == '"':
		var s string
		if err = json.Unmarshal(v, &s); err == nil {
			t, err = parseISOTime(s)
		}
	case len(v) > 0 && v[0] == '{':
		var w map[string]json.RawMessage
		if err = json.Unmarshal(v, &w); err != nil || len(w) != 1 || w["$date"] == nil {
			return time.Time{}, errors.New("is not an Extended JSON date")
		}
		d := bytes.TrimSpace(w["$date"])
		if len(d) > 0 && d[0] == '"' {
			var s string
			if err = json.Unmarshal(d, &s); err == nil {
				t, err = parseISOTime(s)
			}
		} else {
			var ms int64
			if ms, err = ejsonInt(d); err == nil {
				t = time.UnixMilli(ms).UTC()
			}
		}
	default:
		return time.Time{}, errors.New("is not a date")
	}
	if err != nil {
		return time.Time{}, errors.New("is not a valid date")
	}
	if t.Before(minImportTime) || !t.Before(maxImportTime) {
		return time.Time{}, fmt.Errorf("%s is out of range (1970 to 9999)", t.Format(time.RFC3339))
	}
	return t, nil
}

// isoLayouts are the forms of ISO 8601 times that exports carry: RFC 3339,
// mongoexport's "+0000" offsets, and Python's naive isoformat, with "T" or
// a space.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

func parseISOTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unknown time format %q", s)
}
