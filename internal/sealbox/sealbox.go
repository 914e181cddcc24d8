// Package sealbox encrypts small secrets for storage (AES-256-GCM) with a
// key derived by HKDF-SHA256 from an application secret. Ciphertexts are
// text, versioned ("v1:" and base64url of nonce and sealed bytes), and
// bound to associated data, so that a value copied to another row (another
// user) does not open there.
package sealbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// version prefixes every ciphertext; a new key derivation or cipher gets a
// new one, and Open keeps reading the old.
const version = "v1:"

// ErrOpen is returned for a ciphertext that does not open: another key, a
// changed value, other associated data or an unknown version.
var ErrOpen = errors.New("sealbox: ciphertext does not open with this key")

// Box seals and opens values with one derived key.
type Box struct {
	aead cipher.AEAD
}

// New derives a Box's key from secret (at least 32 bytes) for purpose, a
// label that separates keys derived from one secret for different uses.
func New(secret []byte, purpose string) (*Box, error) {
	if len(secret) < 32 {
		return nil, errors.New("sealbox: the secret must be at least 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "authgin sealbox v1: "+purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to ad with a random nonce.
func (b *Box) Seal(plaintext, ad []byte) (string, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := b.aead.Seal(nonce, nonce, plaintext, ad)
	return version + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal returned for the same ad; any failure is ErrOpen.
func (b *Box) Open(sealed string, ad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, version)
	if !ok {
		return nil, ErrOpen
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return nil, ErrOpen
	}
	n := b.aead.NonceSize()
	out, err := b.aead.Open(nil, raw[:n], raw[n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
