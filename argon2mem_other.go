//go:build !(linux || darwin || freebsd)

package authgin

// newArgon2Mem returns n blocks from the heap.
func newArgon2Mem(n int) *argon2Mem {
	return &argon2Mem{blocks: make([]argon2Block, n)}
}

// free lets the collector have m.
func (m *argon2Mem) free() { m.blocks = nil }
