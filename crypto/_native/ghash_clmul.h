/* GHASH (NIST SP 800-38D, clause 6.4) with (V)PCLMULQDQ; included by sm4x.c after sm4_avx512.h.
 *
 * Representation. GCM numbers the bits of a block from the most significant bit of byte 0
 * (coefficient of x^0) to the least significant bit of byte 15 (x^127). Read as one big-endian
 * 128-bit integer ("rev" form), coefficient x^i sits at bit 127 - i. For rev(a), rev(b) the
 * carry-less product has (ab)_k at bit 254 - k, i.e. it is rev256(a * b * x). So the tables hold
 * rev(H^i * x^-1): multiplying by them yields rev256 of a polynomial congruent to a * H^i, with
 * no per-product shift. x^-1 = x^127 + x^6 + x + 1 mod P (P = x^128 + x^7 + x^2 + x + 1).
 *
 * Reduction of a 256-bit rev-form value [hi:lo] (hi = x^0..x^127, lo = x^128..x^255): since
 * x^(128+j) = x^j (1 + x + x^2 + x^7), folding lo adds lo ^ lo>>1 ^ lo>>2 ^ lo>>7 to hi and
 * leaves D = (lo<<127 ^ lo<<126 ^ lo<<121) mod 2^128 (only lo's 7 lowest bits, moved to the
 * top) still to fold; folding D creates nothing below bit 128. With E = lo ^ D the result is
 * hi ^ E ^ E>>1 ^ E>>2 ^ E>>7 (128-bit shifts).
 *
 * Aggregation: 16 blocks are multiplied by H^16..H^1 and summed before one reduction
 * (Horner's rule regrouped); the running state is XORed into the first of them.
 */
#ifndef TULOU_GHASH_CLMUL_H
#define TULOU_GHASH_CLMUL_H

#include "sm4_avx512.h"

/* A 128-bit right shift of every 128-bit lane by n (1..63). */
#define GH_SHR128(e, n)                                                                       \
    _mm_xor_si128(_mm_srli_epi64(e, n), _mm_slli_epi64(_mm_srli_si128(e, 8), 64 - (n)))

SM4_FN __m128i gh_reduce(__m128i hi, __m128i lo) {
    __m128i s = _mm_slli_si128(lo, 8); /* [lo.q0 : 0] */
    __m128i d = _mm_ternarylogic_epi64(_mm_slli_epi64(s, 63), _mm_slli_epi64(s, 62),
                                       _mm_slli_epi64(s, 57), 0x96);
    __m128i e = _mm_xor_si128(lo, d);
    __m128i r = _mm_ternarylogic_epi64(hi, e, GH_SHR128(e, 1), 0x96);
    return _mm_ternarylogic_epi64(r, GH_SHR128(e, 2), GH_SHR128(e, 7), 0x96);
}

/* rev(a * b') for a table value b' = rev(b * x^-1): returns rev(a * b mod P). */
SM4_FN __m128i gh_mul(__m128i a, __m128i b) {
    __m128i lo = _mm_clmulepi64_si128(a, b, 0x00);
    __m128i hi = _mm_clmulepi64_si128(a, b, 0x11);
    __m128i mid = _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10));
    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
    return gh_reduce(hi, lo);
}

SM4_FN __m128i gh_bswap128(__m128i x) {
    return _mm_shuffle_epi8(x, _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
}

/* Build the table from H = E_K(0^128) (16 bytes, GCM byte order). */
SM4_API void ghash_init(ghash_key *gk, const uint8_t h[16]) {
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 8; i++) {
        hi = (hi << 8) | h[i];
        lo = (lo << 8) | h[8 + i];
    }
    /* H * x^-1 in rev form: shift toward x^-1 (left); if the x^0 coefficient (top bit) was set,
     * add x^-1 = x^127 + x^6 + x + 1, i.e. bits 0, 121, 126, 127. Masks, no branch. */
    uint64_t m = 0 - (hi >> 63);
    uint64_t h1 = ((hi << 1) | (lo >> 63)) ^ (m & 0xc200000000000000ULL);
    uint64_t l1 = (lo << 1) ^ (m & 1);
    __m128i k1 = _mm_set_epi64x((long long)h1, (long long)l1);
    __m128i k = k1;
    gk->kt[15] = k1;
    for (int i = 2; i <= 16; i++) {
        k = gh_mul(k, k1); /* rev(H^(i-1) x^-1) * rev(H x^-1) -> rev(H^i x^-1) */
        gk->kt[16 - i] = k;
    }
    for (int i = 16; i < 32; i++) {
        gk->kt[i] = _mm_setzero_si128();
    }
}

