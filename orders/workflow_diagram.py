"""Server-side SVG of the order flow (orders.workflow_selectors.Workflow) and of one order's path: no
script, no CDN, every word already in the reader's language. Boxes are links (a rule box opens the
rule's edit page, "waiting" opens the list of the orders waiting there)."""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

BOX_WIDTH = 196
COLUMN_GAP = 64
ROW_GAP = 18
LINE_HEIGHT = 15
PADDING = 8
FONT = "font-family: system-ui, 'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"
DASH = ' stroke-dasharray="6 3"'
COLORS = {
    "box": ("#ffffff", "#79aec8"),
    "rule": ("#f4f9fc", "#417690"),
    "shadow": ("#f8f8f8", "#999999"),
    "red": ("#fde8e8", "#ba2121"),
    "dead": ("#fff4e5", "#8a4b00"),
    "terminal": ("#eef6ee", "#2e7d32"),
}


def text_width(text: str, size: float = 11.5) -> float:
    """Rough rendered width: CJK and full-width characters are about one em, others about half."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.56 for ch in text)


def wrap(text: str, width: float, size: float = 11.5) -> list[str]:
    """Break text into lines that fit `width` pixels, at spaces where there are any, else anywhere
    (Chinese has no spaces)."""
    lines: list[str] = []
    current = ""
    for token in _tokens(text):
        candidate = current + token
        if current and text_width(candidate, size) > width:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        lines.append(current.rstrip())
    return lines or [""]


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    for ch in text:
        if unicodedata.east_asian_width(ch) in "WF":
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        elif ch == " ":
            tokens.append(word + " ")
            word = ""
        else:
            word += ch
    if word:
        tokens.append(word)
    return tokens


def duration(value: timedelta | None) -> str:
    """3 min, 2 h 5 min, 4 d 3 h: waits as ops read them."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return _("%(m)s min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)s d %(h)s h") % {"d": days, "h": hours}


@dataclass
class _Placed:
    x: float
    y: float
    height: float


def _box_text(box) -> tuple[list[tuple[str, str, str]], str]:
    """(text, css class, link) rows of a box, and its colour key."""
    rows: list[tuple[str, str, str]] = [(line, "title", "") for line in wrap(box.title, BOX_WIDTH - 2 * PADDING, 12.5)]
    for detail in box.lines:
        rows.extend((line, "detail", "") for line in wrap(detail, BOX_WIDTH - 2 * PADDING))
    f = box.figures
    rows.append((_("took: %(took)s") % {"took": f.took}, "figure", ""))
    if not box.terminal and not box.key.startswith(("channel:", "rule:")):
        rows.append((_("waiting now: %(count)s") % {"count": f.waiting}, "figure", box.list_url))
        if f.waiting:
            rows.append(
                (
                    _("median %(median)s · oldest %(oldest)s")
                    % {"median": duration(f.median_wait), "oldest": duration(f.oldest_wait)},
                    "figure",
                    "",
                )
            )
        if f.stranded:
            limit = duration(f.limit) if f.limit is not None else _("due time")
            rows.append((_("past the limit (%(limit)s): %(count)s") % {"limit": limit, "count": f.stranded}, "red", ""))
    if box.dead_end:
        rows.append((_("dead end: nothing drains it, no one is assigned"), "dead", ""))
    if box.dead_end:
        colour = "dead"
    elif box.red:
        colour = "red"
    elif box.terminal:
        colour = "terminal"
    elif box.shadow:
        colour = "shadow"
    elif box.key.startswith("rule:"):
        colour = "rule"
    else:
        colour = "box"
    return rows, colour


