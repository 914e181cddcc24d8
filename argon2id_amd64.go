//go:build amd64 && !purego

package authgin

import "golang.org/x/sys/cpu"

// argon2GAVX2 is argon2GNext with AVX2 (argon2id_amd64.s), z its scratch
// block; it also prefetches what next describes.
//
//go:noescape
func argon2GAVX2(out, x, y, z *argon2Block, xor bool, next *argon2Next)

// argon2Compress is G: AVX2 where the processor has it, about twice the
// speed of the portable code, which is what the hashing bound is paid in.
func argon2Compress(out, x, y, z *argon2Block, xor bool, next *argon2Next) {
	if cpu.X86.HasAVX2 {
		argon2GAVX2(out, x, y, z, xor, next)
		return
	}
	argon2GNext(out, x, y, z, xor, next)
}
