package argon2id

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestMemoryKey: a Memory gives x/crypto's keys for hashes of its own size,
// smaller ones and larger ones (in a temporary array, leaving its own as it
// was), one after the other.
func TestMemoryKey(t *testing.T) {
	m := NewMemory(64, 1)
	defer m.Free()
	own := len(m.blocks)
	if own != numBlocks(64, 1) {
		t.Fatalf("NewMemory(64, 1) holds %d blocks, want %d", own, numBlocks(64, 1))
	}
	salt := []byte("0123456789abcdef")
	for _, p := range []struct {
		time, memory uint32
		lanes        uint8
		keyLen       uint32
	}{
		{1, 64, 1, 32},
		{2, 32, 1, 32},
		{1, 300, 3, 80}, // larger than m
		{3, 61, 2, 16},
		{1, 64, 1, 32},
	} {
		want := argon2.IDKey([]byte("pass word"), salt, p.time, p.memory, p.lanes, p.keyLen)
		if got := m.Key([]byte("pass word"), salt, p.time, p.memory, p.lanes, p.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("%+v: got %x, want %x", p, got, want)
		}
		if len(m.blocks) != own {
			t.Fatalf("%+v: m holds %d blocks afterwards, want %d", p, len(m.blocks), own)
		}
	}
}

// TestMemoryKeyPanics: parameters x/crypto also refuses, and keys shorter
// than RFC 9106 allows.
func TestMemoryKeyPanics(t *testing.T) {
	m := NewMemory(64, 1)
	defer m.Free()
	for _, p := range []struct {
		time   uint32
		lanes  uint8
		keyLen uint32
	}{{0, 1, 32}, {1, 0, 32}, {1, 1, 3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Key(t=%d, p=%d, keyLen=%d) did not panic", p.time, p.lanes, p.keyLen)
				}
			}()
			m.Key([]byte("pw"), []byte("saltsalt"), p.time, 64, p.lanes, p.keyLen)
		}()
	}
}
