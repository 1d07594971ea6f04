/* crypto._sm4x: native SM4 (GB/T 32907-2016) in GCM (NIST SP 800-38D) and ECB.
 *
 * The block cipher (sm4_avx512.h) and GHASH (ghash_clmul.h) need AVX-512 F/BW/VL, GFNI,
 * VPCLMULQDQ and PCLMULQDQ; available() says whether this CPU (and OS) has them, checked once
 * at import. Without them every other function raises RuntimeError and crypto/sm4.py uses
 * OpenSSL instead. Only 96-bit nonces are supported (J0 = nonce || 0x00000001).
 * gcm_seal_chunks / gcm_open_chunks run the whole chunk loop of crypto/sm4.py's sealed format
 * (one key set-up, one output object) so a sealed message costs one pass over memory.
 *
 * Buffers are taken with the buffer protocol and held until the work is done; the GIL is
 * released for inputs of NOGIL_BYTES or more. Round keys and the GHASH table live on the stack
 * and are wiped before returning. A failed tag check returns no plaintext: the output object
 * is wiped and freed before ValueError is raised.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "sm4_gcm.h"

#define NOGIL_BYTES 4096

static int native_ok; /* set once at import */

static int check_available(void) {
    if (!native_ok) {
        PyErr_SetString(PyExc_RuntimeError,
                        "native SM4 needs AVX-512 F/BW/VL, GFNI and VPCLMULQDQ; this CPU lacks "
                        "them (use the OpenSSL path)");
        return 0;
    }
    return 1;
}

static int check_key_nonce(const Py_buffer *key, const Py_buffer *nonce) {
    if (key->len != 16) {
        PyErr_Format(PyExc_ValueError, "an SM4 key is exactly 16 bytes (got %zd)", key->len);
        return 0;
    }
    if (nonce != NULL && nonce->len != 12) {
        PyErr_Format(PyExc_ValueError, "the SM4-GCM nonce must be 12 bytes (got %zd)",
                     nonce->len);
        return 0;
    }
    return 1;
}

static PyObject *py_available(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(native_ok);
}

static PyObject *py_gcm_encrypt(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer key, nonce, aad, data;
    PyObject *res = NULL;
    if (!check_available() || !PyArg_ParseTuple(args, "y*y*y*y*:gcm_encrypt", &key, &nonce, &aad,
                                                &data)) {
        return NULL;
    }
    if (!check_key_nonce(&key, &nonce)) {
        goto done;
    }
    if ((uint64_t)data.len > GCM_MAX_BYTES) {
        PyErr_SetString(PyExc_ValueError, "SM4-GCM plaintext exceeds 2^36 - 32 bytes");
        goto done;
    }
    res = PyBytes_FromStringAndSize(NULL, data.len + 16);
    if (res != NULL) {
        gcm_ctx c;
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(res);
        int nogil = data.len >= NOGIL_BYTES;
        PyThreadState *ts = nogil ? PyEval_SaveThread() : NULL;
        gcm_set_key(&c, key.buf);
        gcm_set_nonce(&c, nonce.buf);
        gcm_seal(&c, aad.buf, (size_t)aad.len, data.buf, (size_t)data.len, out);
        wipe(&c, sizeof c);
        if (nogil) {
            PyEval_RestoreThread(ts);
        }
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&aad);
    PyBuffer_Release(&data);
    return res;
}

