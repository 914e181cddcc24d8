//go:build amd64 && !purego

#include "textflag.h"

// argon2 compression G with AVX2 (see compressGo in kernel.go for the
// algorithm). A row or column of the block is a BLAKE2b state v0..v15;
// registers A, B, C, D hold v0-v3, v4-v7, v8-v11, v12-v15, so one BlaMka
// step works on four words at once and the diagonal half of a round is the
// same step after rotating B, C and D by one, two and three words.

// Byte shuffles that rotate each 64-bit word right by 24 and by 16 bits.
DATA rotr24<>+0x00(SB)/8, $0x0201000706050403
DATA rotr24<>+0x08(SB)/8, $0x0a09080f0e0d0c0b
DATA rotr24<>+0x10(SB)/8, $0x0201000706050403
DATA rotr24<>+0x18(SB)/8, $0x0a09080f0e0d0c0b
GLOBL rotr24<>(SB), (NOPTR+RODATA), $32

DATA rotr16<>+0x00(SB)/8, $0x0100070605040302
DATA rotr16<>+0x08(SB)/8, $0x09080f0e0d0c0b0a
DATA rotr16<>+0x10(SB)/8, $0x0100070605040302
DATA rotr16<>+0x18(SB)/8, $0x09080f0e0d0c0b0a
GLOBL rotr16<>(SB), (NOPTR+RODATA), $32

// a = a + b + 2*lo32(a)*lo32(b), t clobbered.
#define BLAMKA(a, b, t) \
	VPMULUDQ b, a, t; \
	VPADDQ   b, a, a; \
	VPADDQ   t, t, t; \
	VPADDQ   t, a, a

// The BLAKE2b G function on four columns at once (Y14, Y15: the rotations).
#define HALF(A, B, C, D, t) \
	BLAMKA(A, B, t); \
	VPXOR    A, D, D; \
	VPSHUFD  $0xb1, D, D; \
	BLAMKA(C, D, t); \
	VPXOR    C, B, B; \
	VPSHUFB  Y15, B, B; \
	BLAMKA(A, B, t); \
	VPXOR    A, D, D; \
	VPSHUFB  Y14, D, D; \
	BLAMKA(C, D, t); \
	VPXOR    C, B, B; \
	VPADDQ   B, B, t; \
	VPSRLQ   $63, B, B; \
	VPXOR    t, B, B

// The permutation P: columns, then diagonals.
#define ROUND(A, B, C, D, t) \
	HALF(A, B, C, D, t); \
	VPERMQ $0x39, B, B; \
	VPERMQ $0x4e, C, C; \
	VPERMQ $0x93, D, D; \
	HALF(A, B, C, D, t); \
	VPERMQ $0x93, B, B; \
	VPERMQ $0x4e, C, C; \
	VPERMQ $0x39, D, D

// Column words: the 16 bytes at o0 and o1 from base+BX into one register.
#define LOAD2(base, o0, o1, X, Y) \
	VMOVDQU     o0(base)(BX*1), X; \
	VINSERTI128 $1, o1(base)(BX*1), Y, Y

// Y ^= x ^ y at the column words o0, o1 (Y4, Y5 clobbered).
#define XORXY(o0, o1, Y) \
	LOAD2(SI, o0, o1, X4, Y4); \
	LOAD2(DX, o0, o1, X5, Y5); \
	VPXOR Y4, Y, Y; \
	VPXOR Y5, Y, Y

// Y ^= out at the column words o0, o1 (Y4 clobbered).
#define XOROUT(o0, o1, Y) \
	LOAD2(DI, o0, o1, X4, Y4); \
	VPXOR Y4, Y, Y

// out at the column words o0, o1 = Y.
#define STORE2(o0, o1, X, Y) \
	VMOVDQU      X, o0(DI)(BX*1); \
	VEXTRACTI128 $1, Y, o1(DI)(BX*1)

// func compressAVX2(out, x, y, z *block, xor bool, next *nextRef)
TEXT ·compressAVX2(SB), NOSPLIT, $0-48
	MOVQ    out+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    y+16(FP), DX
	MOVQ    z+24(FP), CX
	MOVBQZX xor+32(FP), R8
	MOVQ    next+40(FP), R9
	VMOVDQU rotr16<>(SB), Y14
	VMOVDQU rotr24<>(SB), Y15

	// Rows: z = P(x ^ y) row by row; a row is 16 consecutive words.
	XORQ BX, BX

