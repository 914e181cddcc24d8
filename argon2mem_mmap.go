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
	b, err := syscall.Mmap(-1, 0, n*argon2BlockSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return &argon2Mem{blocks: make([]argon2Block, n)}
	}
	// The mapping is page-aligned, n KiB long and never moves: a valid
	// array of n blocks of plain words.
	blocks := unsafe.Slice((*argon2Block)(unsafe.Pointer(unsafe.SliceData(b))), n) // #nosec G103 -- reinterpreting an anonymous mapping of exactly n blocks
	return &argon2Mem{blocks: blocks, mapped: b}
}

// free unmaps m; it must not be used afterwards.
func (m *argon2Mem) free() {
	if m.mapped != nil {
		_ = syscall.Munmap(m.mapped) // nothing to do if it fails: the mapping stays
		m.mapped, m.blocks = nil, nil
	}
}
