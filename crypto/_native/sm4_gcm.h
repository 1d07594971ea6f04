/* SM4-GCM (NIST SP 800-38D) with 96-bit nonces over one kernel (sm4_common.h: the table of
 * the kernel's functions); included by sm4x.c, which chooses the kernel for this CPU once.
 * CTR and GHASH alternate over 4 KiB segments so GHASH reads ciphertext that is still in L1.
 * Plain C: only the kernel's functions need CPU features.
 */
#ifndef TULOU_SM4_GCM_H
#define TULOU_SM4_GCM_H

#include <string.h>

#include "sm4_common.h"

/* Encrypt/authenticate in segments this large so GHASH reads ciphertext still in L1. */
#define SEGMENT 4096
/* SP 800-38D: at most 2^39 - 256 bits of plaintext per invocation. */
#define GCM_MAX_BYTES ((((uint64_t)1) << 36) - 32)

typedef struct {
    const sm4_kernel *k;
    uint32_t rk[32];
    ghash_key gk;
    sm4_ctr_state ctr; /* positioned at inc32(J0), the first data block */
    uint8_t ej0[16];   /* E_K(J0), masks the tag */
} gcm_ctx;

static const uint8_t gcm_zero[16];

/* Round keys and the GHASH table for a key, with kernel k. */
static void gcm_set_key(gcm_ctx *c, const sm4_kernel *k, const uint8_t key[16]) {
    uint8_t h[16];
    c->k = k;
    k->expand_key(key, c->rk);
    k->ecb(c->rk, gcm_zero, h, 16);
    k->ghash_init(&c->gk, h);
    wipe(h, sizeof h);
}

/* Counter and tag mask for a 96-bit nonce: J0 = nonce || 0x00000001. */
static void gcm_set_nonce(gcm_ctx *c, const uint8_t nonce[12]) {
    c->ctr.n0 = sm4_load_be32(nonce);
    c->ctr.n1 = sm4_load_be32(nonce + 4);
    c->ctr.n2 = sm4_load_be32(nonce + 8);
    c->ctr.ctr = 1;
    c->k->ctr_xor(c->rk, &c->ctr, gcm_zero, c->ej0, 16); /* leaves ctr at 2 = inc32(J0) */
}

/* out = ciphertext (len bytes) || tag. */
static void gcm_seal(gcm_ctx *c, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                      size_t len, uint8_t *out) {
    const sm4_kernel *k = c->k;
    __m128i y = k->ghash_update(&c->gk, _mm_setzero_si128(), aad, aad_len);
    for (size_t pos = 0; pos < len; pos += SEGMENT) {
        size_t n = len - pos < SEGMENT ? len - pos : SEGMENT;
        k->ctr_xor(c->rk, &c->ctr, in + pos, out + pos, n);
        y = k->ghash_update(&c->gk, y, out + pos, n);
    }
    uint8_t s[16];
    k->ghash_final(&c->gk, y, aad_len, len, s);
    for (int i = 0; i < 16; i++) {
        out[len + i] = s[i] ^ c->ej0[i];
    }
}

/* Decrypt len bytes of ciphertext into out and return 1 when the tag matches, else 0 (the
 * caller then discards out). The tag comparison does not branch on the data. */
static int gcm_open(gcm_ctx *c, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                     size_t len, const uint8_t tag[16], uint8_t *out) {
    const sm4_kernel *k = c->k;
    __m128i y = k->ghash_update(&c->gk, _mm_setzero_si128(), aad, aad_len);
    for (size_t pos = 0; pos < len; pos += SEGMENT) {
        size_t n = len - pos < SEGMENT ? len - pos : SEGMENT;
        y = k->ghash_update(&c->gk, y, in + pos, n);
        k->ctr_xor(c->rk, &c->ctr, in + pos, out + pos, n);
    }
    uint8_t s[16];
    k->ghash_final(&c->gk, y, aad_len, len, s);
    uint8_t diff = 0;
    for (int i = 0; i < 16; i++) {
        diff |= (uint8_t)(s[i] ^ c->ej0[i] ^ tag[i]);
    }
    return diff == 0;
}

/* The sealed format's chunk nonce (crypto/sm4.py, docs/crypto.md): the chunk index as 11
 * big-endian bytes, then 1 for the final chunk, else 0. */
static void chunk_nonce(uint64_t index, int final, uint8_t nonce[12]) {
    nonce[0] = nonce[1] = nonce[2] = 0;
    for (int i = 0; i < 8; i++) {
        nonce[3 + i] = (uint8_t)(index >> (56 - 8 * i));
    }
    nonce[11] = final ? 1 : 0;
}

/* The sealed format's chunks: len bytes in chunks of `chunk` bytes while more than `chunk`
 * remain, then one final chunk of the rest (0..chunk bytes); each is ciphertext || tag. */
static void gcm_seal_chunks(gcm_ctx *c, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                             size_t len, size_t chunk, uint8_t *out) {
    uint8_t nonce[12];
    size_t pos = 0;
    for (uint64_t index = 0;; index++) {
        int final = len - pos <= chunk;
        size_t n = final ? len - pos : chunk;
        chunk_nonce(index, final, nonce);
        gcm_set_nonce(c, nonce);
        gcm_seal(c, aad, aad_len, in + pos, n, out);
        out += n + 16, pos += n;
        if (final) {
            return;
        }
    }
}

/* Inverse of gcm_seal_chunks on blen bytes (the caller ensures the final chunk holds at least
 * its tag). Returns 0 at the first chunk whose tag is wrong (out then holds garbage). */
static int gcm_open_chunks(gcm_ctx *c, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                            size_t blen, size_t chunk, uint8_t *out) {
    uint8_t nonce[12];
    size_t size = chunk + 16, pos = 0;
    for (uint64_t index = 0;; index++) {
        int final = blen - pos <= size;
        size_t n = (final ? blen - pos : size) - 16;
        chunk_nonce(index, final, nonce);
        gcm_set_nonce(c, nonce);
        if (!gcm_open(c, aad, aad_len, in + pos, n, in + pos + n, out)) {
            return 0;
        }
        out += n, pos += n + 16;
        if (final) {
            return 1;
        }
    }
}

/* Plaintext bytes of a chunked body of blen bytes, or -1 when its final chunk is shorter
 * than a tag (truncated). */
static Py_ssize_t open_chunks_size(size_t blen, size_t chunk) {
    size_t size = chunk + 16;
    size_t k = blen > size ? (blen - 1) / size : 0; /* non-final chunks */
    size_t rest = blen - k * size;
    return rest < 16 ? -1 : (Py_ssize_t)(blen - 16 * (k + 1));
}

#endif
