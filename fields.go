package authgin

// The app's own user fields: a Go struct the app declares, whose fields
// register accepts, GET and PATCH /me read and change, and admin search
// filters on. Every layer uses the schema built here from the struct's
// tags; the values live in the store's user_fields table.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// UserFields declares the app's own user fields: set Options.UserFields
// to UserFieldsOf[P](). The zero value declares none.
type UserFields struct {
	s   *fieldSchema
	err error // why P cannot be a profile; Register returns it
}

// UserFieldsOf declares the exported fields of the struct type P as the
// app's own user fields (its "profile"). A field's JSON name (its json
// tag, else its Go name) is its name in request bodies, answers, the
// database and admin search:
//
//	type Profile struct {
//		DisplayName string `json:"display_name" authgin:"editable,public,searchable"`
//		Locale      string `json:"locale" authgin:"editable"`
//		Referrer    string `json:"referrer"`               // set at register only
//		Plan        string `json:"plan" authgin:"readonly"` // set by the app only
//	}
//
// The authgin tag says what clients may do with a field:
//
//   - no tag: POST /register may set it; PATCH /me may not change it.
//   - editable: PATCH /me may change it too.
//   - readonly: neither may set it; only the app's Go code (SaveProfile).
//   - public: the register and login answers carry it beside the public
//     user (GET /me carries every field).
//   - searchable: admin search can filter on it (GET ?field.<name>=value);
//     string, bool and integer fields only.
//
// If *P has a method Validate() error, it runs on the whole profile before
// every write, and may normalise it (trim spaces...): what it leaves is
// stored. A *FieldError or any other error is a 400 invalid_profile whose
// detail is the error's text; an *Error is answered as it is.
//
// Register refuses a P that is not a struct, a field whose name authgin
// uses for itself (id, email, username, password..., permissions,
// confirmed, banned, is_admin and the like: such values can never be set
// through the profile), two fields with one name, embedded structs, and
// types JSON cannot carry.
func UserFieldsOf[P any]() UserFields {
	s, err := newFieldSchema(reflect.TypeFor[P]())
	return UserFields{s: s, err: err}
}

// FieldError reports an invalid user field. Validate methods return it so
// that the 400 names the field: its detail is "Field: Reason".
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// CurrentProfile loads the profile of the user that RequireUser,
// OptionalUser, RequireAdmin or RequirePermission authenticated, in one
// query. It is ErrUnauthorized without a user, ErrUserNotFound when the
// account was deleted since its token was issued, and an error when
// Options.UserFields declares another type than P.
func CurrentProfile[P any](c *gin.Context) (P, error) {
	var zero P
	u, ok := CurrentUser(c)
	if !ok {
		return zero, ErrUnauthorized
	}
	v, _ := c.Get(serviceKey)
	s, ok := v.(*Service)
	if !ok {
		return zero, errors.New("authgin: CurrentProfile needs Options.UserFields")
	}
	return LoadProfile[P](c.Request.Context(), s, u.ID)
}

// LoadProfile loads user id's profile in one query: the values stored for
// the fields of P, zero values for fields never stored (e.g. declared
// after the account was created). ErrUserNotFound when there is no such
// account.
func LoadProfile[P any](ctx context.Context, s *Service, id int64) (P, error) {
	var p P
	fs, err := s.fieldSchemaOf(reflect.TypeFor[P]())
	if err != nil {
		return p, err
	}
	v, err := s.loadProfile(ctx, fs, id)
	if err != nil {
		return p, err
	}
	return v.Interface().(P), nil
}

// SaveProfile stores p as user id's profile, readonly fields included,
// after the checks of a register (Validate, value sizes). It writes only
// the fields whose value changed. ErrUserNotFound when there is no such
// account.
func SaveProfile[P any](ctx context.Context, s *Service, id int64, p P) error {
	fs, err := s.fieldSchemaOf(reflect.TypeFor[P]())
	if err != nil {
		return err
	}
	return s.saveProfile(ctx, fs, id, reflect.ValueOf(p))
}

