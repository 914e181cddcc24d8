package authgin

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// freshArgon2id runs argon2idKey in a newly allocated block array.
func freshArgon2id(password, salt []byte, time, memory uint32, lanes uint8, keyLen uint32) []byte {
	mem := make([]argon2Block, argon2Blocks(memory, lanes))
	return argon2idKey(mem, password, salt, nil, nil, time, memory, lanes, keyLen)
}

// TestArgon2idRFC9106 is the argon2id test vector of RFC 9106 section 5.3,
// which uses a secret and associated data.
func TestArgon2idRFC9106(t *testing.T) {
	password := bytes.Repeat([]byte{1}, 32)
	salt := bytes.Repeat([]byte{2}, 16)
	secret := bytes.Repeat([]byte{3}, 8)
	data := bytes.Repeat([]byte{4}, 12)
	mem := make([]argon2Block, argon2Blocks(32, 4))
	got := hex.EncodeToString(argon2idKey(mem, password, salt, secret, data, 3, 32, 4, 32))
	const want = "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	if got != want {
		t.Fatalf("tag = %s, want %s", got, want)
	}
}

// TestArgon2idMatchesXCrypto compares argon2idKey with x/crypto's IDKey over
// random inputs and parameters: lanes 1-4, passes 1-3, small and odd
// memory sizes, keys from 4 to 130 bytes (over 64 exercises H' long output),
// then at sizes whose segments span several address blocks (more than 128
// blocks), up to the default cost.
func TestArgon2idMatchesXCrypto(t *testing.T) {
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
		got := freshArgon2id(password, salt, passes, memory, lanes, keyLen)
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
		if got := freshArgon2id(password, salt, p.passes, p.memory, p.lanes, 32); !bytes.Equal(got, want) {
			t.Fatalf("p=%d t=%d m=%d:\n got %x\nwant %x", p.lanes, p.passes, p.memory, got, want)
		}
	}
}

// TestArgon2idReusedMemory: a block array reused across hashes (different
// passwords, parameters and sizes, never cleared) gives the same keys as
// fresh arrays, because pass 0 writes every block before reading it.
func TestArgon2idReusedMemory(t *testing.T) {
	mem := make([]argon2Block, argon2Blocks(512, 1))
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
		got := argon2idKey(mem, []byte(c.pw), salt, nil, nil, c.t, c.m, c.lanes, c.keyLen)
		if want := freshArgon2id([]byte(c.pw), salt, c.t, c.m, c.lanes, c.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("%+v: reused %x, fresh %x", c, got, want)
		}
		if want := argon2.IDKey([]byte(c.pw), salt, c.t, c.m, c.lanes, c.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("%+v: reused %x, x/crypto %x", c, got, want)
		}
	}
}

// FuzzArgon2idMatchesXCrypto compares argon2idKey, in a reused block array,
// with x/crypto's IDKey at fuzzed small parameters.
func FuzzArgon2idMatchesXCrypto(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(2), uint16(256), uint8(1), uint8(32))
	f.Add([]byte(""), []byte("saltsalt"), uint8(1), uint16(8), uint8(1), uint8(4))
	f.Add([]byte("correct horse"), []byte("0123456789abcdef"), uint8(3), uint16(77), uint8(4), uint8(130))
	f.Add([]byte{0, 255, 1}, []byte{9, 9, 9, 9, 9, 9, 9, 9}, uint8(1), uint16(35), uint8(3), uint8(65))
	mem := make([]argon2Block, argon2Blocks(8*4+300, 1))
	f.Fuzz(func(t *testing.T, password, salt []byte, passes uint8, memory uint16, lanes uint8, keyLen uint8) {
		p := 1 + lanes%4
		tt := 1 + uint32(passes%3)
		m := 8*uint32(p) + uint32(memory%300)
		k := 4 + uint32(keyLen%127)
		if len(salt) < 8 {
			salt = append(salt, make([]byte, 8-len(salt))...)
		}
		want := argon2.IDKey(password, salt, tt, m, p, k)
		got := argon2idKey(mem, password, salt, nil, nil, tt, m, p, k)
		if !bytes.Equal(got, want) {
			t.Fatalf("p=%d t=%d m=%d k=%d: got %x want %x", p, tt, m, k, got, want)
		}
	})
}

// BenchmarkArgon2id compares one argon2id hash at the default cost (19 MiB,
// t=2, p=1) in authgin's implementation, in a reused array, with x/crypto's.
func BenchmarkArgon2id(b *testing.B) {
	p := DefaultArgon2()
	pw, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	b.Run("authgin", func(b *testing.B) {
		mem := make([]argon2Block, argon2Blocks(p.Memory, p.Parallelism))
		for b.Loop() {
			argon2idKey(mem, pw, salt, nil, nil, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
		}
	})
	b.Run("xcrypto", func(b *testing.B) {
		for b.Loop() {
			argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
		}
	})
}

// TestHasherReusesMemory: the hasher keeps one block array a slot, sized for
// its own parameters, and still verifies hashes made (by x/crypto) with
// smaller and larger memory, more lanes and other key lengths, before and
// after its own hashes.
func TestHasherReusesMemory(t *testing.T) {
	ctx := context.Background()
	own := Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	h := newHasher(own, 2, time.Minute)
	salt := []byte("0123456789abcdef")
	for _, p := range []Argon2Params{
		own,
		{Memory: 32, Iterations: 2, Parallelism: 1, KeyLength: 32},
		{Memory: 300, Iterations: 1, Parallelism: 3, KeyLength: 80}, // larger: a temporary array
		{Memory: 61, Iterations: 3, Parallelism: 2, KeyLength: 16},
		own,
	} {
		p.SaltLength = uint32(len(salt))
		enc := encodePHC(p, salt, argon2.IDKey([]byte("pass word"), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength))
		if match, rehash, err := h.verify(ctx, enc, "pass word"); !match || rehash != (p != own) || err != nil {
			t.Fatalf("verify(%+v) = %v, %v, %v", p, match, rehash, err)
		}
		if match, _, err := h.verify(ctx, enc, "pass wore"); match || err != nil {
			t.Fatalf("verify(%+v, wrong) = %v, %v", p, match, err)
		}
		mine, err := h.hash(ctx, "pass word")
		if err != nil {
			t.Fatal(err)
		}
		if match, rehash, err := h.verify(ctx, mine, "pass word"); !match || rehash || err != nil {
			t.Fatalf("verify(own hash) = %v, %v, %v", match, rehash, err)
		}
	}
	if n := len(h.mems); n != 1 {
		t.Fatalf("kept %d block arrays after sequential hashes, want 1", n)
	}
	if m := <-h.mems; len(m.blocks) != argon2Blocks(own.Memory, own.Parallelism) {
		t.Fatalf("kept array of %d blocks, want %d", len(m.blocks), argon2Blocks(own.Memory, own.Parallelism))
	}
}

// TestHasherConcurrentSlots: hashes in both slots at once, each in its own
// kept array, verify (run with -race).
func TestHasherConcurrentSlots(t *testing.T) {
	ctx := context.Background()
	h := newHasher(Argon2Params{Memory: 128, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32}, 2, time.Minute)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			pw := fmt.Sprintf("password %d", i)
			enc, err := h.hash(ctx, pw)
			if err == nil {
				var match bool
				if match, _, err = h.verify(ctx, enc, pw); err == nil && !match {
					err = fmt.Errorf("%s: own hash does not verify", pw)
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.mems); n > 2 {
		t.Fatalf("kept %d arrays for 2 slots", n)
	}
}
