//go:build linux || darwin || freebsd

package authgin

import (
	"syscall"
	"unsafe"
)

// newArgon2Mem returns n blocks mapped outside the Go heap. The hasher keeps
// these arrays for its lifetime: in the heap, 2 x 19 MiB of live blocks
// would double the collector's heap goal, and the process's memory with it.
// If the mapping fails, the blocks come from the heap.
func newArgon2Mem(n int) *argon2Mem {
	size := n * argon2BlockSize
	// Map one huge page more than needed so the blocks can start on a
	// huge-page boundary; the unused head and tail are never touched, so
	// they cost address space only.
	b, err := syscall.Mmap(-1, 0, size+hugePageSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return &argon2Mem{blocks: make([]argon2Block, n)}
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))          // #nosec G103 -- the address only, to align
	off := int((hugePageSize - start%hugePageSize) % hugePageSize) // #nosec G115 -- below hugePageSize
	adviseHugePages(b[off : off+size])
	// b[off:] is page-aligned, at least n KiB long and never moves: a valid
	// array of n blocks of plain words.
	blocks := unsafe.Slice((*argon2Block)(unsafe.Pointer(&b[off])), n) // #nosec G103 -- reinterpreting an anonymous mapping of at least n blocks
	return &argon2Mem{blocks: blocks, mapped: b}
}

// free unmaps m; it must not be used afterwards.
func (m *argon2Mem) free() {
	if m.mapped != nil {
		_ = syscall.Munmap(m.mapped) // nothing to do if it fails: the mapping stays
		m.mapped, m.blocks = nil, nil
	}
}
