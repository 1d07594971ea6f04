/* GHASH (NIST SP 800-38D, clause 6.4) with PCLMULQDQ on xmm registers, and with VPCLMULQDQ on
 * ymm registers (two blocks per instruction), for the AES-NI kernels of sm4_aesni.h.
 *
 * Same representation, key table and reduction as ghash_clmul.h (which explains them): blocks
 * byte-reversed ("rev" form), keys rev(H^i * x^-1) so products need no shift, up to 16 blocks
 * multiplied by H^16..H^1 and summed before one reduction. Only the instructions differ: no
 * AVX-512 three-way XOR here. Carry-less multiplication and shifts: nothing depends on data.
 */
#ifndef TULOU_GHASH_PCLMUL_H
#define TULOU_GHASH_PCLMUL_H

#include "sm4_common.h"

#define GH_SSE_TARGET "pclmul,ssse3,sse4.1"
#define GH_SSE_FN static inline __attribute__((always_inline, target(GH_SSE_TARGET)))
#define GH_SSE_API static __attribute__((target(GH_SSE_TARGET)))
#define GH_VP_TARGET "avx2,vpclmulqdq,pclmul,avx,ssse3,sse4.1"
#define GH_VP_API static __attribute__((target(GH_VP_TARGET)))

/* A 128-bit right shift of a 128-bit value by n (1..63). */
#define GH_SSE_SHR128(e, n)                                                                   \
    _mm_xor_si128(_mm_srli_epi64(e, n), _mm_slli_epi64(_mm_srli_si128(e, 8), 64 - (n)))

/* Reduction of the 256-bit rev-form product [hi:lo] (ghash_clmul.h, gh_reduce). */
GH_SSE_FN __m128i gh_sse_reduce(__m128i hi, __m128i lo) {
    __m128i s = _mm_slli_si128(lo, 8);
    __m128i d = _mm_xor_si128(_mm_xor_si128(_mm_slli_epi64(s, 63), _mm_slli_epi64(s, 62)),
                              _mm_slli_epi64(s, 57));
    __m128i e = _mm_xor_si128(lo, d);
    __m128i r = _mm_xor_si128(_mm_xor_si128(hi, e), GH_SSE_SHR128(e, 1));
    return _mm_xor_si128(_mm_xor_si128(r, GH_SSE_SHR128(e, 2)), GH_SSE_SHR128(e, 7));
}

GH_SSE_FN __m128i gh_sse_mul(__m128i a, __m128i b) {
    __m128i lo = _mm_clmulepi64_si128(a, b, 0x00);
    __m128i hi = _mm_clmulepi64_si128(a, b, 0x11);
    __m128i mid = _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10));
    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
    return gh_sse_reduce(hi, lo);
}

GH_SSE_FN __m128i gh_sse_rev(void) {
    return _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
}

/* The table from H = E_K(0^128) (16 bytes, GCM byte order); see ghash_clmul.h, ghash_init. */
GH_SSE_API void ghash_init_sse(ghash_key *gk, const uint8_t h[16]) {
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 8; i++) {
        hi = (hi << 8) | h[i];
        lo = (lo << 8) | h[8 + i];
    }
    uint64_t m = 0 - (hi >> 63); /* mask, no branch on the key */
    uint64_t h1 = ((hi << 1) | (lo >> 63)) ^ (m & 0xc200000000000000ULL);
    uint64_t l1 = (lo << 1) ^ (m & 1);
    __m128i k1 = _mm_set_epi64x((long long)h1, (long long)l1);
    __m128i k = k1;
    gk->kt[15] = k1;
    for (int i = 2; i <= 16; i++) {
        k = gh_sse_mul(k, k1);
        gk->kt[16 - i] = k;
    }
    for (int i = 16; i < 32; i++) {
        gk->kt[i] = _mm_setzero_si128();
    }
}

