package argon2id

import "golang.org/x/sys/unix"

// hugePageSize aligns the block arrays as on Linux (FreeBSD promotes
// aligned ranges to superpages by itself).
const hugePageSize = 2 << 20

// advise keeps the mapping out of core dumps (MADV_NOCORE): the blocks
// hold values derived from passwords between a hash's start and its wipe.
func advise(mapping, blocks []byte) {
	_ = unix.Madvise(mapping, unix.MADV_NOCORE) // no error to act on: without it, the mapping is as exposed as the heap
}
