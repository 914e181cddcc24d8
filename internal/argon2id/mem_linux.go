package argon2id

import "golang.org/x/sys/unix"

// hugePageSize is the x86-64 and arm64 transparent huge page.
const hugePageSize = 2 << 20

// advise gives Linux three pieces of advice about a new block array:
//
//   - MADV_DONTDUMP on the whole mapping: core dumps leave it out, as the
//     blocks hold values derived from passwords between a hash's start and
//     its wipe;
//   - MADV_WIPEONFORK on the whole mapping: a child made by fork (not the
//     clone with a shared address space that os/exec uses) sees it zeroed
//     rather than a copy of the parent's blocks;
//   - MADV_HUGEPAGE on blocks: argon2id reads blocks all over its memory,
//     and with 4 KiB pages most of those reads miss the TLB, more so when
//     other work on the core has flushed it. The kernel uses huge pages
//     only for the aligned 2 MiB ranges wholly inside blocks, and only
//     where transparent huge pages are enabled ("always" or "madvise").
//
// A kernel without an advice (before 3.4 for MADV_DONTDUMP, 4.14 for
// MADV_WIPEONFORK) refuses it with EINVAL, which is ignored: nothing else
// can fail on a private anonymous mapping of this process's own, and
// without the advice the mapping is as exposed as heap memory would be.
func advise(mapping, blocks []byte) {
	_ = unix.Madvise(mapping, unix.MADV_DONTDUMP)
	_ = unix.Madvise(mapping, unix.MADV_WIPEONFORK)
	_ = unix.Madvise(blocks, unix.MADV_HUGEPAGE)
}
