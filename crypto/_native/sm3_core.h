/* SM3 (GB/T 32905-2016), portable C: constants, the compression function, padding.
 *
 * Clause numbers refer to GB/T 32905-2016:
 *   4.1 initial value IV, 4.2 constants T_j, 4.3 boolean functions FF_j / GG_j,
 *   4.4 permutations P0 / P1, 5.2 padding, 5.3.2 message expansion, 5.3.3 compression.
 *
 * The compression function keeps the eight state words in local variables and renames them
 * from round to round instead of shifting them (the round macro writes its two results into
 * the registers that the next round reads as A and E), so a round costs only its arithmetic.
 * No table lookups or branches depend on the data: the code runs in constant time.
 */
#ifndef TULOU_SM3_CORE_H
#define TULOU_SM3_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SM3_BLOCK 64
#define SM3_DIGEST 32

/* Rotation by a compile-time or run-time count in 0..31 (count 0 is the identity). */
#define SM3_ROL(x, n) ((uint32_t)(((x) << ((n) & 31)) | ((x) >> ((32 - ((n) & 31)) & 31))))

/* T_j <<< (j mod 32), clause 5.3.3: 79cc4519 for rounds 0..15, 7a879d8a for 16..63. */
#define SM3_K(j) ((j) < 16 ? SM3_ROL(0x79cc4519u, (j)) : SM3_ROL(0x7a879d8au, (j) % 32))

#define SM3_P0(x) ((x) ^ SM3_ROL((x), 9) ^ SM3_ROL((x), 17))
#define SM3_P1(x) ((x) ^ SM3_ROL((x), 15) ^ SM3_ROL((x), 23))

static const uint32_t sm3_iv[8] = {
    0x7380166fu, 0x4914b2b9u, 0x172442d7u, 0xda8a0600u,
    0xa96f30bcu, 0x163138aau, 0xe38dee4du, 0xb0fb0e4eu,
};

