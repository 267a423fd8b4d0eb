"""Horizontal bar charts for the KPI page as inline SVG, drawn on the server: no script, no CDN,
nothing the console's CSP (``script-src 'self'``, no inline style) would refuse. Presentation
attributes only (``fill``, ``x``...), every label escaped. Each chart is an ``img`` with a title
and a text description for screen readers; the numbers are also in the table beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH = 560
BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 180
VALUE_WIDTH = 90
TOP = 6
COLOURS = ("#1d4ed8", "#b45309", "#047857", "#9d174d", "#4338ca", "#0e7490")


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: Decimal  # what sets the length (negative values draw as zero)
    text: str  # what is written after the bar
    series: int = 0  # colour index (e.g. one per provider)


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars scaled to the largest value; an empty list says so in words."""
    if not bars:
        return Markup('<p class="hint">No data in this period.</p>')
    top = max((b.value for b in bars), default=Decimal(0))
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = TOP * 2 + len(bars) * (BAR_HEIGHT + GAP)
    desc = "; ".join(f"{b.label}: {b.text}" for b in bars)
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {h}" '
            'width="{w}" height="{h}" aria-labelledby="{i}-t {i}-d">'
            '<title id="{i}-t">{t}</title><desc id="{i}-d">{d}</desc>'
        ).format(w=WIDTH, h=height, i=chart_id, t=title, d=desc)
    ]
    for n, bar in enumerate(bars):
        y = TOP + n * (BAR_HEIGHT + GAP)
        length = 0 if top <= 0 or bar.value <= 0 else int(span * bar.value / top)
        colour = COLOURS[bar.series % len(COLOURS)]
        parts.append(
            Markup(
                '<text x="{lx}" y="{ty}" text-anchor="end" font-size="13" fill="#1f2328">{label}'
                '</text><rect x="{x}" y="{y}" width="{len}" height="{bh}" fill="{c}"></rect>'
                '<text x="{vx}" y="{ty}" font-size="13" fill="#1f2328">{text}</text>'
            ).format(
                lx=LABEL_WIDTH - 8,
                ty=y + BAR_HEIGHT - 6,
                label=_clip(bar.label),
                x=LABEL_WIDTH,
                y=y,
                len=max(length, 1),
                bh=BAR_HEIGHT,
                c=colour,
                vx=LABEL_WIDTH + max(length, 1) + 6,
                text=bar.text,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _clip(label: str, limit: int = 26) -> Markup:
    return escape(label if len(label) <= limit else label[: limit - 1] + "…")