// maxFieldValueLen bounds a stored field value, in characters: a string's
// own, the JSON text of any other type. The (name, value) index must fit
// MySQL's 3072 bytes and PostgreSQL's 2704 in utf8mb4's 4 bytes a
// character: 64 + 512 characters do.
const maxFieldValueLen = 512

// fieldSchema is the checked shape of a profile type.
type fieldSchema struct {
	typ    reflect.Type
	fields []fieldSpec
	// validate: *P has a Validate() error method.
	validate bool
	public   bool // some field is public
}

// fieldSpec is one user field.
type fieldSpec struct {
	name  string // JSON name, also the stored name
	index int    // in the struct
	typ   reflect.Type
	// text: stored as the string itself (string kinds); else as JSON.
	text                                   bool
	editable, readonly, public, searchable bool
}

type profileValidator interface{ Validate() error }

var fieldNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// reservedFieldName reports whether name (compared without case, "_" and
// "-") is one authgin uses for itself: in the account, the public user and
// the admin profile, the bodies of register and login, or the admin
// search's own query parameters.
func reservedFieldName(name string) bool {
	n := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(name))
	switch n {
	case "id", "userid", "sub", "sid", "email", "emailkey", "username", "usernamekey", "login",
		"permissions", "permission", "confirmed", "isadmin", "admin", "banned", "active",
		"captcha", "createdat", "updatedat", "lastlogin", "lastloginat":
		return true
	}
	return strings.HasPrefix(n, "password")
}

func newFieldSchema(t reflect.Type) (*fieldSchema, error) {
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("authgin: Options.UserFields: %v is not a struct type", t)
	}
	fs := &fieldSchema{typ: t, validate: reflect.PointerTo(t).Implements(reflect.TypeFor[profileValidator]())}
	seen := map[string]string{}
	for i := range t.NumField() {
		sf := t.Field(i)
		fail := func(format string, args ...any) error {
			return fmt.Errorf("authgin: Options.UserFields: %v.%s: %s", t, sf.Name, fmt.Sprintf(format, args...))
		}
		if sf.Anonymous {
			return nil, fail("embedded fields are not supported; declare the fields one by one")
		}
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if !fieldNameRE.MatchString(name) {
			return nil, fail("name %q must be a letter then up to 63 letters, digits or _", name)
		}
		if reservedFieldName(name) {
			return nil, fail("name %q is authgin's own; a user field can never set it", name)
		}
		key := strings.ToLower(strings.ReplaceAll(name, "_", ""))
		if other, ok := seen[key]; ok {
			return nil, fail("name %q is too close to %q", name, other)
		}
		seen[key] = name
		if !jsonable(sf.Type) {
			return nil, fail("type %v cannot be carried in JSON", sf.Type)
		}
		f := fieldSpec{name: name, index: i, typ: sf.Type, text: sf.Type.Kind() == reflect.String}
		if tag := sf.Tag.Get("authgin"); tag != "" {
			for opt := range strings.SplitSeq(tag, ",") {
				switch strings.TrimSpace(opt) {
				case "editable":
					f.editable = true
				case "readonly":
					f.readonly = true
				case "public":
					f.public = true
				case "searchable":
					f.searchable = true
				default:
					return nil, fail("unknown authgin tag option %q (editable, readonly, public, searchable)", opt)
				}
			}
		}
		if f.editable && f.readonly {
			return nil, fail("a field cannot be both editable and readonly")
		}
		if f.searchable && !scalarKind(sf.Type.Kind()) {
			return nil, fail("only string, bool and integer fields can be searchable, not %v", sf.Type)
		}
		fs.public = fs.public || f.public
		fs.fields = append(fs.fields, f)
	}
	if len(fs.fields) == 0 {
		return nil, fmt.Errorf("authgin: Options.UserFields: %v has no exported fields", t)
	}
	return fs, nil
}