rows:
	VMOVDQU 0(SI)(BX*1), Y0
	VMOVDQU 32(SI)(BX*1), Y1
	VMOVDQU 64(SI)(BX*1), Y2
	VMOVDQU 96(SI)(BX*1), Y3
	VPXOR   0(DX)(BX*1), Y0, Y0
	VPXOR   32(DX)(BX*1), Y1, Y1
	VPXOR   64(DX)(BX*1), Y2, Y2
	VPXOR   96(DX)(BX*1), Y3, Y3
	ROUND(Y0, Y1, Y2, Y3, Y4)
	VMOVDQU Y0, 0(CX)(BX*1)
	VMOVDQU Y1, 32(CX)(BX*1)
	VMOVDQU Y2, 64(CX)(BX*1)
	VMOVDQU Y3, 96(CX)(BX*1)
	ADDQ    $128, BX
	CMPQ    BX, $1024
	JB      rows

	// Columns: column c is words 2c, 2c+1, 2c+16, 2c+17, ..., 2c+113, that
	// is 16 bytes every 128 from byte 16c. Each column's result, XORed with
	// x ^ y (and out) at its own words, goes straight to out: columns touch
	// disjoint words, so out may alias x or y.
	XORQ BX, BX

cols:
	LOAD2(CX, 0, 128, X0, Y0)
	LOAD2(CX, 256, 384, X1, Y1)
	LOAD2(CX, 512, 640, X2, Y2)
	LOAD2(CX, 768, 896, X3, Y3)
	ROUND(Y0, Y1, Y2, Y3, Y4)
	XORXY(0, 128, Y0)
	XORXY(256, 384, Y1)
	XORXY(512, 640, Y2)
	XORXY(768, 896, Y3)

	TESTQ R8, R8
	JZ    store
	XOROUT(0, 128, Y0)
	XOROUT(256, 384, Y1)
	XOROUT(512, 640, Y2)
	XOROUT(768, 896, Y3)

store:
	STORE2(0, 128, X0, Y0)
	STORE2(256, 384, X1, Y1)
	STORE2(512, 640, X2, Y2)
	STORE2(768, 896, X3, Y3)
	TESTQ BX, BX
	JNZ   nextcol
	TESTQ R9, R9
	JNZ   prefetch

nextcol:
	ADDQ $16, BX
	CMPQ BX, $128
	JB   cols

	VZEROUPPER
	RET

	// Column 0 holds out's first word, now final: prefetch the block
	// refPos(out[0], area, start, q) of the lane (nextRef) and
	// the block after out, then go on with the other seven columns.
prefetch:
	MOVL  0(DI), AX      // j1
	IMULQ AX, AX
	SHRQ  $32, AX        // x = j1*j1 >> 32
	MOVQ  8(R9), R10     // area
	MOVQ  R10, R11
	IMULQ R10, AX
	SHRQ  $32, AX        // y = area*x >> 32
	SUBQ  AX, R11
	DECQ  R11
	ADDQ  16(R9), R11    // start + area - 1 - y, below 2q
	CMPQ  R11, 24(R9)
	JB    inlane
	SUBQ  24(R9), R11

inlane:
	MOVQ       R11, 32(R9)
	SHLQ       $10, R11
	ADDQ       0(R9), R11
	PREFETCHT0 0(R11)
	PREFETCHT0 64(R11)
	PREFETCHT0 128(R11)
	PREFETCHT0 192(R11)
	PREFETCHT0 256(R11)
	PREFETCHT0 320(R11)
	PREFETCHT0 384(R11)
	PREFETCHT0 448(R11)
	PREFETCHT0 512(R11)
	PREFETCHT0 576(R11)
	PREFETCHT0 640(R11)
	PREFETCHT0 704(R11)
	PREFETCHT0 768(R11)
	PREFETCHT0 832(R11)
	PREFETCHT0 896(R11)
	PREFETCHT0 960(R11)
	PREFETCHT0 1024(DI)
	PREFETCHT0 1088(DI)
	PREFETCHT0 1152(DI)
	PREFETCHT0 1216(DI)
	PREFETCHT0 1280(DI)
	PREFETCHT0 1344(DI)
	PREFETCHT0 1408(DI)
	PREFETCHT0 1472(DI)
	PREFETCHT0 1536(DI)
	PREFETCHT0 1600(DI)
	PREFETCHT0 1664(DI)
	PREFETCHT0 1728(DI)
	PREFETCHT0 1792(DI)
	PREFETCHT0 1856(DI)
	PREFETCHT0 1920(DI)
	PREFETCHT0 1984(DI)
	JMP        nextcol
