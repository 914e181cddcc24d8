// Package argon2id computes argon2id (RFC 9106, version 0x13) keys in
// block arrays that are kept and reused from one hash to the next, with an
// AVX2 compression function on amd64 (the purego build tag leaves only the
// portable one). It gives the same keys as golang.org/x/crypto/argon2's
// IDKey, which allocates, and has the runtime zero, its whole array on
// every call. Before its first hash the kernel checks itself against known
// answers; if it fails, the package logs why (slog.Default) and hashes with
// golang.org/x/crypto/argon2 instead. See README.md.
package argon2id

import (
	"runtime"

	"golang.org/x/crypto/argon2"
)

// Version is the argon2 version computed here, the v= field of a PHC string.
const Version = 0x13

// Memory is a block array for argon2id hashes, reused from one hash to the
// next. Where the system allows, it is mapped outside the Go heap, so that
// arrays held for a long time do not raise the collector's heap goal, and
// the mapping is kept out of core dumps (Linux, FreeBSD) and zeroed in
// forked children (Linux).
//
// A Memory is not safe for concurrent use: each hash needs one of its own.
type Memory struct {
	blocks  []block
	mapping // where blocks lies outside the heap (mem_mmap.go)
}

// NewMemory returns a block array for hashes of up to memory KiB in lanes
// lanes (larger hashes still work, in a temporary array).
func NewMemory(memory uint32, lanes uint8) *Memory {
	return newMemory(numBlocks(memory, max(lanes, 1)))
}

// Key derives keyLen bytes from password and salt with argon2id, time
// passes over memory KiB in lanes lanes: the same key as
// argon2.IDKey(password, salt, time, memory, lanes, keyLen) of
// golang.org/x/crypto/argon2. It works in m, or in a temporary array when
// the parameters need more blocks than m holds, and zeroes the blocks it
// used before it returns: they hold values derived from the password, which
// would otherwise stay in memory until the next hash overwrites them, or,
// in a released array, until whoever gets the memory next.
//
// If the kernel failed its known-answer test, Key returns x/crypto's
// IDKey, which neither uses m nor wipes the memory it allocates.
//
// Key panics if time or lanes is 0 or keyLen is below 4 (RFC 9106's
// minimum tag length).
func (m *Memory) Key(password, salt []byte, time, memory uint32, lanes uint8, keyLen uint32) []byte {
	if time < 1 || lanes < 1 || keyLen < 4 {
		panic("argon2id: time and lanes must be at least 1 and keyLen at least 4")
	}
	derive := kernel()
	if derive == nil {
		return argon2.IDKey(password, salt, time, memory, lanes, keyLen)
	}
	mem := m.blocks
	n := numBlocks(memory, lanes)
	if n > len(mem) {
		mem = make([]block, n)
	}
	mem = mem[:n]
	defer func() {
		wipe(mem)
		runtime.KeepAlive(m) // m's cleanup must not unmap mem before the hash and the wipe are done
	}()
	return derive(mem, password, salt, nil, nil, time, memory, lanes, keyLen)
}

// wipeChunk is how many blocks wipe zeroes between runtime.Gosched calls:
// clearing memory runs in the runtime, where the goroutine cannot be
// preempted, and the arrays of hashes within authgin's caps reach 1 GiB.
const wipeChunk = 4 * yieldEvery

// wipe zeroes mem.
func wipe(mem []block) {
	for len(mem) > wipeChunk {
		clear(mem[:wipeChunk])
		mem = mem[wipeChunk:]
		runtime.Gosched()
	}
	clear(mem)
}

// Free gives m's memory back to the system; m must not be used afterwards.
// A Memory that becomes unreachable without Free is freed by the collector.
func (m *Memory) Free() { m.free() }