def workflow_svg(flow) -> SafeString:
    """The flow left to right, one column per step; edges are curves with their order counts."""
    by_column: dict[int, list] = defaultdict(list)
    for box in flow.boxes:
        by_column[box.column].append(box)
    placed: dict[str, _Placed] = {}
    texts = {box.key: _box_text(box) for box in flow.boxes}
    height = 0.0
    columns = sorted(by_column)
    for index, column in enumerate(columns):
        y = 40.0
        for box in by_column[column]:
            rows, _colour = texts[box.key]
            h = 2 * PADDING + LINE_HEIGHT * len(rows)
            placed[box.key] = _Placed(x=20 + index * (BOX_WIDTH + COLUMN_GAP), y=y, height=h)
            y += h + ROW_GAP
        height = max(height, y)
    width = 40 + len(columns) * (BOX_WIDTH + COLUMN_GAP) - COLUMN_GAP
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="workflow" width="{width:.0f}" height="{height + 20:.0f}" '
        f'viewBox="0 0 {width:.0f} {height + 20:.0f}" role="img" aria-label="{escape(_("Order workflow"))}" '
        f'style="{FONT}; font-size: 11.5px">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b73"/></marker></defs>',
    ]
    headings = {
        0: _("Channels"),
        1: _("Intake"),
        2: _("Rules, in the order they run"),
        3: _("To-do lists"),
        4: _("Held / waiting"),
        5: _("Lanes"),
        6: _("Print"),
        7: _("Scan"),
        8: _("Write-back"),
        9: _("Done"),
    }
    for index, column in enumerate(columns):
        x = 20 + index * (BOX_WIDTH + COLUMN_GAP)
        out.append(f'<text x="{x}" y="22" font-weight="bold" fill="#417690">{escape(headings.get(column, ""))}</text>')
    out.extend(_edge_svg(edge, placed) for edge in flow.edges if edge.source in placed and edge.target in placed)
    for box in flow.boxes:
        out.append(_box_svg(box, placed[box.key], *texts[box.key]))
    out.append("</svg>")
    # every text and attribute value above went through escape(); the rest is this module's markup
    return mark_safe("\n".join(out))  # noqa: S308


def _edge_svg(edge, placed: dict[str, _Placed]) -> str:
    a, b = placed[edge.source], placed[edge.target]
    if b.x > a.x:
        x1, y1 = a.x + BOX_WIDTH, a.y + min(a.height / 2, 24)
        x2, y2 = b.x, b.y + min(b.height / 2, 24)
        bend = (x2 - x1) / 2
        path = f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        lx, ly = (x1 + x2) / 2, (y1 + y2) / 2 - 3
    else:  # same column (on hold → awaiting stock): out on the right and back in below
        x1, y1 = a.x + BOX_WIDTH, a.y + a.height - 10
        x2, y2 = b.x + BOX_WIDTH, b.y + 10
        path = f"M{x1:.0f},{y1:.0f} C{x1 + 40:.0f},{y1:.0f} {x2 + 40:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        lx, ly = x1 + 24, (y1 + y2) / 2
    stroke = "#b7c3c9" if not edge.count else "#5b6b73"
    thickness = 1 if not edge.count else 1 + min(math.log10(edge.count + 1), 4)
    dash = ' stroke-dasharray="5 4"' if edge.shadow else ""
    label = escape(_("%(count)s (shadow)") % {"count": edge.count} if edge.shadow else str(edge.count))
    return (
        f'<g class="edge" data-source="{escape(edge.source)}" data-target="{escape(edge.target)}" '
        f'data-count="{edge.count}" data-shadow="{int(edge.shadow)}">'
        f'<path d="{path}" fill="none" stroke="{stroke}" stroke-width="{thickness:.1f}"{dash} '
        f'marker-end="url(#arrow)"/>'
        f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="10.5" fill="#333" text-anchor="middle" '
        f'paint-order="stroke" stroke="#fff" stroke-width="3">{label}</text></g>'
    )


def _box_svg(box, at: _Placed, rows: list[tuple[str, str, str]], colour: str) -> str:
    fill, stroke = COLORS[colour]
    classes = " ".join(c for c, on in (("red", box.red), ("dead-end", box.dead_end), ("shadow", box.shadow)) if on)
    parts = [
        f'<g class="box {classes}" id="box-{escape(box.key)}" data-key="{escape(box.key)}" '
        f'data-took="{box.figures.took}" data-waiting="{box.figures.waiting}" '
        f'data-stranded="{box.figures.stranded}" data-dead-end="{int(box.dead_end)}">'
    ]
    dash = DASH if box.shadow else ""
    rect = (
        f'<rect x="{at.x:.0f}" y="{at.y:.0f}" width="{BOX_WIDTH}" height="{at.height:.0f}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{2.5 if colour in ("red", "dead") else 1.2}"{dash}/>'
    )
    body = [rect]  # the box and its words: one link to the box's page (a rule's edit page, …)
    links = []  # "waiting now" rows: their own link, to the list of the orders waiting there
    if box.dead_end:  # the "no way out" bar on the right edge
        x = at.x + BOX_WIDTH + 6
        body.append(
            f'<line x1="{x:.0f}" y1="{at.y + 4:.0f}" x2="{x:.0f}" y2="{at.y + at.height - 4:.0f}" '
            f'stroke="{stroke}" stroke-width="4"/>'
        )
    styles = {
        "title": 'font-weight="bold" fill="#1c2b33" font-size="12.5"',
        "detail": 'fill="#445"',
        "figure": 'fill="#1c2b33"',
        "red": 'fill="#ba2121" font-weight="bold"',
        "dead": 'fill="#8a4b00" font-weight="bold"',
    }
    y = at.y + PADDING + 11
    for text, kind, link in rows:
        if link:
            links.append(
                f'<a href="{escape(link)}" class="waiting-link"><text x="{at.x + PADDING:.0f}" y="{y:.0f}" '
                f'text-decoration="underline" {styles[kind]}>{escape(text)}</text></a>'
            )
        else:
            body.append(f'<text x="{at.x + PADDING:.0f}" y="{y:.0f}" {styles[kind]}>{escape(text)}</text>')
        y += LINE_HEIGHT
    inner = "".join(body)
    parts.append(f'<a href="{escape(box.url)}" class="box-link">{inner}</a>' if box.url else inner)
    parts.extend(links)
    parts.append("</g>")
    return "".join(parts)