static PyObject *py_gcm_decrypt(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer key, nonce, aad, data;
    PyObject *res = NULL;
    if (!check_available() || !PyArg_ParseTuple(args, "y*y*y*y*:gcm_decrypt", &key, &nonce, &aad,
                                                &data)) {
        return NULL;
    }
    if (!check_key_nonce(&key, &nonce)) {
        goto done;
    }
    if (data.len < 16) {
        PyErr_SetString(PyExc_ValueError, "SM4-GCM input is shorter than its 16-byte tag");
        goto done;
    }
    size_t len = (size_t)data.len - 16;
    if ((uint64_t)len > GCM_MAX_BYTES) {
        PyErr_SetString(PyExc_ValueError, "SM4-GCM ciphertext exceeds 2^36 - 32 bytes");
        goto done;
    }
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
    if (res != NULL) {
        gcm_ctx c;
        const uint8_t *in = data.buf;
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(res);
        int nogil = len >= NOGIL_BYTES;
        PyThreadState *ts = nogil ? PyEval_SaveThread() : NULL;
        gcm_set_key(&c, key.buf);
        gcm_set_nonce(&c, nonce.buf);
        int ok = gcm_open(&c, aad.buf, (size_t)aad.len, in, len, in + len, out);
        wipe(&c, sizeof c);
        if (!ok) {
            wipe(out, len);
        }
        if (nogil) {
            PyEval_RestoreThread(ts);
        }
        if (!ok) {
            Py_CLEAR(res);
            PyErr_SetString(PyExc_ValueError, "SM4-GCM authentication failed (tag mismatch)");
        }
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&aad);
    PyBuffer_Release(&data);
    return res;
}

static int check_chunk(Py_ssize_t chunk) {
    if (chunk < 16 || chunk % 16) {
        PyErr_Format(PyExc_ValueError, "the chunk size must be a positive multiple of 16 (got %zd)",
                     chunk);
        return 0;
    }
    return 1;
}

static PyObject *py_gcm_seal_chunks(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer key, aad, data, prefix;
    Py_ssize_t chunk;
    PyObject *res = NULL;
    if (!check_available() || !PyArg_ParseTuple(args, "y*y*y*ny*:gcm_seal_chunks", &key, &aad,
                                                &data, &chunk, &prefix)) {
        return NULL;
    }
    if (!check_key_nonce(&key, NULL) || !check_chunk(chunk)) {
        goto done;
    }
    if ((uint64_t)chunk > GCM_MAX_BYTES) {
        PyErr_SetString(PyExc_ValueError, "SM4-GCM chunk exceeds 2^36 - 32 bytes");
        goto done;
    }
    size_t len = (size_t)data.len;
    size_t nchunks = len == 0 ? 1 : (len - 1) / (size_t)chunk + 1;
    res = PyBytes_FromStringAndSize(NULL, prefix.len + data.len + 16 * (Py_ssize_t)nchunks);
    if (res != NULL) {
        gcm_ctx c;
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(res);
        memcpy(out, prefix.buf, (size_t)prefix.len);
        int nogil = len >= NOGIL_BYTES;
        PyThreadState *ts = nogil ? PyEval_SaveThread() : NULL;
        gcm_set_key(&c, key.buf);
        gcm_seal_chunks(&c, aad.buf, (size_t)aad.len, data.buf, len, (size_t)chunk,
                        out + prefix.len);
        wipe(&c, sizeof c);
        if (nogil) {
            PyEval_RestoreThread(ts);
        }
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&aad);
    PyBuffer_Release(&data);
    PyBuffer_Release(&prefix);
    return res;
}

static PyObject *py_gcm_open_chunks(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer key, aad, body;
    Py_ssize_t chunk;
    PyObject *res = NULL;
    if (!check_available() ||
        !PyArg_ParseTuple(args, "y*y*y*n:gcm_open_chunks", &key, &aad, &body, &chunk)) {
        return NULL;
    }
    if (!check_key_nonce(&key, NULL) || !check_chunk(chunk)) {
        goto done;
    }
    if ((uint64_t)chunk > GCM_MAX_BYTES) {
        PyErr_SetString(PyExc_ValueError, "SM4-GCM chunk exceeds 2^36 - 32 bytes");
        goto done;
    }
    Py_ssize_t plain = open_chunks_size((size_t)body.len, (size_t)chunk);
    if (plain < 0) {
        PyErr_SetString(PyExc_ValueError, "sealed SM4 body is truncated (final chunk < tag)");
        goto done;
    }
    res = PyBytes_FromStringAndSize(NULL, plain);
    if (res != NULL) {
        gcm_ctx c;
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(res);
        int nogil = body.len >= NOGIL_BYTES;
        PyThreadState *ts = nogil ? PyEval_SaveThread() : NULL;
        gcm_set_key(&c, key.buf);
        int ok = gcm_open_chunks(&c, aad.buf, (size_t)aad.len, body.buf, (size_t)body.len,
                                 (size_t)chunk, out);
        wipe(&c, sizeof c);
        if (!ok) {
            wipe(out, (size_t)plain);
        }
        if (nogil) {
            PyEval_RestoreThread(ts);
        }
        if (!ok) {
            Py_CLEAR(res);
            PyErr_SetString(PyExc_ValueError, "SM4-GCM authentication failed (tag mismatch)");
        }
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&aad);
    PyBuffer_Release(&body);
    return res;
}

