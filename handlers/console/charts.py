"""Charts drawn on the server as SVG: no script, no external library, readable offline.

Each chart is a `Table` (the numbers behind it, also offered as XLSX) drawn as horizontal bars,
which stay legible at any width: labels sit above their bar, so a long commune name never
collides with the axis on a 390-pixel phone; the SVG scales to its container (viewBox, no fixed
width, at most 520 px wide), and a drawing 400 units wide keeps 14-unit text at 11 to 18 px
from a 390-pixel phone to an office screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

WIDTH = 400
BAR = 18
ROW = 44
PALETTE = ("#1f6f8b", "#e08e0b", "#3c9d5d", "#b23a48", "#6c5b7b", "#7f8c8d")


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[object]] = field(default_factory=list)
    note: str | None = None


def bars(rows: list[tuple[str, float]], *, unit: str = "", colour: str = PALETTE[0]) -> str:
    """Horizontal bars, label above each bar and its value at the bar's end."""
    if not rows:
        return ""
    top = max(value for _, value in rows) or 1
    height = ROW * len(rows) + 8
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
    ]
    for n, (label, value) in enumerate(rows):
        y = n * ROW + 4
        length = max(2.0, (WIDTH - 90) * value / top)
        shown = f"{value:g}{unit}"
        parts.append(f'<text x="0" y="{y + 14}" class="label">{escape(label)}</text>')
        parts.append(
            f'<rect x="0" y="{y + 20}" width="{length:.1f}" height="{BAR}" rx="3" fill="{colour}">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>"
        )
        parts.append(f'<text x="{length + 6:.1f}" y="{y + 34}" class="value">{escape(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked(rows: list[tuple[str, list[float]]], series: list[str]) -> str:
    """Horizontal stacked bars (e.g. statuses within each programme) with a legend."""
    if not rows:
        return ""
    top = max(sum(values) for _, values in rows) or 1
    legend_rows = -(-len(series) // 2)
    height = ROW * len(rows) + 22 * legend_rows + 12
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
    ]
    for n, name in enumerate(series):
        x, y = (n % 2) * 200, (n // 2) * 22 + 4
        parts.append(f'<rect x="{x}" y="{y}" width="14" height="14" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 20}" y="{y + 12}" class="legend">{escape(name)}</text>')
    offset = 22 * legend_rows + 8
    for n, (label, values) in enumerate(rows):
        y = offset + n * ROW
        parts.append(f'<text x="0" y="{y + 14}" class="label">{escape(label)} ({sum(values):g})</text>')
        x = 0.0
        for k, value in enumerate(values):
            if not value:
                continue
            length = (WIDTH - 10) * value / top
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 20}" width="{length:.1f}" height="{BAR}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(series[k])}: {value:g}</title></rect>'
            )
            x += length
    parts.append("</svg>")
    return "".join(parts)
