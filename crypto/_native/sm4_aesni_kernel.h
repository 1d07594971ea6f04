/* One SM4 kernel (block passes, ECB, CTR) over the vector operations its includer defines;
 * sm4_aesni.h includes this file once per kernel (so it has no include guard). See sm4_aesni.h
 * for the layout and the S-box. The includer defines:
 *
 *   K_(name)       the kernel's name for `name` (a suffix)
 *   K_TARGET       its CPU-feature target string
 *   V, VB          the vector type and its size in bytes (16 or 32)
 *   V_LOAD(p), V_STORE(p, v), V_XOR, V_AND, V_OR, V_ADD32, V_SHUF(data, control),
 *   V_SRLI32(v, n), V_SLLI32(v, n), V_SET1(x), V_B128(x) (a 128-bit constant in every lane),
 *   V_AESLAST(v)   AESENCLAST with a zero round key on every 128-bit lane,
 *   V_UNPACK{LO,HI}{32,64}, V_CTR_OFFS (counter offsets of dword 4q+i: see sm4_aesni.h),
 *   K_SETS         independent sets of 4 registers interleaved per CTR pass (4 or 8).
 */

#define K_FN static inline __attribute__((always_inline, target(K_TARGET)))
#define K_API static __attribute__((target(K_TARGET)))
#define VBLK (VB / 16) /* blocks per register; a set of 4 registers holds 4 * VBLK blocks */
#define SETB (4 * VB)  /* bytes per set */

/* One round on the sets: x0 ^= L(tau(x1 ^ x2 ^ x3 ^ k)) (sm4_aesni.h). x1 ^ x2 ^ k is formed
 * first: x3 is the newest word, so that XOR is off the round's dependency chain. */
#define K_R(x0, x1, x2, x3, k)                                                                \
    do {                                                                                      \
        V t_ = V_XOR(V_XOR(V_XOR(x1, x2), k), x3);                                            \
        t_ = V_XOR(V_SHUF(pre_lo, V_AND(t_, m0f)), V_SHUF(pre_hi, V_AND(V_SRLI32(t_, 4), m0f))); \
        t_ = V_AESLAST(t_);                                                                   \
        t_ = V_XOR(V_SHUF(post_lo, V_AND(t_, m0f)),                                           \
                   V_SHUF(post_hi, V_AND(V_SRLI32(t_, 4), m0f)));                             \
        V b0_ = V_SHUF(t_, sr0), b24_ = V_SHUF(t_, sr24);                                     \
        V u_ = V_XOR(V_XOR(b0_, V_SHUF(t_, sr8)), V_SHUF(t_, sr16));                          \
        x0 = V_XOR(x0, V_XOR(b0_, b24_));                                                     \
        x0 = V_XOR(x0, V_OR(V_SLLI32(u_, 2), V_SRLI32(u_, 30)));                              \
    } while (0)

/* The 32 rounds on `nsets` sets x[s][0..3] (nsets a constant after inlining); the result
 * (X35, X34, X33, X32) goes back into (x[s][0], .., x[s][3]) (clause 7.1, reverse R). */
K_FN void K_(rounds)(const uint32_t *rk, V x[][4], const int nsets) {
    const V m0f = V_SET1(0x0f0f0f0f);
    const V pre_lo = V_B128(_mm_setr_epi8(SM4_AESNI_PRE_LO));
    const V pre_hi = V_B128(_mm_setr_epi8(SM4_AESNI_PRE_HI));
    const V post_lo = V_B128(_mm_setr_epi8(SM4_AESNI_POST_LO));
    const V post_hi = V_B128(_mm_setr_epi8(SM4_AESNI_POST_HI));
    const V sr0 = V_B128(_mm_setr_epi8(SM4_AESNI_SR_ROL0));
    const V sr8 = V_B128(_mm_setr_epi8(SM4_AESNI_SR_ROL8));
    const V sr16 = V_B128(_mm_setr_epi8(SM4_AESNI_SR_ROL16));
    const V sr24 = V_B128(_mm_setr_epi8(SM4_AESNI_SR_ROL24));
    for (int i = 0; i < 32; i += 4) {
        const V k0 = V_SET1((int)rk[i]), k1 = V_SET1((int)rk[i + 1]);
        const V k2 = V_SET1((int)rk[i + 2]), k3 = V_SET1((int)rk[i + 3]);
#pragma GCC unroll 8
        for (int s = 0; s < nsets; s++) {
            K_R(x[s][0], x[s][1], x[s][2], x[s][3], k0);
        }
#pragma GCC unroll 8
        for (int s = 0; s < nsets; s++) {
            K_R(x[s][1], x[s][2], x[s][3], x[s][0], k1);
        }
#pragma GCC unroll 8
        for (int s = 0; s < nsets; s++) {
            K_R(x[s][2], x[s][3], x[s][0], x[s][1], k2);
        }
#pragma GCC unroll 8
        for (int s = 0; s < nsets; s++) {
            K_R(x[s][3], x[s][0], x[s][1], x[s][2], k3);
        }
    }
#pragma GCC unroll 8
    for (int s = 0; s < nsets; s++) {
        V t = x[s][0];
        x[s][0] = x[s][3];
        x[s][3] = t;
        t = x[s][1];
        x[s][1] = x[s][2];
        x[s][2] = t;
    }
}