# ---- one order's path -----------------------------------------------------------------------------
PATH_PER_ROW = 5


def order_path_svg(steps) -> SafeString:
    """An order's steps (orders.workflow_selectors.order_path) as boxes in time order, left to right,
    wrapping every PATH_PER_ROW boxes, each joined to the next by an arrow."""
    placed: list[tuple[_Placed, list[tuple[str, str]]]] = []
    row_heights: list[float] = []
    for index, step in enumerate(steps):
        rows = [(line, "title") for line in wrap(step.title, BOX_WIDTH - 2 * PADDING, 12.5)]
        rows.append((step.at_text, "when"))
        for detail in step.lines:
            rows.extend((line, "detail") for line in wrap(detail, BOX_WIDTH - 2 * PADDING))
        h = 2 * PADDING + LINE_HEIGHT * len(rows)
        if index % PATH_PER_ROW == 0:
            row_heights.append(0.0)
        row_heights[-1] = max(row_heights[-1], h)
        placed.append((_Placed(x=0, y=0, height=h), rows))
    y_of_row = [20.0]
    for h in row_heights[:-1]:
        y_of_row.append(y_of_row[-1] + h + 40)
    for index, (at, _rows) in enumerate(placed):
        at.x = 20 + (index % PATH_PER_ROW) * (BOX_WIDTH + COLUMN_GAP)
        at.y = y_of_row[index // PATH_PER_ROW]
    width = 40 + min(len(steps), PATH_PER_ROW) * (BOX_WIDTH + COLUMN_GAP) - COLUMN_GAP
    height = (y_of_row[-1] + row_heights[-1] + 20) if row_heights else 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="order-path" width="{max(width, 300):.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {max(width, 300):.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(_("Order path"))}" style="{FONT}; font-size: 11.5px">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b73"/></marker></defs>',
    ]
    for index in range(1, len(placed)):
        a, b = placed[index - 1][0], placed[index][0]
        if b.y == a.y:
            path = f"M{a.x + BOX_WIDTH:.0f},{a.y + 20:.0f} L{b.x:.0f},{b.y + 20:.0f}"
        else:  # down to the next row's first box
            mid = a.y + a.height + 20
            path = (
                f"M{a.x + BOX_WIDTH / 2:.0f},{a.y + a.height:.0f} L{a.x + BOX_WIDTH / 2:.0f},{mid:.0f} "
                f"L{b.x + BOX_WIDTH / 2:.0f},{mid:.0f} L{b.x + BOX_WIDTH / 2:.0f},{b.y:.0f}"
            )
        out.append(f'<path d="{path}" fill="none" stroke="#5b6b73" stroke-width="1.5" marker-end="url(#arrow)"/>')
    styles = {
        "title": 'font-weight="bold" fill="#1c2b33" font-size="12.5"',
        "when": 'fill="#666"',
        "detail": 'fill="#445"',
    }
    for step, (at, rows) in zip(steps, placed, strict=True):
        fill, stroke = COLORS[step.colour]
        out.append(
            f'<g class="step" data-kind="{escape(step.kind)}"><rect x="{at.x:.0f}" y="{at.y:.0f}" '
            f'width="{BOX_WIDTH}" height="{at.height:.0f}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.2"'
            f"{DASH if step.colour == 'shadow' else ''}/>"
        )
        y = at.y + PADDING + 11
        for text, kind in rows:
            out.append(f'<text x="{at.x + PADDING:.0f}" y="{y:.0f}" {styles[kind]}>{escape(text)}</text>')
            y += LINE_HEIGHT
        out.append("</g>")
    out.append("</svg>")
    # every text and attribute value above went through escape(); the rest is this module's markup
    return mark_safe("\n".join(out))  # noqa: S308
