/* crypto._sm3x: native SM3 (GB/T 32905-2016) and HMAC-SM3 (RFC 2104), single and many.
 *
 * sm3 / hmac_sm3 run one stream: the compression of sm3_core.h, built with BMI2 (sm3_avx2.h)
 * or with its message expansion on AVX-512VL (sm3_mb.h) where the CPU allows. sm3_many / hmac_sm3_many hash a batch of
 * independent messages, one message per 32-bit lane, fed by the scheduler below: with AVX-512
 * (sm3_mb.h) sixteen at a time (eight once at most eight lanes are busy), with AVX2
 * (sm3_avx2.h) eight at a time; otherwise one after the other. The kernel ("avx512", "avx2" or
 * "portable") is chosen once at import: kernel() names it; available() is true when it is a
 * vector one. TULOU_SM3_KERNEL=<name> (tests only) chooses that kernel, or "portable" when the
 * CPU cannot run it. The GIL is released around all hashing of more than a few KiB, after
 * every input buffer has been acquired (so the inputs cannot be resized meanwhile).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

#include "sm3_avx2.h"
#include "sm3_core.h"
#include "sm3_mb.h"

/* Batches smaller than mb_min_items go through the single-stream code, one message after
 * another, and when the queue is empty and at most mb_scalar_tail lanes are still busy, they
 * finish with it too. A busy lane of the AVX-512 kernels is worth more than a scalar stream once
 * two are busy (2 and 1); an AVX2 lane is worth half a scalar stream here (~0.15 vs ~0.32 GB/s),
 * so AVX2 starts at three items and ends at two lanes (3 and 2). Set in choose_kernel. */
static size_t mb_min_items = 2;
static int mb_scalar_tail = 1;
/* Release the GIL for inputs at least this large. */
#define NOGIL_BYTES 4096

/* A multi-buffer block function (sm3_mb.h): lanes 0 .. 15 (or 0 .. 7) of the state `st`. */
typedef void (*sm3_mb_fn)(uint32_t *st, const uint8_t **ptr, const size_t *stride, size_t n);

/* Chosen once at import (choose_kernel); NULL: not on this CPU. */
static sm3_mb_fn mb16; /* 16 lanes, AVX-512 F/BW */
static sm3_mb_fn mb8;  /* 8 lanes: AVX-512VL, or AVX2 */
static const char *kernel_name = "portable";

typedef struct {
    const uint8_t *data;
    size_t len;
    uint8_t *out; /* 32 bytes */
} sm3_job;

typedef struct {
    const sm3_job *job; /* NULL: idle */
    const uint8_t *p;   /* the next block */
    size_t blocks;      /* blocks left in the current phase */
    int padding;        /* 0: the message's full blocks, 1: the padding blocks in pad[] */
    uint8_t pad[128];
} sm3_lane;

static void wipe(void *p, size_t n) {
    volatile uint8_t *q = (volatile uint8_t *)p;
    while (n--) {
        *q++ = 0;
    }
}

static void sm3_one(const uint32_t init[8], uint64_t prefix, const sm3_job *job) {
    sm3_finish_from(job->out, init, prefix, job->data, job->len);
}

#if SM3_HAVE_MB
static int by_length_desc(const void *x, const void *y) {
    size_t a = ((const sm3_job *)x)->len, b = ((const sm3_job *)y)->len;
    return (a < b) - (a > b);
}

/* Start the next queued job in lane i (or leave it idle); its state column restarts. */
static void lane_start(sm3_lane *lane, int i, uint32_t *st, const sm3_job *job,
                       const uint32_t init[8]) {
    lane->job = job;
    if (job == NULL) {
        return;
    }
    lane->p = job->data;
    lane->blocks = job->len / SM3_BLOCK;
    lane->padding = 0;
    for (int k = 0; k < 8; k++) {
        st[k * SM3_LANES + i] = init[k];
    }
}

/* Move the busy lanes to slots 0.. (keeping their order), for the 8-lane kernel. A lane in its
 * padding phase points into its own pad[], which moves with it. */
