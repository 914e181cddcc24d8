//go:build linux || darwin || freebsd

package argon2id

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapping is the anonymous mapping a Memory's blocks lie in.
type mapping struct {
	mapped []byte          // nil for a heap array
	unmap  runtime.Cleanup // unmaps mapped if the Memory is dropped without Free
}

// newMemory returns n blocks mapped outside the Go heap. Users keep these
// arrays for a long time (authgin's hasher, one a hashing slot): in the
// heap, those live blocks would raise the collector's heap goal by as much
// again, and the process's memory with it. If the mapping fails, the
// blocks come from the heap.
func newMemory(n int) *Memory {
	size := n * blockSize
	// Map one huge page more than needed so the blocks can start on a
	// huge-page boundary; the unused head and tail are never touched, so
	// they cost address space only.
	b, err := unix.Mmap(-1, 0, size+hugePageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return &Memory{blocks: make([]block, n)}
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))          // #nosec G103 -- the address only, to align
	off := int((hugePageSize - start%hugePageSize) % hugePageSize) // #nosec G115 -- below hugePageSize
	advise(b, b[off:off+size])
	// b[off:] is page-aligned, at least n KiB long and never moves: a valid
	// array of n blocks of plain words.
	blocks := unsafe.Slice((*block)(unsafe.Pointer(&b[off])), n) // #nosec G103 -- reinterpreting an anonymous mapping of at least n blocks
	m := &Memory{blocks: blocks, mapping: mapping{mapped: b}}
	m.unmap = runtime.AddCleanup(m, unmap, b)
	return m
}

// free unmaps m; it must not be used afterwards.
func (m *Memory) free() {
	if m.mapped != nil {
		m.unmap.Stop()
		unmap(m.mapped)
		m.mapped, m.blocks = nil, nil
	}
}

// unmap gives a mapping back to the system.
func unmap(b []byte) {
	_ = unix.Munmap(b) // nothing to do if it fails: the mapping stays
}
