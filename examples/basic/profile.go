package main

import (
	"strings"
	"unicode/utf8"

	"github.com/authgin/authgin"
)

// Profile is the example's own user field (README, "Your own user
// fields"): POST /api/users/register accepts display_name, GET and PATCH
// /api/users/me read and change it, the register and login answers carry
// it, and admins can search on it.
type Profile struct {
	DisplayName string `json:"display_name" authgin:"editable,public,searchable"`
}

// maxDisplayName bounds display names, in characters.
const maxDisplayName = 64

// Validate trims the display name and bounds its length.
func (p *Profile) Validate() error {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	if utf8.RuneCountInString(p.DisplayName) > maxDisplayName {
		return &authgin.FieldError{Field: "display_name", Reason: "must be at most 64 characters"}
	}
	return nil
}
