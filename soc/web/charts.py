"""Inline SVG charts for the dashboard: no JavaScript, no CDN, readable without colour.

Every function returns SVG markup (marked safe for Jinja) with a ``<title>`` per bar so values
are readable on hover and by screen readers. Labels and values are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

BAR = "#0072B2"
ALT = "#D55E00"


def bars(
    values: Sequence[tuple[str, float]], *, width: int = 640, height: int = 200, unit: str = ""
) -> Markup:
    """A vertical bar chart of (label, value)."""
    if not values:
        return Markup('<p class="empty">no data in this window</p>')
    bottom, top = 40, 16
    peak = max(v for _, v in values) or 1.0
    slot = (width - 40) / len(values)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="100%" viewBox="0 0 {width} {height}">',
        f'<line x1="30" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
        'stroke="#333"/>',
    ]
    step = max(1, len(values) // 12)
    for i, (label, value) in enumerate(values):
        h = (height - bottom - top) * value / peak
        x = 30 + i * slot + slot * 0.15
        y = height - bottom - h
        text = escape(f"{label}: {value:g}{unit}")
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{BAR}"><title>{text}</title></rect>'
        )
        if i % step == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 14}" font-size="10">'
                f"{escape(label[-5:])}</text>"
            )
        if len(values) <= 12:
            parts.append(
                f'<text x="{x:.1f}" y="{y - 3:.1f}" font-size="10">{value:g}{escape(unit)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label and value is escaped above


def hbars(values: Sequence[tuple[str, float]], *, width: int = 640, unit: str = "") -> Markup:
    """A horizontal bar chart (long labels: rule ids)."""
    if not values:
        return Markup('<p class="empty">no data in this window</p>')
    row, left = 22, 260
    height = row * len(values) + 10
    peak = max(v for _, v in values) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="100%" viewBox="0 0 {width} {height}">'
    ]
    for i, (label, value) in enumerate(values):
        y = 5 + i * row
        w = (width - left - 60) * value / peak
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" font-size="11" text-anchor="end">'
            f"{escape(label[:40])}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{ALT}">'
            f"<title>{escape(label)}: {value:g}{escape(unit)}</title></rect>"
            f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="11">'
            f"{value:g}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label and value is escaped above
