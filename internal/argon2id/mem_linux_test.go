package argon2id

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestMemoryMapping: the block array starts on a huge-page boundary, and
// its mapping carries the advice: huge pages (VmFlags "hg"), no core dump
// ("dd") and wiped on fork ("wf", where the kernel has it).
func TestMemoryMapping(t *testing.T) {
	m := NewMemory(defaultMemory, defaultLanes)
	defer m.Free()
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
	want := map[string]string{"hg": "MADV_HUGEPAGE", "dd": "MADV_DONTDUMP", "wf": "MADV_WIPEONFORK"}
	if !wipeOnForkSupported(t) {
		t.Log("this kernel has no MADV_WIPEONFORK")
		delete(want, "wf")
	}
	for flag, advice := range want {
		if !strings.Contains(" "+flags+" ", " "+flag+" ") {
			t.Errorf("mapping at %#x has VmFlags %q, want %s (%s)", addr, flags, flag, advice)
		}
	}
}

// wipeOnForkSupported reports whether the kernel accepts MADV_WIPEONFORK
// (Linux 4.14 on), on a scratch mapping.
func wipeOnForkSupported(t *testing.T) bool {
	b, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	return unix.Madvise(b, unix.MADV_WIPEONFORK) != unix.EINVAL
}

// TestMemoryUnmapped: Free unmaps the block array, a second Free does
// nothing, and a Memory dropped without Free is unmapped by the collector.
func TestMemoryUnmapped(t *testing.T) {
	mapped := func(addr uintptr) bool {
		_, err := vmFlags(addr)
		return err == nil
	}
	m := NewMemory(64, 1)
	addr := uintptr(unsafe.Pointer(&m.blocks[0]))
	m.Key([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
	if !mapped(addr) {
		t.Fatalf("no mapping at %#x", addr)
	}
	m.Free()
	m.Free()
	if mapped(addr) {
		t.Fatalf("mapping at %#x still there after Free", addr)
	}

	addr = func() uintptr {
		m := NewMemory(64, 1)
		m.Key([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
		return uintptr(unsafe.Pointer(&m.blocks[0]))
	}()
	for deadline := time.Now().Add(10 * time.Second); mapped(addr); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("mapping at %#x still there after its Memory was dropped", addr)
		}
		runtime.GC()
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