// jsonable reports whether values of t survive a JSON round trip.
func jsonable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer, reflect.Interface, reflect.Uintptr:
		return false
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return jsonable(t.Elem())
	case reflect.Map:
		return t.Key().Kind() == reflect.String && jsonable(t.Elem())
	}
	return true
}

// scalarKind: the kinds a searchable field may have.
func scalarKind(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// field returns the field named name, or nil.
func (fs *fieldSchema) field(name string) *fieldSpec {
	for i := range fs.fields {
		if fs.fields[i].name == name {
			return &fs.fields[i]
		}
	}
	return nil
}

// what describes the JSON values a field takes, for error details.
func (f *fieldSpec) what() string {
	switch f.typ.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "a valid value"
	}
}

func (f *fieldSpec) invalid(reason string) error {
	return ErrInvalidProfile.withDetail("%s", (&FieldError{Field: f.name, Reason: reason}).Error())
}

// decodeJSON sets dst, a field of f's type, from a JSON value of a request.
func (f *fieldSpec) decodeJSON(dst reflect.Value, raw json.RawMessage) error {
	v := reflect.New(f.typ)
	if err := json.Unmarshal(raw, v.Interface()); err != nil {
		return f.invalid("must be " + f.what())
	}
	dst.Set(v.Elem())
	return nil
}

// encode returns a field value as it is stored: a string as itself,
// anything else as JSON text.
func (f *fieldSpec) encode(v reflect.Value) (string, error) {
	var s string
	if f.text {
		s = v.String()
	} else {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v.Interface()); err != nil {
			return "", f.invalid("cannot be stored")
		}
		s = strings.TrimSuffix(b.String(), "\n")
	}
	switch {
	case !utf8.ValidString(s):
		return "", f.invalid("must be valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return "", f.invalid("must not contain NUL characters")
	case utf8.RuneCountInString(s) > maxFieldValueLen:
		return "", f.invalid(fmt.Sprintf("is too long (at most %d characters)", maxFieldValueLen))
	}
	return s, nil
}

// decodeStored sets dst from a stored value.
func (f *fieldSpec) decodeStored(dst reflect.Value, s string) error {
	if f.text {
		dst.SetString(s)
		return nil
	}
	v := reflect.New(f.typ)
	if err := json.Unmarshal([]byte(s), v.Interface()); err != nil {
		return fmt.Errorf("authgin: user field %s: the stored value does not decode as %v: %w", f.name, f.typ, err)
	}
	dst.Set(v.Elem())
	return nil
}

// searchValue returns the stored form of a search's text for field f.
func (f *fieldSpec) searchValue(q string) (string, error) {
	v := reflect.New(f.typ).Elem()
	if f.text {
		v.SetString(q)
	} else if err := json.Unmarshal([]byte(q), v.Addr().Interface()); err != nil {
		return "", ErrInvalidInput.withDetail("field.%s must be %s", f.name, f.what())
	}
	s, err := f.encode(v)
	if err != nil {
		return "", ErrInvalidInput.withDetail("field.%s: invalid value", f.name)
	}
	return s, nil
}

// storedField is one row of user_fields.
type storedField struct{ name, value string }

// encodeAll runs P's Validate on a copy of profile p (a P) and returns
// that copy, which Validate may have normalised, and its fields as stored
// rows.
func (fs *fieldSchema) encodeAll(p reflect.Value) (reflect.Value, []storedField, error) {
	ptr := reflect.New(fs.typ)
	ptr.Elem().Set(p)
	if fs.validate {
		if err := ptr.Interface().(profileValidator).Validate(); err != nil {
			return reflect.Value{}, nil, profileError(err)
		}
	}
	p = ptr.Elem()
	rows := make([]storedField, 0, len(fs.fields))
	for i := range fs.fields {
		f := &fs.fields[i]
		s, err := f.encode(p.Field(f.index))
		if err != nil {
			return reflect.Value{}, nil, err
		}
		rows = append(rows, storedField{f.name, s})
	}
	return p, rows, nil
}

