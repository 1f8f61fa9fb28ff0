"""Charts drawn on the server as SVG: no script, no external library, readable offline.

Each chart is a `Table` (the numbers behind it, also offered as XLSX) drawn as horizontal bars,
which stay legible at any width: labels sit above their bar, so a long commune name never
collides with the axis on a 390-pixel phone; the SVG scales to its container (viewBox, no fixed
width, at most 520 px wide), and a drawing 400 units wide keeps 14-unit text at 11 to 18 px
from a 390-pixel phone to an office screen.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from html import escape

WIDTH = 400
BAR = 18
ROW = 44
LINE = 17  # a label's further lines
LINE_CHARS = 46  # 14-unit text: about this many characters across the 400-unit drawing
PALETTE = ("#1f6f8b", "#e08e0b", "#3c9d5d", "#b23a48", "#6c5b7b", "#7f8c8d")


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[object]] = field(default_factory=list)
    note: str | None = None


def figure(value: object) -> float:
    """A table cell as a chart value: the tables hold counts and sums next to their labels."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"a chart value must be a number, not {type(value).__name__}")


def wrap(label: str, width: int = LINE_CHARS) -> list[str]:
    """A label as the lines it takes above its bar, broken between words, never inside one: a
    question without a short label is a whole sentence, and the drawing clips at its edge."""
    return textwrap.wrap(label, width, break_long_words=False, break_on_hyphens=False) or [""]


def _label(x: float, y: float, lines: list[str], extra: str = "") -> str:
    spans = "".join(
        f'<tspan x="{x}" dy="{0 if n == 0 else LINE}">{escape(line)}{escape(extra) if n == len(lines) - 1 else ""}</tspan>'
        for n, line in enumerate(lines)
    )
    return f'<text x="{x}" y="{y}" class="label">{spans}</text>'


def bars(rows: list[tuple[str, float]], *, unit: str = "", colour: str = PALETTE[0]) -> str:
    """Horizontal bars, label above each bar (on as many lines as it needs) and its value at the
    bar's end."""
    if not rows:
        return ""
    top = max(value for _, value in rows) or 1
    labels = [wrap(label) for label, _ in rows]
    height = sum(ROW + LINE * (len(lines) - 1) for lines in labels) + 8
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
    ]
    y = 4
    for (label, value), lines in zip(rows, labels, strict=True):
        length = max(2.0, (WIDTH - 90) * value / top)
        shown = f"{value:g}{unit}"
        parts.append(_label(0, y + 14, lines))
        y += LINE * (len(lines) - 1)
        parts.append(
            f'<rect x="0" y="{y + 20}" width="{length:.1f}" height="{BAR}" rx="3" fill="{colour}">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>"
        )
        parts.append(f'<text x="{length + 6:.1f}" y="{y + 34}" class="value">{escape(shown)}</text>')
        y += ROW
    parts.append("</svg>")
    return "".join(parts)


def stacked(rows: list[tuple[str, list[float]]], series: list[str]) -> str:
    """Horizontal stacked bars (e.g. statuses within each programme) with a legend."""
    if not rows:
        return ""
    top = max(sum(values) for _, values in rows) or 1
    legend_rows = -(-len(series) // 2)
    labels = [wrap(label, LINE_CHARS - 8) for label, _ in rows]  # room for the total after it
    height = sum(ROW + LINE * (len(lines) - 1) for lines in labels) + 22 * legend_rows + 12
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
    ]
    for n, name in enumerate(series):
        x, y = (n % 2) * 200, (n // 2) * 22 + 4
        parts.append(f'<rect x="{x}" y="{y}" width="14" height="14" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 20}" y="{y + 12}" class="legend">{escape(name)}</text>')
    y = 22 * legend_rows + 8
    for (_, values), lines in zip(rows, labels, strict=True):
        parts.append(_label(0, y + 14, lines, f" ({sum(values):g})"))
        y += LINE * (len(lines) - 1)
        left = 0.0
        for k, value in enumerate(values):
            if not value:
                continue
            length = (WIDTH - 10) * value / top
            parts.append(
                f'<rect x="{left:.1f}" y="{y + 20}" width="{length:.1f}" height="{BAR}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(series[k])}: {value:g}</title></rect>'
            )
            left += length
        y += ROW
    parts.append("</svg>")
    return "".join(parts)