SM4_API void ecb_run(const uint8_t *key, int decrypt, const uint8_t *in, uint8_t *out,
                     size_t len) {
    uint32_t rk[32];
    sm4_expand_key(key, rk);
    if (decrypt) {
        for (int i = 0; i < 16; i++) {
            uint32_t t = rk[i];
            rk[i] = rk[31 - i];
            rk[31 - i] = t;
        }
    }
    for (size_t pos = 0; pos < len; pos += 256) {
        sm4_ecb16(rk, in + pos, out + pos, len - pos < 256 ? len - pos : 256);
    }
    wipe(rk, sizeof rk);
}

static PyObject *ecb(PyObject *args, int decrypt, const char *fmt) {
    Py_buffer key, data;
    PyObject *res = NULL;
    if (!check_available() || !PyArg_ParseTuple(args, fmt, &key, &data)) {
        return NULL;
    }
    if (!check_key_nonce(&key, NULL)) {
        goto done;
    }
    if (data.len % 16) {
        PyErr_Format(PyExc_ValueError, "SM4-ECB input must be a multiple of 16 bytes (got %zd)",
                     data.len);
        goto done;
    }
    res = PyBytes_FromStringAndSize(NULL, data.len);
    if (res != NULL) {
        int nogil = data.len >= NOGIL_BYTES;
        PyThreadState *ts = nogil ? PyEval_SaveThread() : NULL;
        ecb_run(key.buf, decrypt, data.buf, (uint8_t *)PyBytes_AS_STRING(res), (size_t)data.len);
        if (nogil) {
            PyEval_RestoreThread(ts);
        }
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return res;
}

static PyObject *py_ecb_encrypt(PyObject *self, PyObject *args) {
    (void)self;
    return ecb(args, 0, "y*y*:ecb_encrypt_blocks");
}

static PyObject *py_ecb_decrypt(PyObject *self, PyObject *args) {
    (void)self;
    return ecb(args, 1, "y*y*:ecb_decrypt_blocks");
}

static PyMethodDef methods[] = {
    {"available", py_available, METH_NOARGS, "True when this CPU runs the native code."},
    {"gcm_encrypt", py_gcm_encrypt, METH_VARARGS,
     "gcm_encrypt(key, nonce, aad, data) -> ciphertext || 16-byte tag (SM4-GCM)."},
    {"gcm_decrypt", py_gcm_decrypt, METH_VARARGS,
     "gcm_decrypt(key, nonce, aad, ct_and_tag) -> plaintext; ValueError on a wrong tag."},
    {"gcm_seal_chunks", py_gcm_seal_chunks, METH_VARARGS,
     "gcm_seal_chunks(key, aad, data, chunk, prefix) -> prefix || the sealed format's chunks."},
    {"gcm_open_chunks", py_gcm_open_chunks, METH_VARARGS,
     "gcm_open_chunks(key, aad, body, chunk) -> plaintext of the sealed format's chunks."},
    {"ecb_encrypt_blocks", py_ecb_encrypt, METH_VARARGS,
     "ecb_encrypt_blocks(key, data) -> SM4 encryption of each 16-byte block."},
    {"ecb_decrypt_blocks", py_ecb_decrypt, METH_VARARGS,
     "ecb_decrypt_blocks(key, data) -> SM4 decryption of each 16-byte block."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sm4x",
                                    "Native SM4-GCM / SM4-ECB (AVX-512 + GFNI + VPCLMULQDQ).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__sm4x(void) {
    __builtin_cpu_init();
    native_ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("gfni") &&
                __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul") &&
                __builtin_cpu_supports("avx2") && __builtin_cpu_supports("sse4.1");
    return PyModule_Create(&module);
}
