package argon2id

import (
	"bytes"
	"slices"
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

// TestKeyWipes: after Key, the blocks it used in m's own array are zero,
// after hashes of its full size and smaller ones, and the others untouched.
// The temporary array of a larger hash goes through the same wipe, checked
// here over more blocks than one of its chunks.
func TestKeyWipes(t *testing.T) {
	m := NewMemory(256, 1)
	defer m.Free()
	salt := []byte("0123456789abcdef")
	for _, p := range []struct {
		time, memory uint32
		lanes        uint8
	}{{2, 256, 1}, {1, 100, 2}, {3, 32, 4}} {
		fillGarbage(m.blocks) // what a hash that did not wipe would leave
		garbage := slices.Clone(m.blocks)
		m.Key([]byte("pass word"), salt, p.time, p.memory, p.lanes, 32)
		n := numBlocks(p.memory, p.lanes)
		if i := firstNonZero(m.blocks[:n]); i >= 0 {
			t.Fatalf("%+v: block %d of the %d used is not zero after Key", p, i, n)
		}
		if !slices.Equal(m.blocks[n:], garbage[n:]) {
			t.Fatalf("%+v: Key changed blocks beyond the %d it uses", p, n)
		}
	}

	mem := make([]block, 5*wipeChunk/2) // wipe's chunked loop and its tail
	fillGarbage(mem)
	deriveKey(mem, []byte("pass word"), salt, nil, nil, 1, uint32(len(mem)), 1, 32)
	wipe(mem)
	if i := firstNonZero(mem); i >= 0 {
		t.Fatalf("block %d of %d is not zero after wipe", i, len(mem))
	}
}

// fillGarbage sets every word of mem to a non-zero value.
func fillGarbage(mem []block) {
	for i := range mem {
		for j := range mem[i] {
			mem[i][j] = uint64(i*131+j)*0x9e3779b97f4a7c15 | 1
		}
	}
}

// firstNonZero is the index of the first block of mem with a non-zero
// word, or -1.
func firstNonZero(mem []block) int {
	for i := range mem {
		if mem[i] != (block{}) {
			return i
		}
	}
	return -1
}
