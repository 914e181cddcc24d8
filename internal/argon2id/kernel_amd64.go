//go:build amd64 && !purego

package argon2id

import "golang.org/x/sys/cpu"

// compressAVX2 is compressGoNext with AVX2 (kernel_amd64.s), z its scratch
// block; it also prefetches what next describes.
//
//go:noescape
func compressAVX2(out, x, y, z *block, xor bool, next *nextRef)

// kernelName names the G that compress runs, for logs.
func kernelName() string {
	if cpu.X86.HasAVX2 {
		return "avx2"
	}
	return "go"
}

// compress is G: AVX2 where the processor has it, because G is where
// argon2id spends its time, the portable code otherwise.
func compress(out, x, y, z *block, xor bool, next *nextRef) {
	if cpu.X86.HasAVX2 {
		compressAVX2(out, x, y, z, xor, next)
		return
	}
	compressGoNext(out, x, y, z, xor, next)
}
