package argon2id

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
)

// keyFunc is deriveKey's signature: the kernel that Key runs.
type keyFunc func(mem []block, password, salt, secret, data []byte, time, memory uint32, lanes uint8, keyLen uint32) []byte

// kernel is what Key hashes with: deriveKey if it gave the known answers
// when first asked, nil if it did not, and Key then uses
// golang.org/x/crypto/argon2. The tests replace it to force the fallback.
var kernel = sync.OnceValue(func() keyFunc { return checkKernel(deriveKey, slog.Default()) })

// checkKernel returns key if it gives every known answer, and otherwise
// logs why to log and returns nil: a kernel that miscomputes (an assembly
// or CPU-detection fault on some processor) would store hashes that no
// other argon2id implementation verifies, and fail every login against
// correct ones.
func checkKernel(key keyFunc, log *slog.Logger) keyFunc {
	if err := knownAnswers(key); err != nil {
		log.Error("argon2id: the kernel failed its known-answer test; hashing with golang.org/x/crypto/argon2 instead",
			"kernel", kernelName(), "err", err)
		return nil
	}
	return key
}

// knownAnswers runs key on the known-answer vectors:
//
//   - RFC 9106 section 5.3's argon2id vector (version 0x13, t=3, m=32 KiB,
//     p=4, with a secret and associated data, which deriveKey takes);
//   - the argon2id version 0x13 vector of the reference implementation's
//     tests (github.com/P-H-C/phc-winner-argon2, src/test.c: t=2,
//     m=256 KiB, p=1, "password", "somesalt"): a single lane is the case in
//     which the AVX2 G also computes the next block's reference (nextRef),
//     and the shape of authgin's default cost.
//
// A panic in key counts as a wrong answer.
func knownAnswers(key keyFunc) (err error) {
	vectors := []struct {
		name                         string
		password, salt, secret, data []byte
		time, memory                 uint32
		lanes                        uint8
		tag                          string
	}{
		{
			name:     "RFC 9106 5.3",
			password: bytes.Repeat([]byte{1}, 32), salt: bytes.Repeat([]byte{2}, 16),
			secret: bytes.Repeat([]byte{3}, 8), data: bytes.Repeat([]byte{4}, 12),
			time: 3, memory: 32, lanes: 4,
			tag: "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
		},
		{
			name:     "phc-winner-argon2 test.c",
			password: []byte("password"), salt: []byte("somesalt"),
			time: 2, memory: 256, lanes: 1,
			tag: "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe",
		},
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	for _, v := range vectors {
		mem := make([]block, numBlocks(v.memory, v.lanes))
		got := hex.EncodeToString(key(mem, v.password, v.salt, v.secret, v.data, v.time, v.memory, v.lanes, uint32(len(v.tag)/2))) // #nosec G115 -- a 32-byte tag
		if got != v.tag {
			return fmt.Errorf("%s: tag %s, want %s", v.name, got, v.tag)
		}
	}
	return nil
}
