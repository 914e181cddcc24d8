//go:build darwin || freebsd

package argon2id

// hugePageSize aligns the block arrays as on Linux; the advice is Linux's.
const hugePageSize = 2 << 20

func adviseHugePages([]byte) {}
