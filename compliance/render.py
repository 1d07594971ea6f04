"""HTML and PDF from ONE template (``templates/report.html.j2``), JSON from the same document.

The HTML is self-contained (CSS and SVG charts inline, no external resources), so the PDF that
WeasyPrint makes from it depends on nothing but the installed fonts (Debian ``fonts-noto-cjk``).
The JSON twin is the document itself, serialised canonically (sorted keys, UTF-8, LF).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from compliance import charts
from compliance.judge import STATUS_EN, STATUS_ZH
from tulou.errors import UnavailableError

TEMPLATES = Path(__file__).with_name("templates")
_GRADES = ("特别重大", "重大", "较大", "一般")


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _charts(doc: dict[str, Any]) -> dict[str, str]:
    out = {"status": "", "incidents": "", "drills": ""}
    if doc["kind"] == "compliance":
        rows = list(doc["summary"]["by_standard"].items())
        labels = {s: f"{STATUS_ZH[s]} {STATUS_EN[s]}" for s in STATUS_ZH}
        out["status"] = charts.status_bars(rows, labels)
        by_grade = doc["incidents"].get("by_grade") or {}
        if doc["incidents"].get("available"):
            out["incidents"] = charts.bar_chart(
                [(g, float(by_grade.get(g, 0))) for g in _GRADES], label="incidents by grade"
            )
        drills = doc["drills"].get("drills") or []
    elif doc["kind"] == "drill":
        drills = [doc["drill"]]
    else:
        drills = []
    rows3: list[tuple[str, float, float]] = []
    for d in drills:
        for what in ("rto", "rpo"):
            achieved, objective = d.get(f"{what}_achieved_s"), d.get(f"{what}_objective_s")
            if isinstance(achieved, int | float) and isinstance(objective, int | float):
                rows3.append((f"{d.get('id')} {what.upper()}", float(achieved), float(objective)))
    if rows3:
        out["drills"] = charts.objective_bars(rows3)
    return out


def render_html(doc: dict[str, Any]) -> str:
    template = _environment().get_template("report.html.j2")
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return template.render(doc=doc, css=css, charts=_charts(doc), status_en=STATUS_EN)


def render_pdf(html: str) -> bytes:
    """The PDF of ``html`` (WeasyPrint). Raises :class:`UnavailableError` without the engine."""
    try:
        from weasyprint import HTML  # noqa: PLC0415 - heavy import (pango), only when rendering
    except (ImportError, OSError) as exc:
        raise UnavailableError(
            f"the PDF engine (WeasyPrint + pango) is not available: {exc}"
        ) from exc
    pdf = HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without a target returns bytes
        raise UnavailableError("WeasyPrint returned no PDF")
    return pdf


def render_json(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")
