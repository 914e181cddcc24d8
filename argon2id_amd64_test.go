//go:build amd64 && !purego

package authgin

import (
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestArgon2GAVX2 checks the AVX2 compression against the portable one on
// random blocks, overwriting and XORing, with out separate from, or the same
// block as, x or y (argon2Segment's address blocks alias out and y). The
// end-to-end tests against x/crypto run whichever the processor selects; CI
// also runs them with -tags purego.
func TestArgon2GAVX2(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(b *argon2Block) {
		for i := range b {
			b[i] = rng.Uint64()
		}
	}
	for i := range 200 {
		var x, y, out, z argon2Block
		fill(&x)
		fill(&y)
		fill(&out)
		fill(&z)
		for _, xor := range []bool{false, true} {
			for _, alias := range []string{"none", "out=x", "out=y"} {
				want := [3]argon2Block{out, x, y} // out, x, y
				got := want
				args := func(b *[3]argon2Block) (o, xx, yy *argon2Block) {
					switch alias {
					case "out=x":
						return &b[1], &b[1], &b[2]
					case "out=y":
						return &b[2], &b[1], &b[2]
					}
					return &b[0], &b[1], &b[2]
				}
				var scratch argon2Block
				o, xx, yy := args(&want)
				argon2G(o, xx, yy, &scratch, xor)
				o, xx, yy = args(&got)
				argon2GAVX2(o, xx, yy, &z, xor)
				if got != want {
					t.Fatalf("case %d xor=%v %s: AVX2 result differs from the portable one", i, xor, alias)
				}
			}
		}
	}
}

// BenchmarkArgon2G is one compression, portable and AVX2.
func BenchmarkArgon2G(b *testing.B) {
	var x, y, out, z argon2Block
	for i := range x {
		x[i], y[i] = uint64(i)*0x9e3779b97f4a7c15, uint64(i)^0xdeadbeef
	}
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			argon2G(&out, &x, &y, &z, true)
		}
	})
	if cpu.X86.HasAVX2 {
		b.Run("avx2", func(b *testing.B) {
			for b.Loop() {
				argon2GAVX2(&out, &x, &y, &z, true)
			}
		})
	}
}
