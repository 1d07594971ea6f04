"""Build the native SM3/SM4 extensions; every other setting lives in pyproject.toml.

Both extensions compile on any x86-64 (or other) C compiler: the vector code carries per-function
``target`` attributes and is chosen at run time only when the CPU (and the OS) supports it, so
one build serves every machine. Where it is not supported, :mod:`crypto.sm3` and
:mod:`crypto.sm4` use OpenSSL through ``cryptography`` as before (docs/crypto.md, "Native
backend").
"""

import os

from setuptools import Extension, setup

#: -Werror: a warning fails the build (CI builds from a clean clone). TULOU_NATIVE_CFLAGS adds
#: flags to compiling and linking, e.g. the sanitizer build of scripts/sanitize.sh.
_EXTRA = os.environ.get("TULOU_NATIVE_CFLAGS", "").split()
_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing", *_EXTRA]

setup(
    ext_modules=[
        Extension(
            "crypto._sm4x",
            ["crypto/_native/sm4x.c"],
            depends=[
                "crypto/_native/sm4_common.h",
                "crypto/_native/sm4_avx512.h",
                "crypto/_native/ghash_clmul.h",
                "crypto/_native/sm4_aesni.h",
                "crypto/_native/sm4_aesni_kernel.h",
                "crypto/_native/ghash_pclmul.h",
                "crypto/_native/sm4_gcm.h",
            ],
            extra_compile_args=_FLAGS,
            extra_link_args=_EXTRA,
        ),
        Extension(
            "crypto._sm3x",
            ["crypto/_native/sm3x.c"],
            depends=[
                "crypto/_native/sm3_core.h",
                "crypto/_native/sm3_mb.h",
                "crypto/_native/sm3_mb8.h",
                "crypto/_native/sm3_avx2.h",
            ],
            extra_compile_args=_FLAGS,
            extra_link_args=_EXTRA,
        ),
    ]
)
