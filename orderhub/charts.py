"""Server-side SVG charts for the admin dashboard: no JavaScript, no CDN, every bar a link.

Each chart is plain SVG built with format_html (so every label is escaped); the page stays readable
with scripts off and prints as it shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
HEIGHT = 200
LEFT = 44
BOTTOM = 24
TOP = 10


@dataclass(frozen=True)
class Bar:
    """One bar of a group: its value, the label its tooltip shows, and the list it links to (None:
    a bar without a link, for a reader who may not open that list)."""

    value: float
    title: str
    url: str | None
    css_class: str


@dataclass(frozen=True)
class Group:
    label: str
    bars: Sequence[Bar]


def _n(value: float) -> str:
    """An SVG coordinate (format_html escapes its arguments, so numbers go in as text)."""
    return f"{value:.1f}"


def _nice_top(value: float) -> float:
    """The smallest 1-2-5 step number at or above `value` (the axis top)."""
    if value <= 0:
        return 1
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _axis(top: float, unit: str) -> SafeString:
    plot_height = HEIGHT - TOP - BOTTOM
    rows = []
    for fraction in (0, 0.5, 1):
        y = TOP + plot_height * (1 - fraction)
        value = top * fraction
        label = f"{value:,.0f}{unit}" if value >= 10 or value == 0 else f"{value:,.1f}{unit}"
        rows.append((LEFT, _n(y), WIDTH, _n(y), LEFT - 4, _n(y + 4), label))
    return format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" text-anchor="end" class="tick">{}</text>',
        rows,
    )


def bar_chart(groups: Sequence[Group], *, label: str, unit: str = "", top: float | None = None) -> SafeString:
    """Grouped bars (one group a day), each bar a link with a tooltip; `top` fixes the axis (e.g. 100 %)."""
    if not groups:
        return mark_safe("")
    largest = max((bar.value for group in groups for bar in group.bars), default=0)
    top = top or _nice_top(largest)
    plot_width = WIDTH - LEFT - 4
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / len(groups)
    per_group = max(len(group.bars) for group in groups)
    bar_width = max(2.0, (slot * 0.8) / per_group)
    parts = [_axis(top, unit)]
    for index, group in enumerate(groups):
        x0 = LEFT + index * slot + slot * 0.1
        for position, bar in enumerate(group.bars):
            height = plot_height * min(bar.value, top) / top if top else 0
            rect = format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}</title></rect>',
                _n(x0 + position * bar_width),
                _n(TOP + plot_height - height),
                _n(bar_width - 1),
                _n(max(height, 0.5)),
                bar.css_class,
                bar.title,
            )
            parts.append(format_html('<a href="{}">{}</a>', bar.url, rect) if bar.url else rect)
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" class="tick">{}</text>',
                _n(x0 + slot * 0.4),
                HEIGHT - 6,
                group.label,
            )
        )
    return format_html(
        '<svg class="oh-chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">{}</svg>',
        WIDTH,
        HEIGHT,
        label,
        mark_safe("".join(parts)),  # noqa: S308 — each part built by format_html above
    )