/* 4x4 transpose of 32-bit words inside every 128-bit lane (an involution). */
K_FN void K_(transpose)(V r[4]) {
    V t0 = V_UNPACKLO32(r[0], r[1]), t1 = V_UNPACKLO32(r[2], r[3]);
    V t2 = V_UNPACKHI32(r[0], r[1]), t3 = V_UNPACKHI32(r[2], r[3]);
    r[0] = V_UNPACKLO64(t0, t1);
    r[1] = V_UNPACKHI64(t0, t1);
    r[2] = V_UNPACKLO64(t2, t3);
    r[3] = V_UNPACKHI64(t2, t3);
}

K_FN V K_(bswap)(V v) {
    return V_SHUF(v, V_B128(_mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12)));
}

/* Blocks of bytes (register k: blocks VBLK*k ..) to the word-sliced layout and back. */
K_FN void K_(slice)(V r[4]) {
    for (int k = 0; k < 4; k++) {
        r[k] = K_(bswap)(r[k]);
    }
    K_(transpose)(r);
}

K_FN void K_(unslice)(V r[4]) {
    K_(transpose)(r);
    for (int k = 0; k < 4; k++) {
        r[k] = K_(bswap)(r[k]);
    }
}

/* The S-box on the four bytes of a word, for the key schedule: the same three steps on one
 * 128-bit lane, the AES-NI output put back in place with SR_ROL0. */
K_FN uint32_t K_(tau32)(uint32_t w) {
    const __m128i m0f = _mm_set1_epi32(0x0f0f0f0f);
    __m128i t = _mm_cvtsi32_si128((int)w);
    __m128i lo = _mm_and_si128(t, m0f), hi = _mm_and_si128(_mm_srli_epi32(t, 4), m0f);
    t = _mm_xor_si128(_mm_shuffle_epi8(_mm_setr_epi8(SM4_AESNI_PRE_LO), lo),
                      _mm_shuffle_epi8(_mm_setr_epi8(SM4_AESNI_PRE_HI), hi));
    t = _mm_aesenclast_si128(t, _mm_setzero_si128());
    lo = _mm_and_si128(t, m0f), hi = _mm_and_si128(_mm_srli_epi32(t, 4), m0f);
    t = _mm_xor_si128(_mm_shuffle_epi8(_mm_setr_epi8(SM4_AESNI_POST_LO), lo),
                      _mm_shuffle_epi8(_mm_setr_epi8(SM4_AESNI_POST_HI), hi));
    t = _mm_shuffle_epi8(t, _mm_setr_epi8(SM4_AESNI_SR_ROL0));
    return (uint32_t)_mm_cvtsi128_si32(t);
}

K_API void K_(expand_key)(const uint8_t key[16], uint32_t rk[32]) {
    SM4_EXPAND_KEY(K_(tau32), key, rk);
}

