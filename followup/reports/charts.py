"""Inline SVG charts for the HTML report: plain strings, no JavaScript, no fonts to load.

Pure functions of their data. Each chart is one `<svg role="img">` with a `<title>`
(what a screen reader and a hover show) and a `data-chart` attribute naming it, so a
test can find it; every mark carries its own `<title>` with the exact figure. Sizes
are in the SVG's own units with a `viewBox`, so a chart scales with the page and
prints sharp.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

__all__ = ["PALETTE", "bar_chart", "column_chart", "line_chart"]

PALETTE = {
    "open": "#de350b",
    "done": "#00875a",
    "bar": "#de350b",
    "column": "#0052cc",
    "axis": "#6b778c",
    "grid": "#dfe1e6",
    "text": "#172b4d",
}
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"

_e = html.escape


def _axis(value: int) -> tuple[int, int]:
    """(top, step) of a value axis: a round step (1, 2, 5, 10, 20, ...) giving at most
    five intervals, and the first multiple of it at or above `value`."""
    value = max(value, 1)
    step = 1
    while True:
        for factor in (1, 2, 5):
            if -(-value // (step * factor)) <= 5:
                size = step * factor
                return -(-value // size) * size, size
        step *= 10


def _ticks(axis: tuple[int, int]) -> list[int]:
    top, step = axis
    return list(range(0, top + 1, step))


def _open(name: str, title: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" data-chart="{_e(name)}"'
        f' viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet"'
        f' style="max-width:{width}px;{_FONT}"><title>{_e(title)}</title>'
    )


def _empty(name: str, title: str, width: int, height: int, message: str) -> str:
    return (
        _open(name, title, width, height)
        + f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" font-size="14"'
        f' fill="{PALETTE["axis"]}">{_e(message)}</text></svg>'
    )


def line_chart(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    width: int = 1000,
    height: int = 280,
) -> str:
    """Lines over evenly spaced points; `series` is (name, colour, values) per line."""
    if not labels or not series:
        return _empty(name, title, width, height, "No data yet")
    left, right, top, bottom = 44, 16, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    axis = _axis(max((max(v) for _, _, v in series if v), default=0))
    ymax = axis[0]
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / ymax

    parts = [_open(name, title, width, height)]
    for tick in _ticks(axis):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"'
            f' stroke="{PALETTE["grid"]}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11"'
            f' fill="{PALETTE["axis"]}">{tick}</text>'
        )
    every = max(1, math.ceil(n / 8))
    for i, label in enumerate(labels):
        # every `every`-th label and the last one, never two so close they overlap
        if i == n - 1 or (i % every == 0 and n - 1 - i >= every):
            # the first and last labels lean inwards, so neither is cut at the edge
            anchor = "end" if i == n - 1 and n > 1 else "start" if i == 0 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="{anchor}"'
                f' font-size="11" fill="{PALETTE["axis"]}">{_e(label)}</text>'
            )
    for s, (series_name, colour, values) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline data-series="{_e(series_name)}" fill="none" stroke="{colour}"'
            f' stroke-width="2.5" stroke-linejoin="round" points="{points}"/>'
        )
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                f"<title>{_e(series_name)} on {_e(labels[i])}: {v}</title></circle>"
            )
        lx = left + 8 + s * 110
        parts.append(
            f'<rect x="{lx}" y="8" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{lx + 18}" y="18" font-size="12" fill="{PALETTE["text"]}">'
            f"{_e(series_name)}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"'
        f' stroke="{PALETTE["axis"]}"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"'
        f' stroke="{PALETTE["axis"]}"/></svg>'
    )
    return "".join(parts)


def bar_chart(
    name: str,
    title: str,
    bars: Sequence[tuple[str, int]],
    *,
    colour: str = PALETTE["bar"],
    width: int = 480,
    empty: str = "Nothing to show",
) -> str:
    """Horizontal bars, one per (label, value), in the order given."""
    row, top = 26, 8
    height = max(60, top * 2 + row * len(bars))
    if not bars:
        return _empty(name, title, width, 60, empty)
    label_w, right = min(170, width // 3), 40
    plot_w = width - label_w - right
    vmax = max(v for _, v in bars) or 1
    parts = [_open(name, title, width, height)]
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        w = plot_w * value / vmax
        short = label if len(label) <= 24 else label[:23] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" font-size="12"'
            f' fill="{PALETTE["text"]}">{_e(short)}</text>'
            f'<rect data-value="{value}" x="{label_w}" y="{y + 4}" width="{max(w, 1.5):.1f}"'
            f' height="{row - 8}" rx="2" fill="{colour}"><title>{_e(label)}: {value}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}" font-size="12"'
            f' fill="{PALETTE["text"]}">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    name: str,
    title: str,
    columns: Sequence[tuple[str, int]],
    *,
    colour: str = PALETTE["column"],
    width: int = 480,
    height: int = 220,
) -> str:
    """Vertical columns, one per (label, value), in the order given."""
    if not columns:
        return _empty(name, title, width, height, "Nothing to show")
    left, right, top, bottom = 44, 16, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    axis = _axis(max(v for _, v in columns))
    ymax = axis[0]
    slot = plot_w / len(columns)
    parts = [_open(name, title, width, height)]
    for tick in _ticks(axis):
        y = top + plot_h - plot_h * tick / ymax
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"'
            f' stroke="{PALETTE["grid"]}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11"'
            f' fill="{PALETTE["axis"]}">{tick}</text>'
        )
    for i, (label, value) in enumerate(columns):
        h = plot_h * value / ymax
        x = left + i * slot + slot * 0.2
        y = top + plot_h - h
        parts.append(
            f'<rect data-value="{value}" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}"'
            f' height="{max(h, 0):.1f}" rx="2" fill="{colour}">'
            f"<title>{_e(label)}: {value}</title></rect>"
            f'<text x="{x + slot * 0.3:.1f}" y="{y - 4:.1f}" text-anchor="middle"'
            f' font-size="12" fill="{PALETTE["text"]}">{value}</text>'
            f'<text x="{x + slot * 0.3:.1f}" y="{height - bottom + 16}" text-anchor="middle"'
            f' font-size="11" fill="{PALETTE["axis"]}">{_e(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"'
        f' stroke="{PALETTE["axis"]}"/></svg>'
    )
    return "".join(parts)
