package argon2id

import "syscall"

// hugePageSize is the x86-64 and arm64 transparent huge page.
const hugePageSize = 2 << 20

// adviseHugePages asks for transparent huge pages under b. argon2id reads
// blocks all over its 19 MiB: with 4 KiB pages most of those reads miss the
// TLB, and more so when other work on the core has flushed it. The kernel
// uses huge pages only for the aligned 2 MiB ranges wholly inside b, and
// only where THP is enabled ("always" or "madvise"); elsewhere this does
// nothing.
func adviseHugePages(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }
