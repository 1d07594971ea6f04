/* SM3 multi-buffer compression with AVX-512: sixteen independent messages, one per 32-bit lane.
 *
 * State layout: eight vectors, vector k holding state word k of all sixteen lanes. Each step
 * loads the current 64-byte block of every lane (16 rows of 16 words), byte-swaps the rows to
 * big-endian words and transposes the 16x16 matrix so that vector j holds message word W_j of
 * every lane; the 64 rounds then run exactly as the scalar code, one instruction for sixteen
 * lanes. Rotations are VPROLD, the three-input boolean functions and P0/P1 are VPTERNLOGD.
 * Everything is data-independent (no lookups, no branches on data): constant time.
 *
 * The caller (the scheduler in sm3x.c) hands in one block pointer and one stride per lane and
 * a block count; idle lanes point at a zero block with stride 0 and their result is ignored.
 */
#ifndef TULOU_SM3_MB_H
#define TULOU_SM3_MB_H

#include "sm3_core.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define SM3_HAVE_MB 1
#include <immintrin.h>

#define SM3_MB_TARGET __attribute__((target("avx512f,avx512bw")))
#define SM3_LANES 16

/* Transpose the 16x16 matrix of 32-bit words in r[0..15] in place (row i = lane i). */
SM3_MB_TARGET static inline void sm3_mb_transpose(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    /* u[4m + c], 128-bit lane l: word 4l + c of rows 4m .. 4m + 3. */
    for (int m = 0; m < 4; m++) {
        u[4 * m + 0] = _mm512_unpacklo_epi64(t[4 * m], t[4 * m + 2]);
        u[4 * m + 1] = _mm512_unpackhi_epi64(t[4 * m], t[4 * m + 2]);
        u[4 * m + 2] = _mm512_unpacklo_epi64(t[4 * m + 1], t[4 * m + 3]);
        u[4 * m + 3] = _mm512_unpackhi_epi64(t[4 * m + 1], t[4 * m + 3]);
    }
    /* For each c, a 4x4 transpose of 128-bit lanes across u[c], u[4 + c], u[8 + c], u[12 + c]. */
    for (int c = 0; c < 4; c++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
        __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
        __m512i v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
        r[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
        r[4 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
    }
}

/* The kernels below are written once over these primitives (MB_V is the vector type), which
 * are defined for 512-bit registers here and redefined for 256-bit ones before the 8-lane
 * kernel. FF_j / GG_j for j >= 16 are majority (0xE8) and x ? y : z (0xCA). */
#define MB_V __m512i
#define MB_ROL(x, n) _mm512_rol_epi32((x), (n))
#define MB_TERN(x, y, z, imm) _mm512_ternarylogic_epi32((x), (y), (z), (imm))
#define MB_ADD(x, y) _mm512_add_epi32((x), (y))
#define MB_XOR(x, y) _mm512_xor_si512((x), (y))
#define MB_SET1(k) _mm512_set1_epi32((int)(k))
#define MB_XOR3(x, y, z) MB_TERN(x, y, z, 0x96)
#define MB_FF1(x, y, z) MB_TERN(x, y, z, 0xe8)
#define MB_GG1(x, y, z) MB_TERN(x, y, z, 0xca)

#define MB_ROUND(FF, GG, A, B, C, D, E, F, G, H, j)                                    \
    do {                                                                               \
        MB_V a12 = MB_ROL(A, 12);                                                      \
        MB_V ss1 = MB_ROL(MB_ADD(MB_ADD(a12, E), MB_SET1(SM3_K(j))), 7);               \
        MB_V ss2 = MB_XOR(ss1, a12);                                                   \
        MB_V tt1 = MB_ADD(MB_ADD(FF(A, B, C), D), MB_ADD(ss2, MB_XOR(w[(j)], w[(j) + 4]))); \
        MB_V tt2 = MB_ADD(MB_ADD(GG(E, F, G), H), MB_ADD(ss1, w[(j)]));                \
        B = MB_ROL(B, 9);                                                              \
        F = MB_ROL(F, 19);                                                             \
        D = tt1;                                                                       \
        H = MB_XOR3(tt2, MB_ROL(tt2, 9), MB_ROL(tt2, 17));                             \
    } while (0)

#define MB_EXPAND(j)                                                                   \
    do {                                                                               \
        MB_V x_ = MB_XOR3(w[(j) - 16], w[(j) - 9], MB_ROL(w[(j) - 3], 15));         \
        x_ = MB_XOR3(x_, MB_ROL(x_, 15), MB_ROL(x_, 23));                              \
        w[(j)] = MB_XOR3(x_, MB_ROL(w[(j) - 13], 7), w[(j) - 6]);                      \
    } while (0)

#define MB_R4(FF, GG, j)                                                               \
    do {                                                                               \
        MB_ROUND(FF, GG, a, b, c, d, e, f, g, h, (j));                                 \
        MB_ROUND(FF, GG, d, a, b, c, h, e, f, g, (j) + 1);                             \
        MB_ROUND(FF, GG, c, d, a, b, g, h, e, f, (j) + 2);                             \
        MB_ROUND(FF, GG, b, c, d, a, f, g, h, e, (j) + 3);                             \
    } while (0)

#define MB_R4X(FF, GG, j)                                                              \
    do {                                                                               \
        MB_EXPAND((j) + 4);                                                            \
        MB_EXPAND((j) + 5);                                                            \
        MB_EXPAND((j) + 6);                                                            \
        MB_EXPAND((j) + 7);                                                            \
        MB_R4(FF, GG, (j));                                                            \
    } while (0)

/* The 64 rounds on the state vectors v[0..7] with the message words w[0..15] of every lane
 * (expanded in place to w[67]), then the feed-forward V ^= ABCDEFGH (clause 5.3.3). */
#define MB_BLOCK(v, w)                                                                 \
    do {                                                                               \
        MB_V a = v[0], b = v[1], c = v[2], d = v[3];                                   \
        MB_V e = v[4], f = v[5], g = v[6], h = v[7];                                   \
        MB_R4(MB_XOR3, MB_XOR3, 0);                                                    \
        MB_R4(MB_XOR3, MB_XOR3, 4);                                                    \
        MB_R4(MB_XOR3, MB_XOR3, 8);                                                    \
        MB_R4X(MB_XOR3, MB_XOR3, 12);                                                  \
        MB_R4X(MB_FF1, MB_GG1, 16);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 20);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 24);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 28);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 32);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 36);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 40);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 44);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 48);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 52);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 56);                                                    \
        MB_R4X(MB_FF1, MB_GG1, 60);                                                    \
        v[0] = MB_XOR(v[0], a);                                                        \
        v[1] = MB_XOR(v[1], b);                                                        \
        v[2] = MB_XOR(v[2], c);                                                        \
        v[3] = MB_XOR(v[3], d);                                                        \
        v[4] = MB_XOR(v[4], e);                                                        \
        v[5] = MB_XOR(v[5], f);                                                        \
        v[6] = MB_XOR(v[6], g);                                                        \
        v[7] = MB_XOR(v[7], h);                                                        \
    } while (0)

/* Compress `nblocks` blocks per lane: lane i reads ptr[i], then ptr[i] + stride[i], ...
 * `st` is the transposed state (st[k * 16 + i] = word k of lane i), updated in place. */
SM3_MB_TARGET static void sm3_mb_compress(uint32_t st[8 * SM3_LANES],
                                          const uint8_t *ptr[SM3_LANES],
                                          const size_t stride[SM3_LANES], size_t nblocks) {
    const __m512i bswap = _mm512_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5,
        6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8,
        9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    const uint8_t *p[SM3_LANES];
    __m512i v[8];
    for (int i = 0; i < SM3_LANES; i++) {
        p[i] = ptr[i];
    }
    for (int k = 0; k < 8; k++) {
        v[k] = _mm512_loadu_si512((const void *)(st + k * SM3_LANES));
    }
    while (nblocks--) {
        __m512i w[68];
        for (int i = 0; i < SM3_LANES; i++) {
            w[i] = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)p[i]), bswap);
            p[i] += stride[i];
        }
        sm3_mb_transpose(w);
        MB_BLOCK(v, w);
    }
    for (int k = 0; k < 8; k++) {
        _mm512_storeu_si512((void *)(st + k * SM3_LANES), v[k]);
    }
}

/* The same with 256-bit registers for at most eight busy lanes (lanes 0..7 of the same state
 * layout): a 512-bit step costs the same however many lanes are busy, while 256-bit
 * instructions have more execution ports, so eight lanes or fewer run ~1.5x faster here. */
#undef MB_V
#undef MB_ROL
#undef MB_TERN
#undef MB_ADD
#undef MB_XOR
#undef MB_SET1
#define MB_V __m256i
#define MB_ROL(x, n) _mm256_rol_epi32((x), (n))
#define MB_TERN(x, y, z, imm) _mm256_ternarylogic_epi32((x), (y), (z), (imm))
#define MB_ADD(x, y) _mm256_add_epi32((x), (y))
#define MB_XOR(x, y) _mm256_xor_si256((x), (y))
#define MB_SET1(k) _mm256_set1_epi32((int)(k))

/* Transpose the 8x8 matrix of 32-bit words in r[0..7] in place (row i = lane i); AVX2 only, so
 * the AVX2 kernel (sm3_avx2.h) inlines it too. */
__attribute__((target("avx2"))) static inline void sm3_mb8_transpose(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm256_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    /* u[4m + c], 128-bit half h: word 4h + c of rows 4m .. 4m + 3. */
    for (int m = 0; m < 2; m++) {
        u[4 * m + 0] = _mm256_unpacklo_epi64(t[4 * m], t[4 * m + 2]);
        u[4 * m + 1] = _mm256_unpackhi_epi64(t[4 * m], t[4 * m + 2]);
        u[4 * m + 2] = _mm256_unpacklo_epi64(t[4 * m + 1], t[4 * m + 3]);
        u[4 * m + 3] = _mm256_unpackhi_epi64(t[4 * m + 1], t[4 * m + 3]);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
    }
}

#define MB8_NAME sm3_mb8_compress
#define MB8_TARGET __attribute__((target("avx512f,avx512vl,avx2")))
#include "sm3_mb8.h"
#undef MB8_NAME
#undef MB8_TARGET

/* Single stream, AVX-512VL message expansion: W_16..W_67 four at a time in one 128-bit
 * register, and W'_j = W_j ^ W_j+4 with them, before the (scalar) rounds of the block. Four at a
 * time needs W_j to compute W_j+3 (through its term W_j <<< 15); that lane is first computed
 * without it and then corrected with P1(W_j <<< 15), since P1 is linear (XOR of rotations). The
 * rounds are the portable code's, compiled with BMI2 (RORX rotations). */
#define SM3_X1_TARGET __attribute__((target("avx512f,avx512vl,bmi2")))
#define X1_ROL(x, n) _mm_rol_epi32((x), (n))
#define X1_XOR3(x, y, z) _mm_ternarylogic_epi32((x), (y), (z), 0x96)

SM3_X1_TARGET static void sm3_compress_x1(uint32_t v[8], const uint8_t *p, size_t nblocks) {
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    uint32_t w[68] __attribute__((aligned(16)));
    uint32_t wp[64] __attribute__((aligned(16)));
    while (nblocks--) {
        __m128i x0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), bswap);
        __m128i x1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i x2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i x3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        _mm_store_si128((__m128i *)w, x0);
        _mm_store_si128((__m128i *)(w + 4), x1);
        _mm_store_si128((__m128i *)(w + 8), x2);
        _mm_store_si128((__m128i *)(w + 12), x3);
        _mm_store_si128((__m128i *)wp, _mm_xor_si128(x0, x1));
        _mm_store_si128((__m128i *)(wp + 4), _mm_xor_si128(x1, x2));
        _mm_store_si128((__m128i *)(wp + 8), _mm_xor_si128(x2, x3));
        for (int j = 16; j < 68; j += 4) {
            /* x0..x3 = W_j-16 .. W_j-1 */
            __m128i w9 = _mm_alignr_epi8(x2, x1, 12);  /* W_j-9 .. W_j-6 */
            __m128i w3 = _mm_srli_si128(x3, 4);        /* W_j-3 .. W_j-1, 0 */
            __m128i w13 = _mm_alignr_epi8(x1, x0, 12); /* W_j-13 .. W_j-10 */
            __m128i w6 = _mm_alignr_epi8(x3, x2, 8);   /* W_j-6 .. W_j-3 */
            __m128i t = X1_XOR3(x0, w9, X1_ROL(w3, 15));
            t = X1_XOR3(t, X1_ROL(t, 15), X1_ROL(t, 23));
            __m128i r = X1_XOR3(t, X1_ROL(w13, 7), w6);
            __m128i c = _mm_slli_si128(X1_ROL(r, 15), 12); /* 0, 0, 0, W_j <<< 15 */
            r = X1_XOR3(r, c, X1_XOR3(X1_ROL(c, 15), X1_ROL(c, 23), _mm_setzero_si128()));
            _mm_store_si128((__m128i *)(w + j), r);
            _mm_store_si128((__m128i *)(wp + j - 4), _mm_xor_si128(x3, r));
            x0 = x1;
            x1 = x2;
            x2 = x3;
            x3 = r;
        }
        /* The rounds read the words back from memory (one fused load-add each): cheaper than
         * the compiler's choice of extracting them from vector registers. */
        __asm__ volatile("" ::: "memory");
        uint32_t a = v[0], b = v[1], c = v[2], d = v[3];
        uint32_t e = v[4], f = v[5], g = v[6], h = v[7];
#define SM3_WP(j) wp[(j)]
        SM3_ROUNDS(SM3_R4, SM3_R4);
#undef SM3_WP
        v[0] ^= a;
        v[1] ^= b;
        v[2] ^= c;
        v[3] ^= d;
        v[4] ^= e;
        v[5] ^= f;
        v[6] ^= g;
        v[7] ^= h;
        p += SM3_BLOCK;
    }
}

#else
#define SM3_HAVE_MB 0
#define SM3_LANES 16
#endif

#endif
