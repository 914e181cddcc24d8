package commonpasswords

import (
	"slices"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	if n := Load(); n < 100_000 {
		t.Fatalf("%d passwords, want at least 100,000", n)
	}
	l := list()
	if !slices.IsSorted(l) {
		t.Fatal("list not sorted: binary search would miss entries")
	}
	for i, p := range l {
		if p == "" || p != Normalize(p) || strings.ContainsAny(p, "\r\n") || (i > 0 && l[i-1] == p) {
			t.Fatalf("entry %d %q: empty, not normalised or repeated", i, p)
		}
	}
	for _, p := range []string{"123456", "password", "iloveyou", "qwertyuiop", "trustno1", "starwars", "p@ssw0rd", "admin2024"} {
		if !Contains(Normalize(p)) {
			t.Errorf("%q not on the list", p)
		}
	}
	for _, p := range []string{"", "correct horse battery", "xq7#Lm2$vB9!", "zz"} {
		if Contains(Normalize(p)) {
			t.Errorf("%q on the list", p)
		}
	}
}

func BenchmarkContains(b *testing.B) {
	Load()
	for b.Loop() {
		Contains("correct horse battery")
	}
}
