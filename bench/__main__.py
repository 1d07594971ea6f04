"""``python -m bench <name> [args]``: run one benchmark module (``bench/<name>.py``)."""

from __future__ import annotations

import importlib.util
import runpy
import sys


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: python -m bench <name> [args...]   e.g. python -m bench crypto")
        return 2
    name = sys.argv[1]
    if not name.isidentifier():
        print(f"bench: not a benchmark name: {name!r}")
        return 2
    if importlib.util.find_spec(f"bench.{name}") is None:
        print(f"bench: no benchmark {name!r}")
        return 2
    sys.argv = [f"bench.{name}", *sys.argv[2:]]
    runpy.run_module(f"bench.{name}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
