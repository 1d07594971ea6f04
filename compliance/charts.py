"""Charts as inline SVG, generated from the report document (no plotting library, no images).

Every function returns a complete ``<svg>`` element as text; all labels are escaped. The same
SVG goes into the HTML and, through WeasyPrint, into the PDF.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

#: Status colours (colour-blind safe: blue / orange / vermilion / grey).
STATUS_COLOURS = {
    "met": "#0072B2",
    "partially_met": "#E69F00",
    "not_met": "#D55E00",
    "not_applicable": "#999999",
}
_FONT = "Noto Sans CJK SC, WenQuanYi Zen Hei, sans-serif"


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        + "".join(body)
        + "</svg>"
    )


def _rect(x: float, y: float, w: float, h: float, style: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" {style}/>'


def _text(
    x: float, y: float, text: str, *, size: int = 11, anchor: str = "start", fill: str = "#111"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{fill}" font-family="{_FONT}">{escape(text)}</text>'
    )


def _width(text: str, size: int) -> float:
    """Rough rendered width: CJK glyphs are square, Latin ones about half as wide."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.56 for ch in text)


def status_bars(rows: Sequence[tuple[str, Mapping[str, int]]], labels: Mapping[str, str]) -> str:
    """One horizontal stacked bar per row (e.g. per standard): counts of each clause status."""
    width, left, bar_h, gap = 640, 170, 22, 14
    height = 30 + len(rows) * (bar_h + gap) + 30
    span = width - left - 20
    body: list[str] = []
    for i, (name, counts) in enumerate(rows):
        y = 20 + i * (bar_h + gap)
        total = sum(counts.values()) or 1
        body.append(_text(left - 8, y + bar_h * 0.7, name, anchor="end"))
        x = float(left)
        for status, colour in STATUS_COLOURS.items():
            n = counts.get(status, 0)
            if not n:
                continue
            w = span * n / total
            body.append(_rect(x, y, w, bar_h, f'fill="{colour}"'))
            body.append(_text(x + w / 2, y + bar_h * 0.7, str(n), anchor="middle", fill="#fff"))
            x += w
    legend_y = height - 14
    x = float(left)
    for status, colour in STATUS_COLOURS.items():
        body.append(_rect(x, legend_y - 9, 10, 10, f'fill="{colour}"'))
        text = labels.get(status, status)
        body.append(_text(x + 14, legend_y, text, size=10))
        x += 24 + _width(text, 10)
    return _svg(width, height, body, "clause status by standard")


def bar_chart(values: Sequence[tuple[str, float]], *, unit: str = "", label: str = "") -> str:
    """Vertical bars with their values on top (incidents by grade, alerts by level...)."""
    width, height, bottom, top = 640, 200, 30, 20
    slot = (width - 40) / max(len(values), 1)
    peak = max((v for _, v in values), default=0) or 1
    base = height - bottom
    body = [f'<line x1="20" y1="{base}" x2="{width - 20}" y2="{base}" stroke="#333"/>']
    for i, (name, value) in enumerate(values):
        h = (height - bottom - top) * value / peak
        x = 20 + i * slot + slot * 0.2
        body.append(_rect(x, base - h, slot * 0.6, h, 'fill="#0072B2"'))
        body.append(_text(x + slot * 0.3, base - h - 4, f"{value:g}{unit}", anchor="middle"))
        body.append(_text(x + slot * 0.3, base + 16, name, anchor="middle"))
    return _svg(width, height, body, label or "bar chart")


def objective_bars(rows: Sequence[tuple[str, float, float]], *, unit: str = "s") -> str:
    """Achieved against objective, one pair of bars per row (drill RTO / RPO)."""
    width, left, bar_h = 640, 170, 12
    height = 20 + len(rows) * 40 + 24
    peak = max((max(a, o) for _, a, o in rows), default=0) or 1
    scale = (width - left - 80) / peak
    body: list[str] = []
    for i, (name, achieved, objective) in enumerate(rows):
        y = 14 + i * 40
        colour = STATUS_COLOURS["met"] if achieved <= objective else STATUS_COLOURS["not_met"]
        body.append(_text(left - 8, y + 15, name, anchor="end"))
        body.append(_rect(left, y, achieved * scale, bar_h, f'fill="{colour}"'))
        body.append(_text(left + achieved * scale + 4, y + 10, f"{achieved:g}{unit}", size=10))
        dashed = 'fill="none" stroke="#333" stroke-dasharray="3,2"'
        body.append(_rect(left, y + bar_h + 2, objective * scale, bar_h, dashed))
        body.append(
            _text(left + objective * scale + 4, y + 2 * bar_h, f"{objective:g}{unit}", size=10)
        )
    body.append(
        _text(left, height - 6, "实测 achieved (filled) / 目标 objective (dashed)", size=10)
    )
    return _svg(width, height, body, "achieved against objective")
