package argon2id

import (
	"encoding/binary"
	"hash"
	"math/bits"
	"runtime"

	"golang.org/x/crypto/blake2b"
)

// The algorithm, written from RFC 9106 (version 0x13). The compression
// function G has an AVX2 version (kernel_amd64.s), which also prefetches
// the next block's reference block (nextRef); golang.org/x/crypto/argon2 is
// the reference both are tested against.

const (
	typeID     = 2    // y: argon2id
	blockSize  = 1024 // bytes
	syncPoints = 4    // slices per pass
	// yieldEvery is how many blocks a hash computes between
	// runtime.Gosched calls, so that cheap requests do not wait for a
	// whole hash behind busy cores.
	yieldEvery = 1024
)

// block is one 1 KiB memory block as 128 little-endian words.
type block [blockSize / 8]uint64

// numBlocks is the number of memory blocks m' of a hash with memory KiB
// and lanes lanes: m rounded down to a multiple of 4 blocks a lane.
func numBlocks(memory uint32, lanes uint8) int {
	p := uint32(lanes)
	if memory < 8*p {
		memory = 8 * p
	}
	return int(memory / (syncPoints * p) * (syncPoints * p))
}

// deriveKey derives keyLen bytes from password and salt with argon2id
// (secret and associated data as in RFC 9106, usually empty). mem is the
// block array to work in and must hold at least numBlocks(memory, lanes)
// blocks; its previous contents do not matter, because pass 0 writes every
// block before anything reads it.
func deriveKey(mem []block, password, salt, secret, data []byte, time, memory uint32, lanes uint8, keyLen uint32) []byte {
	p := uint32(lanes)
	if memory < 8*p {
		memory = 8 * p
	}
	h0 := preHash(password, salt, secret, data, time, memory, p, keyLen)
	n := numBlocks(memory, lanes)
	mem = mem[:n]
	q := n / int(p) // columns per lane
	initLanes(mem, &h0, q, int(p))
	fill(mem, q, int(p), int(time))

	// Final block: XOR of the last column.
	var c block
	for l := range int(p) {
		last := &mem[l*q+q-1]
		for i := range c {
			c[i] ^= last[i]
		}
	}
	var buf [blockSize]byte
	for i, w := range c {
		binary.LittleEndian.PutUint64(buf[8*i:], w)
	}
	out := make([]byte, keyLen)
	hPrime(out, buf[:])
	return out
}

// preHash is H0, the 64-byte pre-hash of the parameters and inputs.
func preHash(password, salt, secret, data []byte, time, memory, lanes, keyLen uint32) [blake2b.Size + 8]byte {
	h, _ := blake2b.New512(nil) // cannot fail without a key
	var w [4]byte
	u32 := func(v uint32) {
		binary.LittleEndian.PutUint32(w[:], v)
		h.Write(w[:])
	}
	withLen := func(b []byte) {
		u32(uint32(len(b))) // #nosec G115 -- inputs are far below 4 GiB (passwords are capped, salts and keys bounded)
		h.Write(b)
	}
	u32(lanes)
	u32(keyLen)
	u32(memory)
	u32(time)
	u32(Version)
	u32(typeID)
	withLen(password)
	withLen(salt)
	withLen(secret)
	withLen(data)
	// Room for the two little-endian words of the first blocks' input.
	var h0 [blake2b.Size + 8]byte
	h.Sum(h0[:0])
	return h0
}

