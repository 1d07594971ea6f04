/* The 8-lane multi-buffer compression over 256-bit registers: lanes 0..7 of the state layout of
 * sm3_mb.h (st[k * 16 + i] = word k of lane i), one block pointer and stride per lane.
 *
 * A template: the includer defines MB8_NAME, MB8_TARGET and the MB_* primitives that MB_BLOCK
 * uses (AVX-512VL in sm3_mb.h, AVX2 in sm3_avx2.h), so this file has no include guard.
 */
MB8_TARGET static void MB8_NAME(uint32_t st[8 * SM3_LANES], const uint8_t *ptr[SM3_LANES],
                                const size_t stride[SM3_LANES], size_t nblocks) {
    const __m256i bswap = _mm256_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3,
                                          12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    const uint8_t *p[8];
    __m256i v[8];
    for (int i = 0; i < 8; i++) {
        p[i] = ptr[i];
    }
    for (int k = 0; k < 8; k++) {
        v[k] = _mm256_loadu_si256((const __m256i *)(st + k * SM3_LANES));
    }
    while (nblocks--) {
        __m256i w[68];
        for (int i = 0; i < 8; i++) {
            w[i] = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)p[i]), bswap);
            w[8 + i] = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(p[i] + 32)), bswap);
            p[i] += stride[i];
        }
        sm3_mb8_transpose(w);
        sm3_mb8_transpose(w + 8);
        MB_BLOCK(v, w);
    }
    for (int k = 0; k < 8; k++) {
        _mm256_storeu_si256((__m256i *)(st + k * SM3_LANES), v[k]);
    }
}
