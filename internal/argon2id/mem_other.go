//go:build !(linux || darwin || freebsd)

package argon2id

// newMemory returns n blocks from the heap.
func newMemory(n int) *Memory {
	return &Memory{blocks: make([]block, n)}
}

// free lets the collector have m.
func (m *Memory) free() { m.blocks = nil }
