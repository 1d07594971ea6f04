/* crypto._sm4x: native SM4 (GB/T 32907-2016) in GCM (NIST SP 800-38D) and ECB.
 *
 * Kernels, best first: "avx512" (AVX-512 F/BW/VL + GFNI + VPCLMULQDQ: sm4_avx512.h,
 * ghash_clmul.h), "vaes" (AVX2 + VAES + VPCLMULQDQ), "aesni-avx2" (AVX2 + AES-NI + PCLMULQDQ)
 * and "aesni" (AES-NI + PCLMULQDQ + SSE4.1; all three in sm4_aesni.h). The first one this CPU
 * (and OS) runs is chosen once, at import; kernel() names it and available() says whether there
 * is one. Without one every other function raises RuntimeError and crypto/sm4.py uses OpenSSL
 * instead. TULOU_SM4_KERNEL=<name> (tests only) chooses that kernel instead, or none when the CPU
 * cannot run it. Only 96-bit nonces are supported (J0 = nonce || 0x00000001).
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

#include <stdlib.h>

#include "ghash_clmul.h"
#include "sm4_aesni.h"
#include "sm4_gcm.h"

#define NOGIL_BYTES 4096

static const sm4_kernel *kernel; /* chosen once at import; NULL: none */

static int supports_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("gfni") &&
           __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("sse4.1");
}

static int supports_aesni(void) {
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.1");
}

static int supports_aesni_avx2(void) {
    return supports_aesni() && __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2");
}

static int supports_vaes(void) {
    return supports_aesni_avx2() && __builtin_cpu_supports("vaes") &&
           __builtin_cpu_supports("vpclmulqdq");
}

/* Every kernel, best first, with what it needs (__builtin_cpu_supports also checks that the OS
 * saves the vector registers). */
static const struct {
    const sm4_kernel *k;
    int (*supported)(void);
} kernels[] = {
    {&sm4_kernel_avx512, supports_avx512},
    {&sm4_kernel_vaes, supports_vaes},
    {&sm4_kernel_aesni_avx2, supports_aesni_avx2},
    {&sm4_kernel_aesni, supports_aesni},
};
#define NKERNELS (sizeof kernels / sizeof kernels[0])

static const sm4_kernel *choose_kernel(void) {
    const char *want = getenv("TULOU_SM4_KERNEL");
    __builtin_cpu_init();
    for (size_t i = 0; i < NKERNELS; i++) {
        if (want != NULL && *want != '\0' && strcmp(want, kernels[i].k->name) != 0) {
            continue;
        }
        if (kernels[i].supported()) {
            return kernels[i].k;
        }
        if (want != NULL && *want != '\0') {
            return NULL; /* the named kernel, or none: never silently another one */
        }
    }
    return NULL;
}

static int check_available(void) {
    if (kernel == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "native SM4 needs AES-NI + PCLMULQDQ + SSE4.1 (or AVX-512 + GFNI); this "
                        "CPU lacks them (use the OpenSSL path)");
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
    return PyBool_FromLong(kernel != NULL);
}

static PyObject *py_kernel(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (kernel == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString(kernel->name);
}

static PyObject *py_kernels(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *names = PyList_New(0);
    for (size_t i = 0; names != NULL && i < NKERNELS; i++) {
        if (kernels[i].supported()) {
            PyObject *name = PyUnicode_FromString(kernels[i].k->name);
            if (name == NULL || PyList_Append(names, name) < 0) {
                Py_XDECREF(name);
                Py_CLEAR(names);
                break;
            }
            Py_DECREF(name);
        }
    }
    return names;
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
        gcm_set_key(&c, kernel, key.buf);
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
        gcm_set_key(&c, kernel, key.buf);
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
        gcm_set_key(&c, kernel, key.buf);
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
        gcm_set_key(&c, kernel, key.buf);
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

static void ecb_run(const uint8_t *key, int decrypt, const uint8_t *in, uint8_t *out,
                    size_t len) {
    uint32_t rk[32];
    kernel->expand_key(key, rk);
    if (decrypt) {
        for (int i = 0; i < 16; i++) {
            uint32_t t = rk[i];
            rk[i] = rk[31 - i];
            rk[31 - i] = t;
        }
    }
    kernel->ecb(rk, in, out, len);
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
    {"available", py_available, METH_NOARGS, "True when this CPU runs one of the kernels."},
    {"kernel", py_kernel, METH_NOARGS, "The name of the kernel in use, or None."},
    {"kernels", py_kernels, METH_NOARGS, "The names of the kernels this CPU runs, best first."},
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

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sm4x", "Native SM4-GCM / SM4-ECB (AVX-512 + GFNI, AES-NI or VAES).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sm4x(void) {
    kernel = choose_kernel();
    return PyModule_Create(&module);
}
