package sealbox

import (
	"bytes"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	secret := bytes.Repeat([]byte("k"), 32)
	b, err := New(secret, "totp")
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user:1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "v1:") || strings.Contains(s, "JBSWY3DPEHPK3PXP") {
		t.Fatalf("sealed %q", s)
	}
	got, err := b.Open(s, []byte("user:1"))
	if err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := b.Open(s, []byte("user:2")); err != ErrOpen {
		t.Fatalf("other ad: %v", err)
	}
	other, _ := New(bytes.Repeat([]byte("x"), 32), "totp")
	if _, err := other.Open(s, []byte("user:1")); err != ErrOpen {
		t.Fatalf("other key: %v", err)
	}
	purpose, _ := New(secret, "other")
	if _, err := purpose.Open(s, []byte("user:1")); err != ErrOpen {
		t.Fatalf("other purpose: %v", err)
	}
	for _, bad := range []string{"", "v1:", "v2:" + s[3:], s[:len(s)-2], "v1:!!!"} {
		if _, err := b.Open(bad, []byte("user:1")); err != ErrOpen {
			t.Fatalf("open %q: %v", bad, err)
		}
	}
	if _, err := New([]byte("short"), "totp"); err == nil {
		t.Fatal("short secret accepted")
	}
}