// hPrime is H', the variable-length hash: it fills out from in.
func hPrime(out, in []byte) {
	var prefix [4]byte
	binary.LittleEndian.PutUint32(prefix[:], uint32(len(out))) // #nosec G115 -- out is a key (<= 128 bytes) or a 1 KiB block
	if len(out) <= blake2b.Size {
		h := newBlake2b(len(out))
		h.Write(prefix[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	// r = ceil(T/32) - 2 hashes of 64 bytes, of which the first halves are
	// output, then one last hash of the remaining T - 32r bytes.
	r := (len(out)+31)/32 - 2
	var v [blake2b.Size]byte
	h := newBlake2b(blake2b.Size)
	h.Write(prefix[:])
	h.Write(in)
	h.Sum(v[:0])
	copy(out, v[:32])
	for i := 1; i < r; i++ {
		v = blake2b.Sum512(v[:])
		copy(out[32*i:], v[:32])
	}
	last := newBlake2b(len(out) - 32*r)
	last.Write(v[:])
	last.Sum(out[32*r : 32*r])
}

// newBlake2b returns an unkeyed BLAKE2b of size bytes (1..64).
func newBlake2b(size int) hash.Hash {
	h, err := blake2b.New(size, nil)
	if err != nil {
		panic("argon2id: blake2b size " + err.Error()) // sizes are computed above, always 1..64
	}
	return h
}

// initLanes computes the first two blocks of every lane from h0.
func initLanes(mem []block, h0 *[blake2b.Size + 8]byte, q, lanes int) {
	var buf [blockSize]byte
	for l := range lanes {
		for j := range 2 {
			binary.LittleEndian.PutUint32(h0[blake2b.Size:], uint32(j))   // #nosec G115 -- 0 or 1
			binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], uint32(l)) // #nosec G115 -- lanes <= 255
			hPrime(buf[:], h0[:])
			b := &mem[l*q+j]
			for i := range b {
				b[i] = binary.LittleEndian.Uint64(buf[8*i:])
			}
		}
	}
}

// fill runs the passes. Lanes of one slice only reference blocks of
// other lanes in finished slices, so computing them one after the other is
// the same as computing them in parallel.
func fill(mem []block, q, lanes, passes int) {
	segLen := q / syncPoints
	sinceYield := 0
	for pass := range passes {
		for slice := range syncPoints {
			for lane := range lanes {
				sinceYield += segLen
				segment(mem, q, lanes, passes, pass, slice, lane, segLen, &sinceYield)
			}
		}
	}
}

// segment computes one segment: segLen blocks of one lane in one slice.
func segment(mem []block, q, lanes, passes, pass, slice, lane, segLen int, sinceYield *int) {
	// argon2id: data-independent addressing for the first half of pass 0,
	// data-dependent (the previous block's first word) afterwards.
	independent := pass == 0 && slice < syncPoints/2
	var input, address, zero, scratch block
	if independent {
		input[0] = uint64(pass)  // #nosec G115 -- small non-negative ints
		input[1] = uint64(lane)  // #nosec G115 -- as above
		input[2] = uint64(slice) // #nosec G115 -- as above
		input[3] = uint64(len(mem))
		input[4] = uint64(passes) // #nosec G115 -- as above
		input[5] = typeID
	}
	nextAddresses := func() {
		input[6]++
		compress(&address, &zero, &input, &scratch, false, nil)
		compress(&address, &zero, &address, &scratch, false, nil)
	}

	start := 0
	if pass == 0 && slice == 0 {
		start = 2 // the first two blocks come from h0
		if independent {
			nextAddresses()
		}
	}
	laneBase := lane * q
	startPos := 0
	if pass != 0 && slice != syncPoints-1 {
		startPos = (slice + 1) * segLen
	}
	// With one lane, a data-dependent reference is in this lane and known
	// as soon as the block before it has its first word: G computes its
	// position then, and the AVX2 G prefetches it (nextRef).
	var next nextRef
	prefetch := !independent && lanes == 1
	if prefetch {
		next.lane, next.start, next.q = &mem[laneBase], uint64(startPos), uint64(q) // #nosec G115 -- non-negative ints
	}
	havePos := false // next.pos is this block's reference position
	for idx := start; idx < segLen; idx++ {
		col := slice*segLen + idx
		cur := laneBase + col
		prev := cur - 1
		if col == 0 {
			prev = laneBase + q - 1
		}
		var ref int
		if havePos {
			ref = laneBase + int(next.pos) // #nosec G115 -- below q
		} else {
			var rnd uint64
			if independent {
				if idx%len(address) == 0 {
					nextAddresses()
				}
				rnd = address[idx%len(address)]
			} else {
				rnd = mem[prev][0]
			}

			// The reference block: lane from the high word, position in the
			// reference area from the low word, biased towards recent blocks.
			refLane := int((rnd >> 32) % uint64(lanes)) // #nosec G115 -- lanes >= 1
			if pass == 0 && slice == 0 {
				refLane = lane
			}
			var area int
			switch {
			case refLane == lane && pass == 0:
				area = slice*segLen + idx - 1
			case refLane == lane:
				area = q - segLen + idx - 1
			case pass == 0:
				area = slice * segLen
			default:
				area = q - segLen
			}
			if refLane != lane && idx == 0 {
				area--
			}
			ref = refLane*q + refPos(rnd, area, startPos, q)
		}

		var np *nextRef
		havePos = prefetch && idx+1 < segLen
		if havePos {
			// The next block's reference area, in this lane.
			area := q - segLen + idx
			if pass == 0 {
				area = slice*segLen + idx
			}
			next.area, np = uint64(area), &next // #nosec G115 -- area > 0
		}
		// Version 0x13: pass 0 overwrites, later passes XOR into the block.
		compress(&mem[cur], &mem[prev], &mem[ref], &scratch, pass != 0, np)

		*sinceYield++
		if *sinceYield >= yieldEvery {
			*sinceYield = 0
			runtime.Gosched()
		}
	}
}

// refPos is the position in its lane of the reference block that the
// pseudo-random value rnd picks from a reference area of area blocks
// starting at position start, in a lane of q blocks (RFC 9106, 3.4.2): a
// mapping biased towards the most recent blocks.
func refPos(rnd uint64, area, start, q int) int {
	j1 := rnd & 0xffffffff
	x := (j1 * j1) >> 32
	y := (uint64(area) * x) >> 32          // #nosec G115 -- area > 0
	return (start + area - 1 - int(y)) % q // #nosec G115 -- y < area
}

// nextRef describes where the next block's reference block lies:
// position refPos(out[0], area, start, q) in lane. G stores that
// position in pos, and the AVX2 G prefetches the block, and the block
// after out, as soon as out's first word is final: the rest of G then
// hides most of the fetch, a miss in L2 or beyond that would otherwise
// stall the next G at its start, and more often so when other work shares
// the core and evicts the lane's recent blocks from its caches.
type nextRef struct {
	lane           *block // the lane's first block
	area, start, q uint64
	pos            uint64
}

// compressGoNext is compressGo that also sets next.pos (unless next is nil).
func compressGoNext(out, x, y, z *block, xor bool, next *nextRef) {
	compressGo(out, x, y, z, xor)
	if next != nil {
		next.pos = uint64(refPos(out[0], int(next.area), int(next.start), int(next.q))) // #nosec G115 -- below q
	}
}

// compressGo is the compression function: out = P(x ^ y) ^ x ^ y, XORed into
// out's previous contents when xor is set. out may alias x or y; z is
// scratch (any contents, aliasing none of them), so that no block is
// zeroed per call.
func compressGo(out, x, y, z *block, xor bool) {
	for i := range z {
		z[i] = x[i] ^ y[i]
	}
	for i := range 8 {
		row(z, i)
	}
	for i := range 8 {
		col(z, i)
	}
	// x ^ y again rather than a saved copy: both were just read, and each
	// word is read before out (which may alias either) is written.
	if xor {
		for i := range out {
			out[i] ^= z[i] ^ x[i] ^ y[i]
		}
	} else {
		for i := range out {
			out[i] = z[i] ^ x[i] ^ y[i]
		}
	}
}

// row applies the permutation P (a BLAKE2b round with BlaMka's
// a + b + 2*lo(a)*lo(b) in place of a + b) to row r of z: its eight 16-byte
// registers are words 16r..16r+15. Unrolled: this is where argon2 spends
// its time.
func row(b *block, r int) {
	z := (*[16]uint64)(b[16*r : 16*r+16])
	v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 := z[0], z[1], z[2], z[3], z[4], z[5], z[6], z[7], z[8], z[9], z[10], z[11], z[12], z[13], z[14], z[15]
	v0 = v0 + v4 + 2*(v0&0xffffffff)*(v4&0xffffffff)
	v12 = bits.RotateLeft64(v12^v0, -32)
	v8 = v8 + v12 + 2*(v8&0xffffffff)*(v12&0xffffffff)
	v4 = bits.RotateLeft64(v4^v8, -24)
	v0 = v0 + v4 + 2*(v0&0xffffffff)*(v4&0xffffffff)
	v12 = bits.RotateLeft64(v12^v0, -16)
	v8 = v8 + v12 + 2*(v8&0xffffffff)*(v12&0xffffffff)
	v4 = bits.RotateLeft64(v4^v8, -63)
	v1 = v1 + v5 + 2*(v1&0xffffffff)*(v5&0xffffffff)
	v13 = bits.RotateLeft64(v13^v1, -32)
	v9 = v9 + v13 + 2*(v9&0xffffffff)*(v13&0xffffffff)
	v5 = bits.RotateLeft64(v5^v9, -24)
	v1 = v1 + v5 + 2*(v1&0xffffffff)*(v5&0xffffffff)
	v13 = bits.RotateLeft64(v13^v1, -16)
	v9 = v9 + v13 + 2*(v9&0xffffffff)*(v13&0xffffffff)
	v5 = bits.RotateLeft64(v5^v9, -63)
	v2 = v2 + v6 + 2*(v2&0xffffffff)*(v6&0xffffffff)
	v14 = bits.RotateLeft64(v14^v2, -32)
	v10 = v10 + v14 + 2*(v10&0xffffffff)*(v14&0xffffffff)
	v6 = bits.RotateLeft64(v6^v10, -24)
	v2 = v2 + v6 + 2*(v2&0xffffffff)*(v6&0xffffffff)
	v14 = bits.RotateLeft64(v14^v2, -16)
	v10 = v10 + v14 + 2*(v10&0xffffffff)*(v14&0xffffffff)
	v6 = bits.RotateLeft64(v6^v10, -63)
	v3 = v3 + v7 + 2*(v3&0xffffffff)*(v7&0xffffffff)
	v15 = bits.RotateLeft64(v15^v3, -32)
	v11 = v11 + v15 + 2*(v11&0xffffffff)*(v15&0xffffffff)
	v7 = bits.RotateLeft64(v7^v11, -24)
	v3 = v3 + v7 + 2*(v3&0xffffffff)*(v7&0xffffffff)
	v15 = bits.RotateLeft64(v15^v3, -16)
	v11 = v11 + v15 + 2*(v11&0xffffffff)*(v15&0xffffffff)
	v7 = bits.RotateLeft64(v7^v11, -63)
	v0 = v0 + v5 + 2*(v0&0xffffffff)*(v5&0xffffffff)
	v15 = bits.RotateLeft64(v15^v0, -32)
	v10 = v10 + v15 + 2*(v10&0xffffffff)*(v15&0xffffffff)
	v5 = bits.RotateLeft64(v5^v10, -24)
	v0 = v0 + v5 + 2*(v0&0xffffffff)*(v5&0xffffffff)
	v15 = bits.RotateLeft64(v15^v0, -16)
	v10 = v10 + v15 + 2*(v10&0xffffffff)*(v15&0xffffffff)
	v5 = bits.RotateLeft64(v5^v10, -63)
	v1 = v1 + v6 + 2*(v1&0xffffffff)*(v6&0xffffffff)
	v12 = bits.RotateLeft64(v12^v1, -32)
	v11 = v11 + v12 + 2*(v11&0xffffffff)*(v12&0xffffffff)
	v6 = bits.RotateLeft64(v6^v11, -24)
	v1 = v1 + v6 + 2*(v1&0xffffffff)*(v6&0xffffffff)
	v12 = bits.RotateLeft64(v12^v1, -16)
	v11 = v11 + v12 + 2*(v11&0xffffffff)*(v12&0xffffffff)
	v6 = bits.RotateLeft64(v6^v11, -63)
	v2 = v2 + v7 + 2*(v2&0xffffffff)*(v7&0xffffffff)
	v13 = bits.RotateLeft64(v13^v2, -32)
	v8 = v8 + v13 + 2*(v8&0xffffffff)*(v13&0xffffffff)
	v7 = bits.RotateLeft64(v7^v8, -24)
	v2 = v2 + v7 + 2*(v2&0xffffffff)*(v7&0xffffffff)
	v13 = bits.RotateLeft64(v13^v2, -16)
	v8 = v8 + v13 + 2*(v8&0xffffffff)*(v13&0xffffffff)
	v7 = bits.RotateLeft64(v7^v8, -63)
	v3 = v3 + v4 + 2*(v3&0xffffffff)*(v4&0xffffffff)
	v14 = bits.RotateLeft64(v14^v3, -32)
	v9 = v9 + v14 + 2*(v9&0xffffffff)*(v14&0xffffffff)
	v4 = bits.RotateLeft64(v4^v9, -24)
	v3 = v3 + v4 + 2*(v3&0xffffffff)*(v4&0xffffffff)
	v14 = bits.RotateLeft64(v14^v3, -16)
	v9 = v9 + v14 + 2*(v9&0xffffffff)*(v14&0xffffffff)
	v4 = bits.RotateLeft64(v4^v9, -63)
	z[0], z[1], z[2], z[3], z[4], z[5], z[6], z[7], z[8], z[9], z[10], z[11], z[12], z[13], z[14], z[15] = v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15
}

// col applies P to column c of z: registers c, c+8, ..., c+56, that
// is words 2c, 2c+1, 2c+16, 2c+17, ..., 2c+112, 2c+113.
func col(b *block, c int) {
	z := (*[114]uint64)(b[2*c : 2*c+114])
	v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 := z[0], z[1], z[16], z[17], z[32], z[33], z[48], z[49], z[64], z[65], z[80], z[81], z[96], z[97], z[112], z[113]
	v0 = v0 + v4 + 2*(v0&0xffffffff)*(v4&0xffffffff)
	v12 = bits.RotateLeft64(v12^v0, -32)
	v8 = v8 + v12 + 2*(v8&0xffffffff)*(v12&0xffffffff)
	v4 = bits.RotateLeft64(v4^v8, -24)
	v0 = v0 + v4 + 2*(v0&0xffffffff)*(v4&0xffffffff)
	v12 = bits.RotateLeft64(v12^v0, -16)
	v8 = v8 + v12 + 2*(v8&0xffffffff)*(v12&0xffffffff)
	v4 = bits.RotateLeft64(v4^v8, -63)
	v1 = v1 + v5 + 2*(v1&0xffffffff)*(v5&0xffffffff)
	v13 = bits.RotateLeft64(v13^v1, -32)
	v9 = v9 + v13 + 2*(v9&0xffffffff)*(v13&0xffffffff)
	v5 = bits.RotateLeft64(v5^v9, -24)
	v1 = v1 + v5 + 2*(v1&0xffffffff)*(v5&0xffffffff)
	v13 = bits.RotateLeft64(v13^v1, -16)
	v9 = v9 + v13 + 2*(v9&0xffffffff)*(v13&0xffffffff)
	v5 = bits.RotateLeft64(v5^v9, -63)
	v2 = v2 + v6 + 2*(v2&0xffffffff)*(v6&0xffffffff)
	v14 = bits.RotateLeft64(v14^v2, -32)
	v10 = v10 + v14 + 2*(v10&0xffffffff)*(v14&0xffffffff)
	v6 = bits.RotateLeft64(v6^v10, -24)
	v2 = v2 + v6 + 2*(v2&0xffffffff)*(v6&0xffffffff)
	v14 = bits.RotateLeft64(v14^v2, -16)
	v10 = v10 + v14 + 2*(v10&0xffffffff)*(v14&0xffffffff)
	v6 = bits.RotateLeft64(v6^v10, -63)
	v3 = v3 + v7 + 2*(v3&0xffffffff)*(v7&0xffffffff)
	v15 = bits.RotateLeft64(v15^v3, -32)
	v11 = v11 + v15 + 2*(v11&0xffffffff)*(v15&0xffffffff)
	v7 = bits.RotateLeft64(v7^v11, -24)
	v3 = v3 + v7 + 2*(v3&0xffffffff)*(v7&0xffffffff)
	v15 = bits.RotateLeft64(v15^v3, -16)
	v11 = v11 + v15 + 2*(v11&0xffffffff)*(v15&0xffffffff)
	v7 = bits.RotateLeft64(v7^v11, -63)
	v0 = v0 + v5 + 2*(v0&0xffffffff)*(v5&0xffffffff)
	v15 = bits.RotateLeft64(v15^v0, -32)
	v10 = v10 + v15 + 2*(v10&0xffffffff)*(v15&0xffffffff)
	v5 = bits.RotateLeft64(v5^v10, -24)
	v0 = v0 + v5 + 2*(v0&0xffffffff)*(v5&0xffffffff)
	v15 = bits.RotateLeft64(v15^v0, -16)
	v10 = v10 + v15 + 2*(v10&0xffffffff)*(v15&0xffffffff)
	v5 = bits.RotateLeft64(v5^v10, -63)
	v1 = v1 + v6 + 2*(v1&0xffffffff)*(v6&0xffffffff)
	v12 = bits.RotateLeft64(v12^v1, -32)
	v11 = v11 + v12 + 2*(v11&0xffffffff)*(v12&0xffffffff)
	v6 = bits.RotateLeft64(v6^v11, -24)
	v1 = v1 + v6 + 2*(v1&0xffffffff)*(v6&0xffffffff)
	v12 = bits.RotateLeft64(v12^v1, -16)
	v11 = v11 + v12 + 2*(v11&0xffffffff)*(v12&0xffffffff)
	v6 = bits.RotateLeft64(v6^v11, -63)
	v2 = v2 + v7 + 2*(v2&0xffffffff)*(v7&0xffffffff)
	v13 = bits.RotateLeft64(v13^v2, -32)
	v8 = v8 + v13 + 2*(v8&0xffffffff)*(v13&0xffffffff)
	v7 = bits.RotateLeft64(v7^v8, -24)
	v2 = v2 + v7 + 2*(v2&0xffffffff)*(v7&0xffffffff)
	v13 = bits.RotateLeft64(v13^v2, -16)
	v8 = v8 + v13 + 2*(v8&0xffffffff)*(v13&0xffffffff)
	v7 = bits.RotateLeft64(v7^v8, -63)
	v3 = v3 + v4 + 2*(v3&0xffffffff)*(v4&0xffffffff)
	v14 = bits.RotateLeft64(v14^v3, -32)
	v9 = v9 + v14 + 2*(v9&0xffffffff)*(v14&0xffffffff)
	v4 = bits.RotateLeft64(v4^v9, -24)
	v3 = v3 + v4 + 2*(v3&0xffffffff)*(v4&0xffffffff)
	v14 = bits.RotateLeft64(v14^v3, -16)
	v9 = v9 + v14 + 2*(v9&0xffffffff)*(v14&0xffffffff)
	v4 = bits.RotateLeft64(v4^v9, -63)
	z[0], z[1], z[16], z[17], z[32], z[33], z[48], z[49], z[64], z[65], z[80], z[81], z[96], z[97], z[112], z[113] = v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15
}
