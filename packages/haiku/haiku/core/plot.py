"""A small server-side SVG line plot: series of (time, value) points, shared axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

__all__ = ["COLOURS", "svg_plot"]

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _fmt_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M")


def svg_plot(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str,
             width: int = 640, height: int = 240) -> str:
    left, right, top, bottom = 50, 10, 24, 30
    points = [p for values in series.values() for p in values]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>'
            f'<text x="{left}" y="16" font-size="13">{escape(title)}</text>')
    if not points:
        return head + (f'<text x="{left}" y="{height // 2}" font-size="12">not enough '
                       "samples yet</text></svg>")
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    v1 = max(1.0, *(p[1] for p in points))
    t1 = t1 if t1 > t0 else t0 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / v1 * plot_h

    out = [head,
           f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
           'stroke="#444"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
           f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end">{v1:g}</text>',
           f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>',
           f'<text x="{left}" y="{height - 8}" font-size="10">{_fmt_time(t0)}</text>',
           f'<text x="{left + plot_w}" y="{height - 8}" font-size="10" text-anchor="end">'
           f"{_fmt_time(t1)}</text>"]
    for i, (name, values) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in sorted(values))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                   f'points="{path}"><title>{escape(name)}</title></polyline>')
        out.append(f'<text x="{left + 8 + 150 * (i % 4)}" y="{top + 12 + 12 * (i // 4)}" '
                   f'font-size="10" fill="{colour}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
