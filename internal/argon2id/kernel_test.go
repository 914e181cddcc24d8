package argon2id

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/argon2"
)

// freshKey runs deriveKey in a newly allocated block array.
func freshKey(password, salt []byte, time, memory uint32, lanes uint8, keyLen uint32) []byte {
	mem := make([]block, numBlocks(memory, lanes))
	return deriveKey(mem, password, salt, nil, nil, time, memory, lanes, keyLen)
}

// TestMatchesXCrypto compares deriveKey with x/crypto's IDKey over
// random inputs and parameters: lanes 1-4, passes 1-3, small and odd
// memory sizes, keys from 4 to 130 bytes (over 64 exercises H' long output),
// then at sizes whose segments span several address blocks (more than 128
// blocks), up to the default cost.
func TestMatchesXCrypto(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 60
	}
	for range n {
		lanes := uint8(1 + rng.IntN(4))
		passes := uint32(1 + rng.IntN(3))
		memory := uint32(8*int(lanes) + rng.IntN(200))
		keyLen := uint32(4 + rng.IntN(127))
		password := make([]byte, rng.IntN(40))
		salt := make([]byte, 8+rng.IntN(24))
		for i := range password {
			password[i] = byte(rng.Uint32())
		}
		for i := range salt {
			salt[i] = byte(rng.Uint32())
		}
		want := argon2.IDKey(password, salt, passes, memory, lanes, keyLen)
		got := freshKey(password, salt, passes, memory, lanes, keyLen)
		if !bytes.Equal(got, want) {
			t.Fatalf("p=%d t=%d m=%d keyLen=%d password=%x salt=%x:\n got %x\nwant %x", lanes, passes, memory, keyLen, password, salt, got, want)
		}
	}
	password, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	for _, p := range []struct {
		memory, passes uint32
		lanes          uint8
	}{{1031, 1, 1}, {2048, 2, 2}, {4099, 3, 1}, {19 * 1024, 2, 1}} {
		want := argon2.IDKey(password, salt, p.passes, p.memory, p.lanes, 32)
		if got := freshKey(password, salt, p.passes, p.memory, p.lanes, 32); !bytes.Equal(got, want) {
			t.Fatalf("p=%d t=%d m=%d:\n got %x\nwant %x", p.lanes, p.passes, p.memory, got, want)
		}
	}
}

// TestReusedMemory: a block array reused across hashes (different
// passwords, parameters and sizes, never cleared) gives the same keys as
// fresh arrays, because pass 0 writes every block before reading it.
func TestReusedMemory(t *testing.T) {
	mem := make([]block, numBlocks(512, 1))
	for i := range mem { // garbage, as a previous hash would leave
		for j := range mem[i] {
			mem[i][j] = uint64(i*131+j) * 0x9e3779b97f4a7c15
		}
	}
	cases := []struct {
		pw     string
		t, m   uint32
		lanes  uint8
		keyLen uint32
	}{
		{"password", 2, 512, 1, 32},
		{"another password", 2, 512, 1, 32},
		{"x", 3, 100, 2, 64},
		{"password", 1, 507, 3, 80},
		{"password", 2, 512, 1, 32},
	}
	for _, c := range cases {
		salt := []byte("somesalt-" + c.pw)
		got := deriveKey(mem, []byte(c.pw), salt, nil, nil, c.t, c.m, c.lanes, c.keyLen)
		if want := freshKey([]byte(c.pw), salt, c.t, c.m, c.lanes, c.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("%+v: reused %x, fresh %x", c, got, want)
		}
		if want := argon2.IDKey([]byte(c.pw), salt, c.t, c.m, c.lanes, c.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("%+v: reused %x, x/crypto %x", c, got, want)
		}
	}
}

// FuzzMatchesXCrypto compares Memory.Key, in a reused array, with
// x/crypto's IDKey at fuzzed small parameters.
func FuzzMatchesXCrypto(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(2), uint16(256), uint8(1), uint8(32))
	f.Add([]byte(""), []byte("saltsalt"), uint8(1), uint16(8), uint8(1), uint8(4))
	f.Add([]byte("correct horse"), []byte("0123456789abcdef"), uint8(3), uint16(77), uint8(4), uint8(130))
	f.Add([]byte{0, 255, 1}, []byte{9, 9, 9, 9, 9, 9, 9, 9}, uint8(1), uint16(35), uint8(3), uint8(65))
	m := NewMemory(8*4+300, 1)
	defer m.Free()
	f.Fuzz(func(t *testing.T, password, salt []byte, passes uint8, memory uint16, lanes uint8, keyLen uint8) {
		p := 1 + lanes%4
		tt := 1 + uint32(passes%3)
		mem := 8*uint32(p) + uint32(memory%300)
		k := 4 + uint32(keyLen%127)
		if len(salt) < 8 {
			salt = append(salt, make([]byte, 8-len(salt))...)
		}
		want := argon2.IDKey(password, salt, tt, mem, p, k)
		got := m.Key(password, salt, tt, mem, p, k)
		if !bytes.Equal(got, want) {
			t.Fatalf("p=%d t=%d m=%d k=%d: got %x want %x", p, tt, mem, k, got, want)
		}
	})
}

// The default cost of authgin's password hashes (OWASP's argon2id
// recommendation): 19 MiB, t=2, p=1, 32-byte key.
const (
	defaultMemory = 19 * 1024
	defaultTime   = 2
	defaultLanes  = 1
	defaultKeyLen = 32
)

// BenchmarkKey is one argon2id hash at the default cost: deriveKey in a
// reused Memory's array ("kernel"), Memory.Key, which also wipes the array,
// and x/crypto's IDKey.
func BenchmarkKey(b *testing.B) {
	pw, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	b.Run("kernel", func(b *testing.B) {
		m := NewMemory(defaultMemory, defaultLanes)
		defer m.Free()
		for b.Loop() {
			deriveKey(m.blocks, pw, salt, nil, nil, defaultTime, defaultMemory, defaultLanes, defaultKeyLen)
		}
	})
	b.Run("Memory", func(b *testing.B) {
		m := NewMemory(defaultMemory, defaultLanes)
		defer m.Free()
		for b.Loop() {
			m.Key(pw, salt, defaultTime, defaultMemory, defaultLanes, defaultKeyLen)
		}
	})
	b.Run("xcrypto", func(b *testing.B) {
		for b.Loop() {
			argon2.IDKey(pw, salt, defaultTime, defaultMemory, defaultLanes, defaultKeyLen)
		}
	})
}
