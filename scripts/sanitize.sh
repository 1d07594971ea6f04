#!/usr/bin/env bash
# The native SM3/SM4 extensions under AddressSanitizer + UndefinedBehaviorSanitizer: build them
# again with -fsanitize=address,undefined into a throwaway copy of the tree and run the native
# differential tests (test_sm4_native, test_sm3_native, test_native) there. Any sanitizer
# report fails the run. docs/development.md, "Sanitizer job".
#
# Why it looks like this:
# - CPython is not built with ASan, so the ASan runtime must be loaded before anything else:
#   LD_PRELOAD of gcc's libasan.so (the UBSan runtime comes in as the extensions' dependency).
# - detect_leaks=0: CPython does not free its interned objects, types and arenas at exit, so
#   LeakSanitizer would report thousands of "leaks" that are not ours; ASan's overflow and
#   use-after-free checks are what this job is for (and CPython's own refcounts are tested
#   elsewhere: the buffer-release tests of test_sm3_native).
# - PYTHONMALLOC=malloc: every Python object from malloc, so ASan's red zones surround the
#   bytes objects our C writes into (pymalloc would hide small overflows inside its arenas).
# - -fno-sanitize-recover=all and halt_on_error: the first report aborts the process; the
#   tests that start subprocesses (one per other kernel) inherit the environment, and every
#   process writes its reports to $out/*.log, so a report in a child fails the job too.
set -euo pipefail
cd "$(dirname "$0")/.."
py="$PWD/.venv/bin/python"
out=$(mktemp -d /tmp/tulou-sanitize.XXXXXX)
trap 'rm -rf "$out"' EXIT
asan=$(gcc -print-file-name=libasan.so)
[[ -f "$asan" ]] || { echo "sanitize: gcc's libasan.so not found (Debian: libasan8)" >&2; exit 1; }

tar --exclude=./.venv --exclude=./var --exclude=./.git --exclude='*/__pycache__' \
    --exclude=./.hypothesis --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude='*.so' \
    -cf - . | tar -xf - -C "$out"
mkdir -p "$out/reports"
(
  cd "$out"
  TULOU_NATIVE_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1" \
    "$py" setup.py -q build_ext --inplace -j 2 >/dev/null
)
for so in "$out"/crypto/_sm3x.*.so "$out"/crypto/_sm4x.*.so; do
  nm -D "$so" | grep -q __asan_init || { echo "sanitize: $so is not instrumented" >&2; exit 1; }
done

status=0
(
  cd "$out"
  export LD_PRELOAD="$asan" PYTHONMALLOC=malloc
  export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:log_path=$out/reports/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$out/reports/ubsan"
  "$py" -m pytest -q -p no:cacheprovider tests/unit/crypto/test_sm4_native.py \
    tests/unit/crypto/test_sm3_native.py tests/unit/crypto/test_native.py "$@"
) || status=$?
if compgen -G "$out/reports/*" >/dev/null; then
  echo "sanitize: sanitizer reports:" >&2
  cat "$out"/reports/* >&2
  status=1
fi
exit "$status"
