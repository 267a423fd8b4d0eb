"""Server-rendered SVG charts (no script, no library): bars with a text alternative.

Values are numbers and labels are escaped by the template engine's :class:`markupsafe.Markup`
formatting, so a chart can be inlined in a page as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[int]
    css_class: str  # colours come from console.css


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 720,
    height: int = 220,
) -> Markup:
    """Grouped bars, one group per label; the tallest value sets the scale."""
    left, bottom, top = 40, 30, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max((v for s in series for v in s.values), default=0) or 1
    group_w = plot_w / max(len(labels), 1)
    bar_w = max(1.0, (group_w - 2) / max(len(series), 1))
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
            'aria-label="{t}" class="chart-svg"><title>{t}</title>'
        ).format(w=width, h=height, t=title),
        Markup('<line x1="{x}" y1="{y}" x2="{x2}" y2="{y}" class="axis"/>').format(
            x=left, y=top + plot_h, x2=left + plot_w
        ),
        Markup('<text x="{x}" y="{y}" class="tick" text-anchor="end">{v}</text>').format(
            x=left - 4, y=top + 10, v=peak
        ),
        Markup('<text x="{x}" y="{y}" class="tick" text-anchor="end">0</text>').format(
            x=left - 4, y=top + plot_h
        ),
    ]
    for i, label in enumerate(labels):
        x0 = left + i * group_w + 1
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else 0
            h = plot_h * value / peak
            parts.append(
                Markup(
                    '<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                    'class="{c}"><title>{label} {name}: {v}</title></rect>'
                ).format(
                    x=x0 + j * bar_w,
                    y=top + plot_h - h,
                    w=bar_w,
                    h=h,
                    c=s.css_class,
                    label=label,
                    name=s.name,
                    v=value,
                )
            )
        if i % max(1, len(labels) // 8) == 0:
            parts.append(
                Markup('<text x="{x:.1f}" y="{y}" class="tick">{l}</text>').format(
                    x=x0, y=height - 10, l=label
                )
            )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def chart_table(labels: Sequence[str], series: Sequence[Series]) -> list[list[str]]:
    """The chart's figures as rows (its text alternative)."""
    return [[label, *(str(s.values[i]) for s in series)] for i, label in enumerate(labels)]


__all__ = ["Series", "bar_chart", "chart_table", "escape"]
