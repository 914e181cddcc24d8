//go:build amd64 && !purego

#include "textflag.h"

// argon2 compression G with AVX2 (see argon2G in argon2id.go for the
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

// func argon2GAVX2(out, x, y, z *argon2Block, xor bool)
TEXT ·argon2GAVX2(SB), NOSPLIT, $0-33
	MOVQ    out+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    y+16(FP), DX
	MOVQ    z+24(FP), CX
	MOVBQZX xor+32(FP), R8
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
	VMOVDQU     0(CX)(BX*1), X0
	VINSERTI128 $1, 128(CX)(BX*1), Y0, Y0
	VMOVDQU     256(CX)(BX*1), X1
	VINSERTI128 $1, 384(CX)(BX*1), Y1, Y1
	VMOVDQU     512(CX)(BX*1), X2
	VINSERTI128 $1, 640(CX)(BX*1), Y2, Y2
	VMOVDQU     768(CX)(BX*1), X3
	VINSERTI128 $1, 896(CX)(BX*1), Y3, Y3
	ROUND(Y0, Y1, Y2, Y3, Y4)

	VMOVDQU     0(SI)(BX*1), X4
	VINSERTI128 $1, 128(SI)(BX*1), Y4, Y4
	VMOVDQU     0(DX)(BX*1), X5
	VINSERTI128 $1, 128(DX)(BX*1), Y5, Y5
	VPXOR       Y4, Y0, Y0
	VPXOR       Y5, Y0, Y0
	VMOVDQU     256(SI)(BX*1), X4
	VINSERTI128 $1, 384(SI)(BX*1), Y4, Y4
	VMOVDQU     256(DX)(BX*1), X5
	VINSERTI128 $1, 384(DX)(BX*1), Y5, Y5
	VPXOR       Y4, Y1, Y1
	VPXOR       Y5, Y1, Y1
	VMOVDQU     512(SI)(BX*1), X4
	VINSERTI128 $1, 640(SI)(BX*1), Y4, Y4
	VMOVDQU     512(DX)(BX*1), X5
	VINSERTI128 $1, 640(DX)(BX*1), Y5, Y5
	VPXOR       Y4, Y2, Y2
	VPXOR       Y5, Y2, Y2
	VMOVDQU     768(SI)(BX*1), X4
	VINSERTI128 $1, 896(SI)(BX*1), Y4, Y4
	VMOVDQU     768(DX)(BX*1), X5
	VINSERTI128 $1, 896(DX)(BX*1), Y5, Y5
	VPXOR       Y4, Y3, Y3
	VPXOR       Y5, Y3, Y3

	TESTQ R8, R8
	JZ    store
	VMOVDQU     0(DI)(BX*1), X4
	VINSERTI128 $1, 128(DI)(BX*1), Y4, Y4
	VPXOR       Y4, Y0, Y0
	VMOVDQU     256(DI)(BX*1), X4
	VINSERTI128 $1, 384(DI)(BX*1), Y4, Y4
	VPXOR       Y4, Y1, Y1
	VMOVDQU     512(DI)(BX*1), X4
	VINSERTI128 $1, 640(DI)(BX*1), Y4, Y4
	VPXOR       Y4, Y2, Y2
	VMOVDQU     768(DI)(BX*1), X4
	VINSERTI128 $1, 896(DI)(BX*1), Y4, Y4
	VPXOR       Y4, Y3, Y3

store:
	VMOVDQU      X0, 0(DI)(BX*1)
	VEXTRACTI128 $1, Y0, 128(DI)(BX*1)
	VMOVDQU      X1, 256(DI)(BX*1)
	VEXTRACTI128 $1, Y1, 384(DI)(BX*1)
	VMOVDQU      X2, 512(DI)(BX*1)
	VEXTRACTI128 $1, Y2, 640(DI)(BX*1)
	VMOVDQU      X3, 768(DI)(BX*1)
	VEXTRACTI128 $1, Y3, 896(DI)(BX*1)
	ADDQ         $16, BX
	CMPQ         BX, $128
	JB           cols

	VZEROUPPER
	RET
