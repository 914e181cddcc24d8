//go:build !(linux || darwin || freebsd)

package argon2id

// mapping is empty: the blocks come from the heap.
type mapping struct{}

// newMemory returns n blocks from the heap.
func newMemory(n int) *Memory {
	return &Memory{blocks: make([]block, n)}
}

// free lets the collector have m.
func (m *Memory) free() { m.blocks, m.mapping = nil, mapping{} }
