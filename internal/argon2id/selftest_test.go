package argon2id

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestKnownAnswers: the kernel of this build and processor gives the known
// answers (RFC 9106's argon2id vector among them), and checkKernel keeps it
// without logging.
func TestKnownAnswers(t *testing.T) {
	if err := knownAnswers(deriveKey); err != nil {
		t.Fatalf("kernel %s: %v", kernelName(), err)
	}
	var logs bytes.Buffer
	if checkKernel(deriveKey, slog.New(slog.NewTextHandler(&logs, nil))) == nil {
		t.Fatal("checkKernel refused a correct kernel")
	}
	if logs.Len() != 0 {
		t.Fatalf("checkKernel logged for a correct kernel: %s", logs.String())
	}
}

// TestKernelFallback: a kernel that gives a wrong answer, or panics, is
// refused on first use with a log line saying why, and Key then hashes
// with x/crypto (the wrong kernel's keys differ, so the keys tell which
// ran), once for all later hashes too.
func TestKernelFallback(t *testing.T) {
	wrong := func(mem []block, password, salt, secret, data []byte, time, memory uint32, lanes uint8, keyLen uint32) []byte {
		key := deriveKey(mem, password, salt, secret, data, time, memory, lanes, keyLen)
		key[len(key)-1] ^= 1
		return key
	}
	panics := func([]block, []byte, []byte, []byte, []byte, uint32, uint32, uint8, uint32) []byte {
		panic("kernel fault")
	}
	saved := kernel
	t.Cleanup(func() { kernel = saved })

	pw, salt := []byte("pass word"), []byte("0123456789abcdef")
	want := argon2.IDKey(pw, salt, 2, 64, 1, 32)
	if bytes.Equal(wrong(make([]block, numBlocks(64, 1)), pw, salt, nil, nil, 2, 64, 1, 32), want) {
		t.Fatal("the wrong kernel gives x/crypto's key")
	}
	for _, tc := range []struct {
		name   string
		key    keyFunc
		reason string
	}{
		{"wrong", wrong, "RFC 9106 5.3: tag"},
		{"panics", panics, "panic: kernel fault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			checks := 0
			kernel = sync.OnceValue(func() keyFunc {
				checks++
				return checkKernel(tc.key, slog.New(slog.NewTextHandler(&logs, nil)))
			})
			m := NewMemory(64, 1)
			defer m.Free()
			for range 3 {
				if got := m.Key(pw, salt, 2, 64, 1, 32); !bytes.Equal(got, want) {
					t.Fatalf("Key = %x, want x/crypto's %x", got, want)
				}
			}
			if checks != 1 {
				t.Errorf("the kernel was checked %d times, want once", checks)
			}
			log := logs.String()
			for _, s := range []string{"level=ERROR", "golang.org/x/crypto/argon2", "kernel=" + kernelName(), tc.reason} {
				if !strings.Contains(log, s) {
					t.Errorf("log %q does not say %q", log, s)
				}
			}
		})
	}
}
