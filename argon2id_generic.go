//go:build !amd64 || purego

package authgin

// argon2Compress is G in portable Go (argon2id_amd64.s has an AVX2 one).
func argon2Compress(out, x, y, z *argon2Block, xor bool) {
	argon2G(out, x, y, z, xor)
}