static void lanes_compact(sm3_lane lanes[SM3_LANES], uint32_t *st, const uint8_t *ptr[SM3_LANES],
                          size_t stride[SM3_LANES], const uint8_t *zero) {
    int j = 0;
    for (int i = 0; i < SM3_LANES; i++) {
        if (lanes[i].job == NULL) {
            continue;
        }
        if (i != j) { /* slot j is idle: every busy lane before i is already in 0 .. j-1 */
            lanes[j] = lanes[i];
            if (lanes[i].padding) {
                lanes[j].p = lanes[j].pad + (lanes[i].p - lanes[i].pad);
            }
            for (int k = 0; k < 8; k++) {
                st[k * SM3_LANES + j] = st[k * SM3_LANES + i];
            }
            lanes[i].job = NULL;
            ptr[j] = lanes[j].p;
            stride[j] = SM3_BLOCK;
            ptr[i] = zero;
            stride[i] = 0;
        }
        j++;
    }
}

/* Hash every job, sixteen lanes at a time, longest first (so the lanes end close together).
 * Each lane runs its message's full blocks straight from the input, then its one or two
 * padding blocks, then writes the digest and takes the next job from the queue. */
static void sm3_many_mb(sm3_job *jobs, size_t njobs, const uint32_t init[8], uint64_t prefix) {
    static const uint8_t zero[SM3_BLOCK];
    const int nlanes = mb16 != NULL ? SM3_LANES : 8; /* the 8-lane kernel alone: lanes 0..7 */
    uint32_t st[8 * SM3_LANES];
    sm3_lane lanes[SM3_LANES];
    const uint8_t *ptr[SM3_LANES];
    size_t stride[SM3_LANES];
    size_t next = 0;

    qsort(jobs, njobs, sizeof *jobs, by_length_desc);
    for (int i = 0; i < SM3_LANES; i++) {
        lane_start(&lanes[i], i, st, i < nlanes && next < njobs ? &jobs[next++] : NULL, init);
    }
    for (;;) {
        int active = 0;
        size_t run = SIZE_MAX;
        for (int i = 0; i < SM3_LANES; i++) {
            sm3_lane *lane = &lanes[i];
            while (lane->job != NULL && lane->blocks == 0) {
                if (!lane->padding) {
                    const sm3_job *job = lane->job;
                    lane->blocks = (size_t)sm3_pad(lane->pad, lane->p, job->len % SM3_BLOCK,
                                                   prefix + job->len);
                    lane->p = lane->pad;
                    lane->padding = 1;
                } else {
                    uint32_t v[8];
                    for (int k = 0; k < 8; k++) {
                        v[k] = st[k * SM3_LANES + i];
                    }
                    sm3_output(lane->job->out, v);
                    lane_start(lane, i, st, next < njobs ? &jobs[next++] : NULL, init);
                }
            }
            if (lane->job != NULL) {
                active++;
                run = lane->blocks < run ? lane->blocks : run;
                ptr[i] = lane->p;
                stride[i] = SM3_BLOCK;
            } else {
                ptr[i] = zero;
                stride[i] = 0;
            }
        }
        if (active == 0) {
            break;
        }
        if (active <= mb_scalar_tail && next == njobs) {
            for (int i = 0; i < SM3_LANES; i++) {
                sm3_lane *lane = &lanes[i];
                uint32_t v[8];
                if (lane->job == NULL) {
                    continue;
                }
                for (int k = 0; k < 8; k++) {
                    v[k] = st[k * SM3_LANES + i];
                }
                sm3_compress(v, lane->p, lane->blocks);
                if (!lane->padding) {
                    const sm3_job *job = lane->job;
                    int n = sm3_pad(lane->pad, lane->p + lane->blocks * SM3_BLOCK,
                                    job->len % SM3_BLOCK, prefix + job->len);
                    sm3_compress(v, lane->pad, (size_t)n);
                }
                sm3_output(lane->job->out, v);
            }
            break;
        }
        if (nlanes == 8) {
            mb8(st, ptr, stride, run);
        } else if (mb8 != NULL && active <= 8 && next == njobs) {
            lanes_compact(lanes, st, ptr, stride, zero);
            mb8(st, ptr, stride, run);
        } else {
            mb16(st, ptr, stride, run);
        }
        for (int i = 0; i < SM3_LANES; i++) {
            if (lanes[i].job != NULL) {
                lanes[i].p += run * SM3_BLOCK;
                lanes[i].blocks -= run;
            }
        }
    }
}
#endif