/* Absorb up to 256 bytes (16 blocks; a last partial block is zero-padded) into y. */
SM4_API __m128i ghash_256(const ghash_key *gk, __m128i y, const uint8_t *p, size_t nbytes) {
    const __m512i rev = _mm512_broadcast_i32x4(
        _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    size_t nblocks = (nbytes + 15) / 16;
    const __m128i *keys = gk->kt + (16 - nblocks);
    __m512i lo = _mm512_setzero_si512(), hi = lo, mid = lo;
    for (int k = 0; k < 4; k++) {
        size_t off = 64 * (size_t)k;
        if (nbytes <= off) {
            break;
        }
        __m512i d = _mm512_shuffle_epi8(_mm512_maskz_loadu_epi8(sm4_mask64(nbytes - off), p + off),
                                        rev);
        if (k == 0) {
            d = _mm512_xor_si512(d, _mm512_zextsi128_si512(y));
        }
        __m512i key = _mm512_loadu_si512((const void *)(keys + 4 * k));
        lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128(d, key, 0x00));
        hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128(d, key, 0x11));
        mid = _mm512_ternarylogic_epi64(mid, _mm512_clmulepi64_epi128(d, key, 0x01),
                                        _mm512_clmulepi64_epi128(d, key, 0x10), 0x96);
    }
    lo = _mm512_xor_si512(lo, _mm512_bslli_epi128(mid, 8));
    hi = _mm512_xor_si512(hi, _mm512_bsrli_epi128(mid, 8));
    __m256i lo2 = _mm256_xor_si256(_mm512_castsi512_si256(lo), _mm512_extracti64x4_epi64(lo, 1));
    __m256i hi2 = _mm256_xor_si256(_mm512_castsi512_si256(hi), _mm512_extracti64x4_epi64(hi, 1));
    __m128i lo1 = _mm_xor_si128(_mm256_castsi256_si128(lo2), _mm256_extracti128_si256(lo2, 1));
    __m128i hi1 = _mm_xor_si128(_mm256_castsi256_si128(hi2), _mm256_extracti128_si256(hi2, 1));
    return gh_reduce(hi1, lo1);
}

/* Absorb any number of bytes; only the last block of the input may be partial (zero-padded). */
SM4_API __m128i ghash_update(const ghash_key *gk, __m128i y, const uint8_t *p, size_t nbytes) {
    while (nbytes > 0) {
        size_t n = nbytes < 256 ? nbytes : 256;
        y = ghash_256(gk, y, p, n);
        p += n, nbytes -= n;
    }
    return y;
}

/* The final block: bit lengths of the AAD and of the ciphertext, then the tag's GHASH value
 * in GCM byte order. */
SM4_API void ghash_final(const ghash_key *gk, __m128i y, uint64_t aad_len, uint64_t ct_len,
                         uint8_t out[16]) {
    __m128i len = _mm_set_epi64x((long long)(aad_len * 8), (long long)(ct_len * 8));
    y = gh_mul(_mm_xor_si128(y, len), gk->kt[15]);
    _mm_storeu_si128((__m128i *)out, gh_bswap128(y));
}

static const sm4_kernel sm4_kernel_avx512 = {
    "avx512", sm4_expand_key, sm4_ecb, sm4_ctr_xor, ghash_init, ghash_update, ghash_final,
};

#endif
