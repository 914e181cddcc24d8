package argon2id

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestArgon2MemHugePages: the block array starts on a huge-page boundary
// and its mapping carries the huge-page advice (VmFlags "hg").
func TestArgon2MemHugePages(t *testing.T) {
	m := newMemory(numBlocks(defaultMemory, defaultLanes))
	defer m.free()
	if m.mapped == nil {
		t.Fatal("block array not mapped")
	}
	addr := uintptr(unsafe.Pointer(&m.blocks[0]))
	if addr%hugePageSize != 0 {
		t.Fatalf("blocks start at %#x, not on a %d-byte boundary", addr, hugePageSize)
	}
	flags, err := vmFlags(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("mapping at %#x has VmFlags %q, want hg (MADV_HUGEPAGE)", addr, flags)
	}
}

// vmFlags returns the VmFlags line of the mapping holding addr in
// /proc/self/smaps.
func vmFlags(addr uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mappingRange(line); ok {
			in = lo <= addr && addr < hi
			continue
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("no mapping holds %#x", addr)
}

// mappingRange parses the "lo-hi perms ..." header line of an smaps entry.
func mappingRange(line string) (lo, hi uintptr, ok bool) {
	span, _, found := strings.Cut(line, " ")
	los, his, dash := strings.Cut(span, "-")
	if !found || !dash {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(los, 16, 64)
	h, err2 := strconv.ParseUint(his, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}
