/* SM3 with AVX2 (no AVX-512): the 8-lane multi-buffer kernel and a BMI2 build of one stream,
 * for CPUs such as AMD Zen 1-3 and Intel Haswell .. Alder Lake; included by sm3x.c after
 * sm3_mb.h, whose MB_BLOCK rounds (and the template sm3_mb8.h) they reuse.
 *
 * Only the primitives change: AVX2 has no VPROLD or VPTERNLOGD, so a rotation is two shifts and
 * an OR (none of SM3's rotations is a multiple of 8 bits, so no byte shuffle helps), the
 * three-way XOR is two XORs, the majority FF_j is (x & y) | (z & (x | y)) and GG_j is
 * ((y ^ z) & x) ^ z. Data-independent as the rest: no lookups, no branches on data.
 */
#ifndef TULOU_SM3_AVX2_H
#define TULOU_SM3_AVX2_H

#include "sm3_mb.h"

#if SM3_HAVE_MB

#undef MB_V
#undef MB_ROL
#undef MB_TERN
#undef MB_ADD
#undef MB_XOR
#undef MB_SET1
#undef MB_XOR3
#undef MB_FF1
#undef MB_GG1
#define MB_V __m256i
#define MB_ROL(x, n) _mm256_or_si256(_mm256_slli_epi32((x), (n)), _mm256_srli_epi32((x), 32 - (n)))
#define MB_ADD(x, y) _mm256_add_epi32((x), (y))
#define MB_XOR(x, y) _mm256_xor_si256((x), (y))
#define MB_SET1(k) _mm256_set1_epi32((int)(k))
#define MB_XOR3(x, y, z) MB_XOR(MB_XOR((x), (y)), (z))
#define MB_FF1(x, y, z)                                                                       \
    _mm256_or_si256(_mm256_and_si256((x), (y)), _mm256_and_si256((z), _mm256_or_si256((x), (y))))
#define MB_GG1(x, y, z) MB_XOR(_mm256_and_si256(MB_XOR((y), (z)), (x)), (z))

#define MB8_NAME sm3_avx2_compress
#define MB8_TARGET __attribute__((target("avx2")))
#include "sm3_mb8.h"
#undef MB8_NAME
#undef MB8_TARGET

/* Single stream: the portable rounds built with BMI2 (RORX: a rotation in one instruction
 * that leaves the flags and its source alone). Measured 1.1-1.15x the portable build and
 * OpenSSL here; the vector message expansion of sm3_mb.h, rebuilt with AVX2 shifts, was slower
 * than both (its rotations cost three instructions), so it is AVX-512VL only. */
#define SM3_WP(j) (w[(j)] ^ w[(j) + 4])
__attribute__((target("bmi2"))) static void sm3_compress_bmi2(uint32_t v[8], const uint8_t *p,
                                                              size_t nblocks) {
    SM3_COMPRESS_BODY(v, p, nblocks);
}
#undef SM3_WP

#endif

#endif
