"""Writing a signed report directory: JSON twin, HTML, PDF, then the signature over them.

Order matters: the three files are written to a temporary directory beside the target, signed
there, and only then renamed into place, so a crash never leaves a directory that looks complete
but is unsigned or half-written. An existing non-empty directory is refused (nothing is lost).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from compliance.render import render_html, render_json, render_pdf
from compliance.signing import sign_directory
from crypto.sm2 import SM2PrivateKey
from tulou.errors import UsageError


def write_report(doc: dict[str, Any], out: Path, key: SM2PrivateKey) -> dict[str, Any]:
    """Render ``doc`` into ``out`` (which must be absent or empty) and sign it."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty directory; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        html = render_html(doc)
        (staging / "report.json").write_bytes(render_json(doc))
        (staging / "report.html").write_text(html, encoding="utf-8")
        (staging / "report.pdf").write_bytes(render_pdf(html))
        manifest = sign_directory(staging, key)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