/* Absorb n <= 16 blocks at p (whole blocks) into y with one reduction. */
GH_SSE_FN __m128i gh_sse_blocks(const ghash_key *gk, __m128i y, const uint8_t *p, size_t n) {
    const __m128i rev = gh_sse_rev();
    const __m128i *keys = gk->kt + (16 - n);
    __m128i lo = _mm_setzero_si128(), hi = lo, mid = lo;
    for (size_t j = 0; j < n; j++) {
        __m128i d = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * j)), rev);
        if (j == 0) {
            d = _mm_xor_si128(d, y);
        }
        __m128i key = _mm_loadu_si128(keys + j);
        lo = _mm_xor_si128(lo, _mm_clmulepi64_si128(d, key, 0x00));
        hi = _mm_xor_si128(hi, _mm_clmulepi64_si128(d, key, 0x11));
        mid = _mm_xor_si128(mid, _mm_xor_si128(_mm_clmulepi64_si128(d, key, 0x01),
                                               _mm_clmulepi64_si128(d, key, 0x10)));
    }
    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
    return gh_sse_reduce(hi, lo);
}

GH_SSE_API __m128i ghash_update_sse(const ghash_key *gk, __m128i y, const uint8_t *p,
                                    size_t nbytes) {
    while (nbytes >= 256) {
        y = gh_sse_blocks(gk, y, p, 16);
        p += 256, nbytes -= 256;
    }
    if (nbytes > 0) { /* the last up to 16 blocks, the final one zero-padded in a copy */
        uint8_t buf[256] = {0};
        memcpy(buf, p, nbytes);
        y = gh_sse_blocks(gk, y, buf, (nbytes + 15) / 16);
        wipe(buf, sizeof buf);
    }
    return y;
}

GH_SSE_API void ghash_final_sse(const ghash_key *gk, __m128i y, uint64_t aad_len,
                                uint64_t ct_len, uint8_t out[16]) {
    __m128i len = _mm_set_epi64x((long long)(aad_len * 8), (long long)(ct_len * 8));
    y = gh_sse_mul(_mm_xor_si128(y, len), gk->kt[15]);
    _mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(y, gh_sse_rev()));
}

/* Absorb n <= 16 blocks (n even, or the odd last one followed by a zero key) with VPCLMULQDQ:
 * ymm register k holds blocks 2k, 2k+1 and their keys kt[16 - n + 2k ..]. */
static inline __attribute__((always_inline, target(GH_VP_TARGET))) __m128i
gh_vp_blocks(const ghash_key *gk, __m128i y, const uint8_t *p, size_t n) {
    const __m256i rev = _mm256_broadcastsi128_si256(gh_sse_rev());
    const __m128i *keys = gk->kt + (16 - n);
    __m256i lo = _mm256_setzero_si256(), hi = lo, mid = lo;
    for (size_t j = 0; j < n; j += 2) {
        __m256i d = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(p + 16 * j)), rev);
        if (j == 0) {
            d = _mm256_xor_si256(d, _mm256_zextsi128_si256(y));
        }
        __m256i key = _mm256_loadu_si256((const __m256i *)(keys + j));
        lo = _mm256_xor_si256(lo, _mm256_clmulepi64_epi128(d, key, 0x00));
        hi = _mm256_xor_si256(hi, _mm256_clmulepi64_epi128(d, key, 0x11));
        mid = _mm256_xor_si256(mid, _mm256_xor_si256(_mm256_clmulepi64_epi128(d, key, 0x01),
                                                     _mm256_clmulepi64_epi128(d, key, 0x10)));
    }
    lo = _mm256_xor_si256(lo, _mm256_bslli_epi128(mid, 8));
    hi = _mm256_xor_si256(hi, _mm256_bsrli_epi128(mid, 8));
    __m128i lo1 = _mm_xor_si128(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
    __m128i hi1 = _mm_xor_si128(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
    return gh_sse_reduce(hi1, lo1);
}

GH_VP_API __m128i ghash_update_vpclmul(const ghash_key *gk, __m128i y, const uint8_t *p,
                                       size_t nbytes) {
    while (nbytes >= 256) {
        y = gh_vp_blocks(gk, y, p, 16);
        p += 256, nbytes -= 256;
    }
    if (nbytes > 0) {
        /* A zero block after an odd count meets key kt[16] = 0: the sum is unchanged. */
        uint8_t buf[256 + 16] = {0};
        memcpy(buf, p, nbytes);
        y = gh_vp_blocks(gk, y, buf, (nbytes + 15) / 16);
        wipe(buf, sizeof buf);
    }
    return y;
}

#endif
