//go:build amd64 && !purego

package argon2id

import (
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestArgon2GAVX2 checks the AVX2 compression against the portable one on
// random blocks, overwriting and XORing, with out separate from, or the same
// block as, x or y (segment's address blocks alias out and y), and
// with and without a next reference to prefetch, whose position both must
// compute alike. The end-to-end tests against x/crypto run whichever the
// processor selects; CI also runs them with -tags purego.
func TestArgon2GAVX2(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(b *block) {
		for i := range b {
			b[i] = rng.Uint64()
		}
	}
	var lane [64]block
	for i := range 200 {
		var x, y, out, z block
		fill(&x)
		fill(&y)
		fill(&out)
		fill(&z)
		for _, xor := range []bool{false, true} {
			for _, alias := range []string{"none", "out=x", "out=y"} {
				want := [3]block{out, x, y} // out, x, y
				got := want
				args := func(b *[3]block) (o, xx, yy *block) {
					switch alias {
					case "out=x":
						return &b[1], &b[1], &b[2]
					case "out=y":
						return &b[2], &b[1], &b[2]
					}
					return &b[0], &b[1], &b[2]
				}
				var scratch block
				var wantNext, gotNext *nextRef
				if i%2 == 1 {
					wantNext = randomNext(rng, lane[:])
					n := *wantNext
					gotNext = &n
				}
				o, xx, yy := args(&want)
				compressGoNext(o, xx, yy, &scratch, xor, wantNext)
				o, xx, yy = args(&got)
				compressAVX2(o, xx, yy, &z, xor, gotNext)
				if got != want {
					t.Fatalf("case %d xor=%v %s: AVX2 result differs from the portable one", i, xor, alias)
				}
				if gotNext != nil && *gotNext != *wantNext {
					t.Fatalf("case %d xor=%v %s: AVX2 next reference %+v, portable %+v", i, xor, alias, *gotNext, *wantNext)
				}
			}
		}
	}
}

// randomNext is a next reference in lane, or (one in four) in a lane of up
// to 2^24 blocks at lane's address: the position is computed all the same,
// and a prefetch never faults.
func randomNext(rng *rand.Rand, lane []block) *nextRef {
	q := len(lane)
	if rng.IntN(4) == 0 {
		q = 1<<24 - rng.IntN(1<<20)
	}
	area := 1 + rng.IntN(q-1)
	start := rng.IntN(q)
	if rng.IntN(4) == 0 {
		area, start = q-1, q-1 // the largest sum, wrapping
	}
	return &nextRef{lane: &lane[0], area: uint64(area), start: uint64(start), q: uint64(q), pos: rng.Uint64()}
}

// BenchmarkArgon2G is one compression, portable and AVX2.
func BenchmarkArgon2G(b *testing.B) {
	var x, y, out, z block
	for i := range x {
		x[i], y[i] = uint64(i)*0x9e3779b97f4a7c15, uint64(i)^0xdeadbeef
	}
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			compressGo(&out, &x, &y, &z, true)
		}
	})
	if cpu.X86.HasAVX2 {
		b.Run("avx2", func(b *testing.B) {
			for b.Loop() {
				compressAVX2(&out, &x, &y, &z, true, nil)
			}
		})
	}
}
