"""Build the native SM3/SM4 extensions; every other setting lives in pyproject.toml.

Both extensions compile on any x86-64 (or other) C compiler: the vector code carries per-function
``target`` attributes and is chosen at run time only when the CPU (and the OS) supports it, so
one build serves every machine. Where it is not supported, :mod:`crypto.sm3` and
:mod:`crypto.sm4` use OpenSSL through ``cryptography`` as before (docs/crypto.md, "Native
backend").
"""

from setuptools import Extension, setup

_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-fno-strict-aliasing"]

setup(
    ext_modules=[
        Extension("crypto._sm4x", ["crypto/_native/sm4x.c"], extra_compile_args=_FLAGS),
        Extension(
            "crypto._sm3x",
            ["crypto/_native/sm3x.c"],
            depends=["crypto/_native/sm3_core.h", "crypto/_native/sm3_mb.h"],
            extra_compile_args=_FLAGS,
        ),
    ]
)
