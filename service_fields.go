package authgin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// The service side of the app's own user fields (fields.go): the profile
// of a registration, GET and PATCH /me, SaveProfile, and admin search.

// fieldSchemaOf returns the schema of Options.UserFields if it declares t.
func (s *Service) fieldSchemaOf(t reflect.Type) (*fieldSchema, error) {
	fs := s.o.UserFields.s
	switch {
	case fs == nil:
		return nil, fmt.Errorf("authgin: Options.UserFields declares no user fields (asked for %v)", t)
	case fs.typ != t:
		return nil, fmt.Errorf("authgin: Options.UserFields declares %v, not %v", fs.typ, t)
	}
	return fs, nil
}

// signUpFields checks the profile of a registration and returns its rows:
// in.Profile (a P or *P), else the fields of POST /register's body, else
// P's zero value; nothing without Options.UserFields.
func (s *Service) signUpFields(in RegisterInput) ([]storedField, error) {
	fs := s.o.UserFields.s
	if fs == nil {
		if in.Profile != nil {
			return nil, errors.New("authgin: RegisterInput.Profile is set but Options.UserFields declares no user fields")
		}
		return nil, nil
	}
	p := reflect.New(fs.typ).Elem()
	switch {
	case in.Profile != nil:
		v := reflect.ValueOf(in.Profile)
		if v.Type() == reflect.PointerTo(fs.typ) && !v.IsNil() {
			v = v.Elem()
		}
		if v.Type() != fs.typ {
			return nil, fmt.Errorf("authgin: RegisterInput.Profile is a %v; Options.UserFields declares %v", v.Type(), fs.typ)
		}
		p.Set(v)
	case in.body != "":
		members, err := objectMembers([]byte(in.body))
		if err != nil {
			return nil, err
		}
		if p, err = fs.fromBody(members); err != nil {
			return nil, err
		}
	}
	_, rows, err := fs.encodeAll(p)
	return rows, err
}

// objectMembers splits a JSON object body into its members.
func objectMembers(body []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, ErrMalformedBody.withDetail("The body must be a JSON object")
	}
	return m, nil
}

// loadProfile returns user id's profile (a P) in one query.
func (s *Service) loadProfile(ctx context.Context, fs *fieldSchema, id int64) (reflect.Value, error) {
	rows, err := s.st.profileRows(ctx, id)
	if err != nil {
		return reflect.Value{}, err
	}
	return fs.decodeRows(rows)
}

// me returns user id's account and every field of its profile (none
// without Options.UserFields), for GET /me.
func (s *Service) me(ctx context.Context, id int64) (*Account, []fieldJSON, error) {
	acct, err := s.st.accountByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	fs := s.o.UserFields.s
	if fs == nil {
		return acct, nil, nil
	}
	p, err := s.loadProfile(ctx, fs, id)
	if err != nil {
		return nil, nil, err
	}
	fields, err := fs.render(p, allFields)
	return acct, fields, err
}

// publicFields returns the public fields of user id's profile, for the
// register and login answers; nil, without a query, when none is public.
func (s *Service) publicFields(ctx context.Context, id int64) ([]fieldJSON, error) {
	fs := s.o.UserFields.s
	if fs == nil || !fs.public {
		return nil, nil
	}
	p, err := s.loadProfile(ctx, fs, id)
	if err != nil {
		return nil, err
	}
	return fs.render(p, publicFields)
}

// errProfileRace reports a profile changed between a PATCH's read and its
// write, again and again: 503, try later.
var errProfileRace = &storeError{errors.New("profile changed concurrently")}

// patchProfile applies a PATCH /me body (a JSON object) to user id's
// profile and returns the account and every field, as me. The profile is
// read, patched and validated outside the transaction, which writes the
// changed fields only if nothing changed them in between (else it starts
// over), so that the app's Validate never runs while rows are locked.
func (s *Service) patchProfile(ctx context.Context, id int64, body []byte) (*Account, []fieldJSON, error) {
	members, err := objectMembers(body)
	if err != nil {
		return nil, nil, err
	}
	fs := s.o.UserFields.s
	if fs == nil {
		return s.me(ctx, id)
	}
	for attempt := 1; ; attempt++ {
		rows, err := s.st.profileRows(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		cur, err := fs.decodeRows(rows)
		if err != nil {
			return nil, nil, err
		}
		next, err := fs.patch(cur, members)
		if err != nil {
			return nil, nil, err
		}
		next, newRows, err := fs.encodeAll(next)
		if err != nil {
			return nil, nil, err
		}
		var acct *Account
		err = s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
			var err error
			if acct, err = tx.lockAccount(ctx, id); err != nil {
				return err
			}
			now, err := tx.fieldRows(ctx, id)
			if err != nil {
				return err
			}
			if !slices.Equal(now, rows) {
				return errProfileRace
			}
			return tx.replaceFields(ctx, id, changedFields(rows, newRows))
		})
		if errors.Is(err, errProfileRace) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		fields, err := fs.render(next, allFields)
		return acct, fields, err
	}
}

// saveProfile stores p (a P) as user id's whole profile (SaveProfile).
func (s *Service) saveProfile(ctx context.Context, fs *fieldSchema, id int64, p reflect.Value) error {
	_, newRows, err := fs.encodeAll(p)
	if err != nil {
		return err
	}
	return s.st.atomic(ctx, func(ctx context.Context, tx *store) error {
		if _, err := tx.lockAccount(ctx, id); err != nil {
			return err
		}
		rows, err := tx.fieldRows(ctx, id)
		if err != nil {
			return err
		}
		return tx.replaceFields(ctx, id, changedFields(rows, newRows))
	})
}

// changedFields returns the rows of next whose value old lacks or differs.
func changedFields(old, next []storedField) []storedField {
	var out []storedField
	for _, r := range next {
		i := slices.IndexFunc(old, func(o storedField) bool { return o.name == r.name })
		if i < 0 || old[i].value != r.value {
			out = append(out, r)
		}
	}
	return out
}

// fieldFilters turns SearchQuery.Fields into stored values to match.
func (s *Service) fieldFilters(q map[string]string) ([]storedField, error) {
	if len(q) == 0 {
		return nil, nil
	}
	fs := s.o.UserFields.s
	out := make([]storedField, 0, len(q))
	for name, text := range q {
		var f *fieldSpec
		if fs != nil {
			f = fs.field(name)
		}
		if f == nil || !f.searchable {
			return nil, ErrInvalidInput.withDetail("field.%s is not a searchable user field", name)
		}
		v, err := f.searchValue(text)
		if err != nil {
			return nil, err
		}
		out = append(out, storedField{name, v})
	}
	return out, nil
}

// attachFields sets the user fields of admin profiles (one query).
func (s *Service) attachFields(ctx context.Context, profiles []Profile) error {
	fs := s.o.UserFields.s
	if fs == nil || len(profiles) == 0 {
		return nil
	}
	ids := make([]int64, len(profiles))
	for i := range profiles {
		ids[i] = profiles[i].ID
	}
	rows, err := s.st.fieldRowsOf(ctx, ids)
	if err != nil {
		return err
	}
	for i := range profiles {
		p, err := fs.decodeRows(rows[profiles[i].ID])
		if err != nil {
			return err
		}
		if profiles[i].fields, err = fs.render(p, allFields); err != nil {
			return err
		}
	}
	return nil
}

// MarshalJSON renders the profile with the user's own fields after its
// members.
func (p Profile) MarshalJSON() ([]byte, error) {
	type plain Profile
	return withFields{base: plain(p), fields: p.fields}.MarshalJSON()
}
