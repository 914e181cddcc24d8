package argon2id

// hugePageSize aligns the block arrays as on Linux.
const hugePageSize = 2 << 20

// advise has nothing to say to macOS: it has no transparent huge pages,
// and golang.org/x/sys/unix offers no advice that keeps a mapping out of
// core dumps or forked children there.
func advise(mapping, blocks []byte) {}
