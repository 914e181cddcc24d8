//go:build !amd64 || purego

package argon2id

// kernelName names the G that compress runs, for logs.
func kernelName() string { return "go" }

// compress is G in portable Go (kernel_amd64.s has an AVX2 one),
// which computes next's position but cannot prefetch it.
func compress(out, x, y, z *block, xor bool, next *nextRef) {
	compressGoNext(out, x, y, z, xor, next)
}