/* ECB on nbytes (a multiple of 16): one set at a time, the last partial set through a copy. */
K_API void K_(ecb)(const uint32_t *rk, const uint8_t *in, uint8_t *out, size_t nbytes) {
    while (nbytes > 0) {
        size_t n = nbytes < SETB ? nbytes : SETB;
        uint8_t buf[SETB];
        const uint8_t *src = in;
        if (n < SETB) {
            memset(buf, 0, sizeof buf);
            memcpy(buf, in, n);
            src = buf;
        }
        V x[1][4];
        for (int k = 0; k < 4; k++) {
            x[0][k] = V_LOAD(src + VB * k);
        }
        K_(slice)(x[0]);
        K_(rounds)(rk, x, 1);
        K_(unslice)(x[0]);
        if (n < SETB) {
            for (int k = 0; k < 4; k++) {
                V_STORE(buf + VB * k, x[0][k]);
            }
            memcpy(out, buf, n);
            wipe(buf, sizeof buf);
        } else {
            for (int k = 0; k < 4; k++) {
                V_STORE(out + VB * k, x[0][k]);
            }
        }
        in += n, out += n, nbytes -= n;
    }
}

/* The counter blocks of `nsets` sets from ctr on, in the word-sliced layout. */
K_FN void K_(ctr_sets)(const sm4_ctr_state *st, uint32_t ctr, V x[][4], const int nsets) {
    const V offs = V_CTR_OFFS;
#pragma GCC unroll 8
    for (int s = 0; s < nsets; s++) {
        x[s][0] = V_SET1((int)st->n0);
        x[s][1] = V_SET1((int)st->n1);
        x[s][2] = V_SET1((int)st->n2);
        x[s][3] = V_ADD32(V_SET1((int)(ctr + (uint32_t)(4 * VBLK * s))), offs);
    }
}

K_API void K_(ctr_xor)(const uint32_t *rk, sm4_ctr_state *st, const uint8_t *in, uint8_t *out,
                       size_t nbytes) {
    uint32_t ctr = st->ctr;
    while (nbytes >= K_SETS * SETB) {
        V x[K_SETS][4];
        K_(ctr_sets)(st, ctr, x, K_SETS);
        K_(rounds)(rk, x, K_SETS);
#pragma GCC unroll 8
        for (int s = 0; s < K_SETS; s++) {
            K_(unslice)(x[s]);
            for (int k = 0; k < 4; k++) {
                const uint8_t *p = in + SETB * s + VB * k;
                V_STORE(out + SETB * s + VB * k, V_XOR(V_LOAD(p), x[s][k]));
            }
        }
        ctr += (uint32_t)(K_SETS * 4 * VBLK);
        in += K_SETS * SETB, out += K_SETS * SETB, nbytes -= K_SETS * SETB;
    }
    if (K_SETS > 2 && nbytes >= 2 * SETB) {
        V x[2][4];
        K_(ctr_sets)(st, ctr, x, 2);
        K_(rounds)(rk, x, 2);
        for (int s = 0; s < 2; s++) {
            K_(unslice)(x[s]);
            for (int k = 0; k < 4; k++) {
                const uint8_t *p = in + SETB * s + VB * k;
                V_STORE(out + SETB * s + VB * k, V_XOR(V_LOAD(p), x[s][k]));
            }
        }
        ctr += (uint32_t)(2 * 4 * VBLK);
        in += 2 * SETB, out += 2 * SETB, nbytes -= 2 * SETB;
    }
    while (nbytes > 0) {
        size_t n = nbytes < SETB ? nbytes : SETB;
        V x[1][4];
        K_(ctr_sets)(st, ctr, x, 1);
        K_(rounds)(rk, x, 1);
        K_(unslice)(x[0]);
        if (n == SETB) {
            for (int k = 0; k < 4; k++) {
                V_STORE(out + VB * k, V_XOR(V_LOAD(in + VB * k), x[0][k]));
            }
        } else { /* the last partial set: keystream into a copy (lengths are public) */
            uint8_t ks[SETB];
            for (int k = 0; k < 4; k++) {
                V_STORE(ks + VB * k, x[0][k]);
            }
            for (size_t i = 0; i < n; i++) {
                out[i] = in[i] ^ ks[i];
            }
            wipe(ks, sizeof ks);
        }
        ctr += (uint32_t)((n + 15) / 16);
        in += n, out += n, nbytes -= n;
    }
    st->ctr = ctr;
}

#undef K_FN
#undef K_API
#undef VBLK
#undef SETB
#undef K_R