// profileError maps a Validate error to the 400 the client sees.
func profileError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInvalidProfile.withDetail("%s", err.Error())
}

// decodeRows returns the profile (a P) that stored rows describe; rows of
// fields P no longer declares are ignored.
func (fs *fieldSchema) decodeRows(rows []storedField) (reflect.Value, error) {
	p := reflect.New(fs.typ).Elem()
	for _, r := range rows {
		if f := fs.field(r.name); f != nil {
			if err := f.decodeStored(p.Field(f.index), r.value); err != nil {
				return reflect.Value{}, err
			}
		}
	}
	return p, nil
}

// fromBody returns a profile (a P) with the fields of a register body: the
// fields that are not readonly, from the body's members of their exact
// names. Other members are not the profile's and are ignored.
func (fs *fieldSchema) fromBody(body map[string]json.RawMessage) (reflect.Value, error) {
	p := reflect.New(fs.typ).Elem()
	for i := range fs.fields {
		f := &fs.fields[i]
		raw, ok := body[f.name]
		if !ok || f.readonly {
			continue
		}
		if err := f.decodeJSON(p.Field(f.index), raw); err != nil {
			return reflect.Value{}, err
		}
	}
	return p, nil
}

// patch applies a PATCH /me body to cur (a P) and returns the result.
// Editable fields take the body's value. A field that is not editable is
// refused unless the body repeats its current value, so a client may send
// back what GET /me gave it. Members that are no field are ignored.
func (fs *fieldSchema) patch(cur reflect.Value, body map[string]json.RawMessage) (reflect.Value, error) {
	p := reflect.New(fs.typ).Elem()
	p.Set(cur)
	for i := range fs.fields {
		f := &fs.fields[i]
		raw, ok := body[f.name]
		if !ok {
			continue
		}
		if f.editable {
			if err := f.decodeJSON(p.Field(f.index), raw); err != nil {
				return reflect.Value{}, err
			}
			continue
		}
		sent := reflect.New(f.typ).Elem()
		if err := f.decodeJSON(sent, raw); err != nil {
			return reflect.Value{}, f.invalid("cannot be changed")
		}
		if !reflect.DeepEqual(sent.Interface(), cur.Field(f.index).Interface()) {
			return reflect.Value{}, f.invalid("cannot be changed")
		}
	}
	return p, nil
}

// fieldJSON is one field of an answer: its name and JSON value.
type fieldJSON struct {
	name  string
	value json.RawMessage
}

// render returns the fields of p (a P) that keep selects, as JSON values
// in declaration order.
func (fs *fieldSchema) render(p reflect.Value, keep func(*fieldSpec) bool) ([]fieldJSON, error) {
	out := make([]fieldJSON, 0, len(fs.fields))
	for i := range fs.fields {
		f := &fs.fields[i]
		if !keep(f) {
			continue
		}
		b, err := json.Marshal(p.Field(f.index).Interface())
		if err != nil {
			return nil, err
		}
		out = append(out, fieldJSON{f.name, b})
	}
	return out, nil
}

func allFields(*fieldSpec) bool      { return true }
func publicFields(f *fieldSpec) bool { return f.public }

// withFields renders base, a JSON object, with fields added after its own
// members. Field names never collide with base's (reservedFieldName).
type withFields struct {
	base   any
	fields []fieldJSON
}

func (w withFields) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(w.base)
	if err != nil || len(w.fields) == 0 {
		return b, err
	}
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, errors.New("authgin: user fields need a JSON object to join")
	}
	out := slices.Clip(b[:len(b)-1])
	for _, f := range w.fields {
		if len(out) > 1 {
			out = append(out, ',')
		}
		name, _ := json.Marshal(f.name)
		out = append(out, name...)
		out = append(out, ':')
		out = append(out, f.value...)
	}
	return append(out, '}'), nil
}
