"""OrderHub's own warehouse documents as PDF: the pick list and the packing slips of a print batch.

These are built from plain data (the selectors gather it), so the layout can be tested without a
database. Marketplace labels are NOT drawn here: their encrypted print data can only be rendered by
the platform's print component in the packer's browser (shared/channels/shipping.md §0).

Chinese text uses reportlab's built-in STSong-Light CID font (no font file to ship); codes, numbers
and the barcode text use Helvetica so a scanner-facing value is never in a CJK font.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"


def _register_fonts() -> None:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


@dataclass(frozen=True)
class PickRow:
    """One order line to pick."""

    sku_code: str
    title: str
    quantity: int
    location: str
    order_ref: str


@dataclass(frozen=True)
class SlipLine:
    sku_code: str
    title: str
    quantity: int


@dataclass(frozen=True)
class PackingSlip:
    """One order's slip: what goes in the box and the barcode the outbound scanner reads."""

    order_ref: str
    barcode_value: str
    shop: str
    receiver: str
    buyer_message: str
    tracking_numbers: list[str]
    lines: list[SlipLine] = field(default_factory=list)


def _styles() -> dict[str, ParagraphStyle]:
    _register_fonts()
    return {
        "title": ParagraphStyle("title", fontName=CJK_FONT, fontSize=15, leading=19, spaceAfter=4),
        "meta": ParagraphStyle("meta", fontName=CJK_FONT, fontSize=9, leading=12, textColor=colors.HexColor("#444444")),
        "cell": ParagraphStyle("cell", fontName=CJK_FONT, fontSize=9, leading=11.5, wordWrap="CJK"),
        "head": ParagraphStyle("head", fontName=CJK_FONT, fontSize=9, leading=11.5, textColor=colors.white),
        "message": ParagraphStyle(
            "message",
            fontName=CJK_FONT,
            fontSize=10,
            leading=13,
            wordWrap="CJK",
            backColor=colors.HexColor("#fff6d5"),
            borderPadding=4,
        ),
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(header: list[str], rows: list[list], widths: list[float], styles: dict[str, ParagraphStyle]) -> Table:
    head = [Paragraph(_escape(h), styles["head"]) for h in header]
    table = Table([head, *rows], colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#417690")),
                ("FONTNAME", (0, 1), (-1, -1), LATIN_FONT),
                ("FONTSIZE", (0, 1), (-1, -1), 9),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f3f6f8")]),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
            ]
        )
    )
    return table


def _build(flowables: list[Flowable], *, title: str) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=title,
        author="OrderHub",
    )
    doc.build(flowables)
    return buffer.getvalue()


def pick_list_pdf(*, title: str, subtitle: str, rows: list[PickRow], generated_at: datetime) -> bytes:
    """A4 pick list: one table row per order line, sorted by location then SKU so the picker walks
    the shelves once (rows without a location go last)."""
    styles = _styles()
    ordered = sorted(rows, key=lambda r: (r.location == "", r.location, r.sku_code, r.order_ref))
    body = [
        [
            Paragraph(_escape(row.location or "—"), styles["cell"]),
            row.sku_code or "—",
            Paragraph(_escape(row.title), styles["cell"]),
            str(row.quantity),
            row.order_ref,
        ]
        for row in ordered
    ]
    total = sum(row.quantity for row in rows)
    header = [
        pgettext("pick list column", "Location"),
        pgettext("pick list column", "SKU"),
        pgettext("pick list column", "Title"),
        pgettext("pick list column", "Qty"),
        pgettext("pick list column", "Order"),
    ]
    flowables: list[Flowable] = [
        Paragraph(_escape(title), styles["title"]),
        Paragraph(
            _escape(
                _("%(subtitle)s · %(lines)d line(s), %(units)d unit(s) · printed %(at)s")
                % {"subtitle": subtitle, "lines": len(rows), "units": total, "at": f"{generated_at:%Y-%m-%d %H:%M}"}
            ),
            styles["meta"],
        ),
        Spacer(1, 4 * mm),
        _table(header, body, [28 * mm, 32 * mm, 70 * mm, 12 * mm, 40 * mm], styles),
    ]
    return _build(flowables, title=title)


class _Barcode(Flowable):
    """A Code128 barcode with its human-readable value underneath (the outbound scanner reads it)."""

    def __init__(self, value: str, *, bar_height: float = 14 * mm, bar_width: float = 0.38 * mm):
        super().__init__()
        self.value = value
        self.code = Code128(value, barHeight=bar_height, barWidth=bar_width, humanReadable=True, fontName=LATIN_FONT)
        self.width = self.code.width
        self.height = self.code.height

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        self.code.drawOn(self.canv, 0, 0)


def packing_slips_pdf(*, title: str, slips: list[PackingSlip]) -> bytes:
    """One A4 page per order: shop, receiver, parcel numbers, the lines to pack, the buyer's
    message highlighted, and a Code128 barcode of the order reference for the outbound scan."""
    styles = _styles()
    flowables: list[Flowable] = []
    for index, slip in enumerate(slips):
        if index:
            flowables.append(PageBreak())
        flowables += [
            Paragraph(_escape(_("Packing slip · %(ref)s") % {"ref": slip.order_ref}), styles["title"]),
            Paragraph(_escape(f"{slip.shop} · {slip.receiver}"), styles["meta"]),
        ]
        if slip.tracking_numbers:
            numbers = ", ".join(slip.tracking_numbers)
            flowables.append(Paragraph(_escape(_("Parcels: %(numbers)s") % {"numbers": numbers}), styles["meta"]))
        flowables += [Spacer(1, 3 * mm), _Barcode(slip.barcode_value), Spacer(1, 5 * mm)]
        body = [
            [line.sku_code or "—", Paragraph(_escape(line.title), styles["cell"]), str(line.quantity)]
            for line in slip.lines
        ]
        header = [
            pgettext("pick list column", "SKU"),
            pgettext("pick list column", "Title"),
            pgettext("pick list column", "Qty"),
        ]
        flowables.append(_table(header, body, [40 * mm, 122 * mm, 20 * mm], styles))
        if slip.buyer_message:
            flowables += [
                Spacer(1, 5 * mm),
                Paragraph(
                    _escape(_("Buyer's message: %(message)s") % {"message": slip.buyer_message}), styles["message"]
                ),
            ]
    if not flowables:
        flowables.append(Paragraph(_escape(_("No orders in this batch.")), styles["meta"]))
    return _build(flowables, title=title)