static void sm3_many_run(sm3_job *jobs, size_t njobs, const uint32_t init[8], uint64_t prefix) {
#if SM3_HAVE_MB
    if ((mb16 != NULL || mb8 != NULL) && njobs >= mb_min_items) {
        sm3_many_mb(jobs, njobs, init, prefix);
        return;
    }
#endif
    for (size_t i = 0; i < njobs; i++) {
        sm3_one(init, prefix, &jobs[i]);
    }
}

/* HMAC (RFC 2104): the states after the first block K0 ^ ipad and K0 ^ opad. */
static void hmac_states(const uint8_t *key, size_t klen, uint32_t inner[8], uint32_t outer[8]) {
    uint8_t k0[SM3_BLOCK] = {0}, blk[SM3_BLOCK];
    if (klen > SM3_BLOCK) {
        sm3_finish_from(k0, sm3_iv, 0, key, klen);
    } else if (klen) {
        memcpy(k0, key, klen);
    }
    memcpy(inner, sm3_iv, sizeof sm3_iv);
    memcpy(outer, sm3_iv, sizeof sm3_iv);
    for (int i = 0; i < SM3_BLOCK; i++) {
        blk[i] = k0[i] ^ 0x36;
    }
    sm3_compress(inner, blk, 1);
    for (int i = 0; i < SM3_BLOCK; i++) {
        blk[i] = k0[i] ^ 0x5c;
    }
    sm3_compress(outer, blk, 1);
    wipe(k0, sizeof k0);
    wipe(blk, sizeof blk);
}

/* ---- Python glue ---------------------------------------------------------------------- */

static PyObject *py_available(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(mb16 != NULL || mb8 != NULL);
}

static PyObject *py_kernel(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyUnicode_FromString(kernel_name);
}

static PyObject *py_sm3(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer b;
    uint8_t out[SM3_DIGEST];
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    sm3_job job = {b.buf, (size_t)b.len, out};
    if (b.len >= NOGIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS sm3_one(sm3_iv, 0, &job);
        Py_END_ALLOW_THREADS
    } else {
        sm3_one(sm3_iv, 0, &job);
    }
    PyBuffer_Release(&b);
    return PyBytes_FromStringAndSize((const char *)out, SM3_DIGEST);
}

static PyObject *py_hmac_sm3(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer key, data;
    uint32_t inner[8], outer[8];
    uint8_t mid[SM3_DIGEST], out[SM3_DIGEST];
    if (!PyArg_ParseTuple(args, "y*y*:hmac_sm3", &key, &data)) {
        return NULL;
    }
    sm3_job job = {data.buf, (size_t)data.len, mid};
    sm3_job fin = {mid, SM3_DIGEST, out};
    Py_BEGIN_ALLOW_THREADS hmac_states(key.buf, (size_t)key.len, inner, outer);
    sm3_one(inner, SM3_BLOCK, &job);
    sm3_one(outer, SM3_BLOCK, &fin);
    Py_END_ALLOW_THREADS wipe(inner, sizeof inner);
    wipe(outer, sizeof outer);
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return PyBytes_FromStringAndSize((const char *)out, SM3_DIGEST);
}

/* Hash every item of `items` (a sequence of buffers), starting from `init` after `prefix`
 * bytes; when `outer` is given, each result is then hashed once more from `outer` (HMAC).
 * Returns a new list of 32-byte bytes objects. */
static PyObject *many(PyObject *items, const uint32_t init[8], uint64_t prefix,
                      const uint32_t *outer) {
    PyObject *seq = PySequence_Fast(items, "items must be a sequence of bytes-like objects");
    PyObject *result = NULL;
    Py_ssize_t n, got = 0;
    Py_buffer *bufs = NULL;
    sm3_job *jobs = NULL;
    uint8_t *digests = NULL;
    if (seq == NULL) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    bufs = PyMem_Calloc((size_t)n + 1, sizeof *bufs);
    jobs = PyMem_Calloc((size_t)n + 1, sizeof *jobs);
    digests = PyMem_Calloc((size_t)n + 1, 2 * SM3_DIGEST);
    if (bufs == NULL || jobs == NULL || digests == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, got);
        if (PyObject_GetBuffer(item, &bufs[got], PyBUF_SIMPLE) < 0) {
            goto done;
        }
        jobs[got].data = bufs[got].buf;
        jobs[got].len = (size_t)bufs[got].len;
        jobs[got].out = digests + 2 * SM3_DIGEST * (size_t)got;
    }
    Py_BEGIN_ALLOW_THREADS sm3_many_run(jobs, (size_t)n, init, prefix);
    if (outer != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            uint8_t *d = digests + 2 * SM3_DIGEST * (size_t)i;
            sm3_job fin = {d, SM3_DIGEST, d + SM3_DIGEST};
            sm3_one(outer, SM3_BLOCK, &fin);
        }
    }
    Py_END_ALLOW_THREADS result = PyList_New(n);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *d = digests + 2 * SM3_DIGEST * (size_t)i + (outer ? SM3_DIGEST : 0);
        PyObject *b = PyBytes_FromStringAndSize((const char *)d, SM3_DIGEST);
        if (b == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, b);
    }
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&bufs[i]);
    }
    if (digests != NULL) {
        wipe(digests, ((size_t)n + 1) * 2 * SM3_DIGEST);
    }
    PyMem_Free(bufs);
    PyMem_Free(jobs);
    PyMem_Free(digests);
    Py_DECREF(seq);
    return result;
}

