//go:build amd64 && !purego

package authgin

import "golang.org/x/sys/cpu"

// argon2GAVX2 is argon2G with AVX2 (argon2id_amd64.s), z its scratch block.
//
//go:noescape
func argon2GAVX2(out, x, y, z *argon2Block, xor bool)

// argon2Compress is G: AVX2 where the processor has it, about twice the
// speed of the portable code, which is what the hashing bound is paid in.
func argon2Compress(out, x, y, z *argon2Block, xor bool) {
	if cpu.X86.HasAVX2 {
		argon2GAVX2(out, x, y, z, xor)
		return
	}
	argon2G(out, x, y, z, xor)
}
