#!/usr/bin/env bash
# Set up everything Tulou needs on a fresh Debian machine: system packages, Python 3.12, a
# virtualenv in .venv with Tulou and its dev tools. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# 1. Debian packages (the list is data: scripts/debian-packages.txt).
missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < scripts/debian-packages.txt
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Python 3.12 (pyenv's, selected by .python-version; mitmproxy 12 needs it).
find_python() {
  local candidate
  for candidate in "${TULOU_PYTHON:-}" "$(command -v pyenv >/dev/null && pyenv which python3.12 2>/dev/null || true)" \
      "$(command -v python3.12 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { echo "$candidate"; return 0; }
  done
  return 1
}
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
  py=$(find_python) || { log "Python 3.12 not found (install it with: pyenv install 3.12)"; exit 1; }
  log "creating .venv with $py"
  rm -rf .venv
  "$py" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi

# 3. Tulou (with its native SM3/SM4 extensions, built in place) and its dev tools, reinstalled
#    only when pyproject.toml, setup.py or the C sources changed.
stamp=.venv/.tulou-installed
want=$(find pyproject.toml setup.py crypto/_native -type f \( -name '*.toml' -o -name '*.py' -o -name '*.c' -o -name '*.h' \) -not -path '*/__pycache__/*' | sort | xargs cat | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]] || ! ls crypto/_sm4x.*.so crypto/_sm3x.*.so >/dev/null 2>&1; then
  log "installing Tulou and dev tools into .venv"
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi
# 4. The Lattigo bridge of the homomorphic statistics (docs/he.md): Go, modules from the Go
#    module proxy (checked against go.sum), rebuilt only when its sources changed.
he_src=crypto/he/lattigo
he_want=$(cat "$he_src/go.mod" "$he_src/go.sum" "$he_src"/*.go | sha256sum | cut -d' ' -f1)
if [[ ! -f crypto/he/_lattigo.so || "$(cat .venv/.tulou-lattigo 2>/dev/null)" != "$he_want" ]]; then
  command -v go >/dev/null || { log "Go >= 1.23 is needed for the Lattigo bridge (crypto/he)"; exit 1; }
  log "building the Lattigo bridge (crypto/he/_lattigo.so)"
  (cd "$he_src" && CGO_ENABLED=1 go build -mod=readonly -trimpath -buildmode=c-shared -o ../_lattigo.so .)
  rm -f crypto/he/_lattigo.h
  echo "$he_want" > .venv/.tulou-lattigo
fi
log "ready: $(.venv/bin/tulou version --json | tr -d '\n ' | cut -c1-120)"
