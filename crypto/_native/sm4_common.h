/* What every SM4 kernel shares: the key schedule's constants, the CTR and GHASH state types and
 * the kernel table that sm4x.c chooses from once per process; included by the kernel headers.
 *
 * A kernel is a set of functions with one CPU-feature `target` attribute (sm4_avx512.h,
 * sm4_aesni.h); the GCM driver (sm4_gcm.h) is plain C and calls them through the table.
 */
#ifndef TULOU_SM4_COMMON_H
#define TULOU_SM4_COMMON_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void wipe(void *p, size_t n) {
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) {
        *v++ = 0;
    }
}

static const uint32_t SM4_FK[4] = {0xa3b1bac6u, 0x56aa3350u, 0x677d9197u, 0xb27022dcu};

static inline uint32_t sm4_load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint32_t sm4_rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/* CK[i] (clause 7.3.2): byte j is (4i + j) * 7 mod 256. */
static inline uint32_t sm4_ck(int i) {
    uint32_t ck = 0;
    for (int j = 0; j < 4; j++) {
        ck = (ck << 8) | (uint32_t)(((4 * i + j) * 7) & 0xff);
    }
    return ck;
}

/* Key expansion (clause 7.3): rk[i] = K[i+4] = K[i] ^ T'(K[i+1] ^ K[i+2] ^ K[i+3] ^ CK[i]),
 * T'(x) = L'(tau(x)), L'(b) = b ^ (b <<< 13) ^ (b <<< 23). TAU is the kernel's S-box on the
 * four bytes of a word (no tables). */
#define SM4_EXPAND_KEY(TAU, key, rk)                                                          \
    do {                                                                                      \
        uint32_t k_[4];                                                                       \
        for (int i_ = 0; i_ < 4; i_++) {                                                      \
            k_[i_] = sm4_load_be32((key) + 4 * i_) ^ SM4_FK[i_];                              \
        }                                                                                     \
        for (int i_ = 0; i_ < 32; i_++) {                                                     \
            uint32_t x_ = k_[(i_ + 1) & 3] ^ k_[(i_ + 2) & 3] ^ k_[(i_ + 3) & 3] ^ sm4_ck(i_);  \
            uint32_t b_ = TAU(x_);                                                            \
            k_[i_ & 3] ^= b_ ^ sm4_rol(b_, 13) ^ sm4_rol(b_, 23);                             \
            (rk)[i_] = k_[i_ & 3];                                                            \
        }                                                                                     \
        wipe(k_, sizeof k_);                                                                  \
    } while (0)

/* CTR state in the word-sliced layout: the nonce words and the 32-bit counter of block 0. */
typedef struct {
    uint32_t n0, n1, n2; /* the first 12 bytes of the counter block, big-endian words */
    uint32_t ctr;        /* the last 4 bytes; incremented modulo 2^32 (GCM's inc32) */
} sm4_ctr_state;

/* The GHASH key table, one layout for every kernel (ghash_clmul.h explains the form):
 * kt[m] = rev(H^(16-m) * x^-1) for m < 16; kt[16..31] = 0, so a run of n < 16 blocks takes its
 * keys from kt[16 - n] on and any block past the data meets a zero key. */
typedef struct {
    __m128i kt[32];
} ghash_key;

/* One SM4-GCM kernel: every function needs the CPU features the kernel is chosen for. */
typedef struct {
    const char *name;
    void (*expand_key)(const uint8_t key[16], uint32_t rk[32]);
    /* SM4 on every 16-byte block of nbytes (a multiple of 16); reversed round keys decrypt. */
    void (*ecb)(const uint32_t *rk, const uint8_t *in, uint8_t *out, size_t nbytes);
    /* out = in XOR keystream for nbytes (any length); advances st->ctr by the blocks used. */
    void (*ctr_xor)(const uint32_t *rk, sm4_ctr_state *st, const uint8_t *in, uint8_t *out,
                    size_t nbytes);
    void (*ghash_init)(ghash_key *gk, const uint8_t h[16]);
    /* Absorb nbytes; only the last block of the input may be partial (zero-padded). */
    __m128i (*ghash_update)(const ghash_key *gk, __m128i y, const uint8_t *p, size_t nbytes);
    /* The length block, then the GHASH value in GCM byte order. */
    void (*ghash_final)(const ghash_key *gk, __m128i y, uint64_t aad_len, uint64_t ct_len,
                        uint8_t out[16]);
} sm4_kernel;

#endif