static inline uint32_t sm3_load_be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void sm3_store_be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One round j; FF/GG are the round's boolean functions (clause 4.3). After the round the
 * caller's registers hold the next state as (D, A, B, C, H, E, F, G).
 * The sums are grouped so that the terms known early (A <<< 12 plus the constant, H + W_j,
 * D + W'_j) are added first: E and SS1 arrive last and sit on the round's critical path. */
#define SM3_FF0(x, y, z) ((x) ^ (y) ^ (z))
#define SM3_GG0(x, y, z) ((x) ^ (y) ^ (z))
#define SM3_FF1(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))
#define SM3_GG1(x, y, z) ((((y) ^ (z)) & (x)) ^ (z))
#define SM3_ROUND(FF, GG, A, B, C, D, E, F, G, H, j)                                  \
    do {                                                                            \
        uint32_t a12 = SM3_ROL(A, 12);                                              \
        uint32_t ak = a12 + SM3_K(j);                                               \
        uint32_t hw = H + w[(j)];                                                   \
        uint32_t dw = D + SM3_WP(j);                                                \
        uint32_t ss1 = SM3_ROL(ak + E, 7);                                          \
        uint32_t tt2 = (GG(E, F, G) + hw) + ss1;                                    \
        uint32_t tt1 = (FF(A, B, C) + dw) + (ss1 ^ a12);                            \
        B = SM3_ROL(B, 9);                                                          \
        F = SM3_ROL(F, 19);                                                         \
        D = tt1;                                                                    \
        H = SM3_P0(tt2);                                                            \
    } while (0)

/* W_j for j >= 16 (clause 5.3.2). */
#define SM3_EXPAND(j)                                                                  \
    (w[(j)] = SM3_P1(w[(j) - 16] ^ w[(j) - 9] ^ SM3_ROL(w[(j) - 3], 15)) ^              \
              SM3_ROL(w[(j) - 13], 7) ^ w[(j) - 6])

#define SM3_R4(FF, GG, j)                                                              \
    do {                                                                               \
        SM3_ROUND(FF, GG, a, b, c, d, e, f, g, h, (j));                                \
        SM3_ROUND(FF, GG, d, a, b, c, h, e, f, g, (j) + 1);                            \
        SM3_ROUND(FF, GG, c, d, a, b, g, h, e, f, (j) + 2);                            \
        SM3_ROUND(FF, GG, b, c, d, a, f, g, h, e, (j) + 3);                            \
    } while (0)

/* The same four rounds, first expanding the four message words they need (j+4 .. j+7). */
#define SM3_R4X(FF, GG, j)                                                             \
    do {                                                                               \
        SM3_EXPAND((j) + 4);                                                           \
        SM3_EXPAND((j) + 5);                                                           \
        SM3_EXPAND((j) + 6);                                                           \
        SM3_EXPAND((j) + 7);                                                           \
        SM3_R4(FF, GG, (j));                                                           \
    } while (0)

/* The 64 rounds of clause 5.3.3 on the state (a..h), reading W_j from w[] and W'_j through
 * SM3_WP(j), which the including function defines (computed on the fly, or precomputed). */
#define SM3_ROUNDS(R4A, R4B)                                                           \
    do {                                                                               \
        SM3_R4(SM3_FF0, SM3_GG0, 0);                                                   \
        SM3_R4(SM3_FF0, SM3_GG0, 4);                                                   \
        SM3_R4(SM3_FF0, SM3_GG0, 8);                                                   \
        R4A(SM3_FF0, SM3_GG0, 12);                                                     \
        R4B(SM3_FF1, SM3_GG1, 16);                                                     \
        R4B(SM3_FF1, SM3_GG1, 20);                                                     \
        R4B(SM3_FF1, SM3_GG1, 24);                                                     \
        R4B(SM3_FF1, SM3_GG1, 28);                                                     \
        R4B(SM3_FF1, SM3_GG1, 32);                                                     \
        R4B(SM3_FF1, SM3_GG1, 36);                                                     \
        R4B(SM3_FF1, SM3_GG1, 40);                                                     \
        R4B(SM3_FF1, SM3_GG1, 44);                                                     \
        R4B(SM3_FF1, SM3_GG1, 48);                                                     \
        R4B(SM3_FF1, SM3_GG1, 52);                                                     \
        R4B(SM3_FF1, SM3_GG1, 56);                                                     \
        R4B(SM3_FF1, SM3_GG1, 60);                                                     \
    } while (0)

typedef void (*sm3_compress_fn)(uint32_t v[8], const uint8_t *p, size_t nblocks);

/* Compress `nblocks` consecutive 64-byte blocks at `p` into the state `v` (clause 5.3),
 * expanding the message words as the rounds need them: the body of the portable function and
 * of its BMI2 build (sm3_avx2.h). */
#define SM3_COMPRESS_BODY(v, p, nblocks)                                                      \
    do {                                                                                      \
        uint32_t w[68];                                                                       \
        while ((nblocks)--) {                                                                 \
            uint32_t a = (v)[0], b = (v)[1], c = (v)[2], d = (v)[3];                          \
            uint32_t e = (v)[4], f = (v)[5], g = (v)[6], h = (v)[7];                          \
            for (int i = 0; i < 16; i++) {                                                    \
                w[i] = sm3_load_be((p) + 4 * i);                                              \
            }                                                                                 \
            SM3_ROUNDS(SM3_R4X, SM3_R4X);                                                     \
            (v)[0] ^= a;                                                                      \
            (v)[1] ^= b;                                                                      \
            (v)[2] ^= c;                                                                      \
            (v)[3] ^= d;                                                                      \
            (v)[4] ^= e;                                                                      \
            (v)[5] ^= f;                                                                      \
            (v)[6] ^= g;                                                                      \
            (v)[7] ^= h;                                                                      \
            (p) += SM3_BLOCK;                                                                 \
        }                                                                                     \
    } while (0)

#define SM3_WP(j) (w[(j)] ^ w[(j) + 4])
static void sm3_compress_portable(uint32_t v[8], const uint8_t *p, size_t nblocks) {
    SM3_COMPRESS_BODY(v, p, nblocks);
}
#undef SM3_WP

/* The block function in use: the portable one, or a vector one chosen at import. */
static sm3_compress_fn sm3_compress = sm3_compress_portable;

/* The padding of clause 5.2 for a message whose last `rest` (< 64) bytes are at `tail` and
 * whose total length, counting `prefix` bytes hashed before it, is `total` bytes: writes one
 * or two blocks into `out` (128 bytes) and returns how many. */
static int sm3_pad(uint8_t out[128], const uint8_t *tail, size_t rest, uint64_t total) {
    int blocks = rest < 56 ? 1 : 2;
    size_t end = (size_t)blocks * SM3_BLOCK;
    uint64_t bits = total << 3;
    memset(out, 0, end);
    if (rest) {
        memcpy(out, tail, rest);
    }
    out[rest] = 0x80;
    for (int i = 0; i < 8; i++) {
        out[end - 1 - i] = (uint8_t)(bits >> (8 * i));
    }
    return blocks;
}

static void sm3_output(uint8_t out[SM3_DIGEST], const uint32_t v[8]) {
    for (int i = 0; i < 8; i++) {
        sm3_store_be(out + 4 * i, v[i]);
    }
}

/* The digest of `len` bytes at `p`, continuing from state `start` after `prefix` bytes. */
static void sm3_finish_from(uint8_t out[SM3_DIGEST], const uint32_t start[8], uint64_t prefix,
                            const uint8_t *p, size_t len) {
    uint32_t v[8];
    uint8_t pad[128];
    memcpy(v, start, sizeof v);
    size_t full = len / SM3_BLOCK;
    sm3_compress(v, p, full);
    int n = sm3_pad(pad, p + full * SM3_BLOCK, len % SM3_BLOCK, prefix + len);
    sm3_compress(v, pad, (size_t)n);
    sm3_output(out, v);
}

#endif
