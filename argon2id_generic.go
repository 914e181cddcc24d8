//go:build !amd64 || purego

package authgin

// argon2Compress is G in portable Go (argon2id_amd64.s has an AVX2 one),
// which computes next's position but cannot prefetch it.
func argon2Compress(out, x, y, z *argon2Block, xor bool, next *argon2Next) {
	argon2GNext(out, x, y, z, xor, next)
}