static PyObject *py_sm3_many(PyObject *self, PyObject *items) {
    (void)self;
    return many(items, sm3_iv, 0, NULL);
}

static PyObject *py_hmac_sm3_many(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer key;
    PyObject *items, *result;
    uint32_t inner[8], outer[8];
    if (!PyArg_ParseTuple(args, "y*O:hmac_sm3_many", &key, &items)) {
        return NULL;
    }
    hmac_states(key.buf, (size_t)key.len, inner, outer);
    PyBuffer_Release(&key);
    result = many(items, inner, SM3_BLOCK, outer);
    wipe(inner, sizeof inner);
    wipe(outer, sizeof outer);
    return result;
}

static PyMethodDef methods[] = {
    {"available", py_available, METH_NOARGS,
     "available() -> bool: True when this CPU runs a multi-buffer kernel (AVX-512 or AVX2)."},
    {"kernel", py_kernel, METH_NOARGS,
     "kernel() -> str: the kernel in use: \"avx512\", \"avx2\" or \"portable\"."},
    {"sm3", py_sm3, METH_O, "sm3(data) -> bytes: the SM3 digest of a bytes-like object."},
    {"hmac_sm3", py_hmac_sm3, METH_VARARGS,
     "hmac_sm3(key, data) -> bytes: HMAC-SM3 (RFC 2104) of data under key."},
    {"sm3_many", py_sm3_many, METH_O,
     "sm3_many(items) -> list[bytes]: the SM3 digest of every bytes-like item, in order."},
    {"hmac_sm3_many", py_hmac_sm3_many, METH_VARARGS,
     "hmac_sm3_many(key, items) -> list[bytes]: HMAC-SM3 of every item under key, in order."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sm3x",
    "Native SM3 (GB/T 32905-2016) and HMAC-SM3; multi-buffer AVX-512/AVX2 for batches.", -1,
    methods,
    NULL, NULL, NULL, NULL,
};

/* The kernels, best first; a kernel needs every feature it names (__builtin_cpu_supports also
 * checks that the OS saves the vector registers). */
static int choose(const char *name, const char *want) {
    return want == NULL || *want == '\0' || strcmp(want, name) == 0;
}

static void choose_kernel(void) {
    const char *want = getenv("TULOU_SM3_KERNEL");
#if SM3_HAVE_MB
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2"), bmi2 = __builtin_cpu_supports("bmi2");
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    int vl = avx512 && __builtin_cpu_supports("avx512vl");
    if (avx512 && choose("avx512", want)) {
        kernel_name = "avx512";
        mb16 = sm3_mb_compress;
        mb8 = vl && avx2 ? sm3_mb8_compress : avx2 ? sm3_avx2_compress : NULL;
        if (vl && bmi2) {
            sm3_compress = sm3_compress_x1;
        }
        return;
    }
    if (avx2 && choose("avx2", want)) {
        kernel_name = "avx2";
        mb8 = sm3_avx2_compress;
        mb_min_items = 3;
        mb_scalar_tail = 2;
        if (bmi2) {
            sm3_compress = sm3_compress_bmi2;
        }
        return;
    }
#else
    (void)want;
#endif
}

PyMODINIT_FUNC PyInit__sm3x(void) {
    choose_kernel();
    return PyModule_Create(&module);
}
