"""A print batch's own documents: the pick list PDF parses (pypdf) with one row per order line the
batch's parcels carry, Chinese included; packing slips have one page per order with its lines, the
buyer's message and the Code128 order barcode the outbound scan accepts."""

from __future__ import annotations

import io
import re
from datetime import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from pypdf import PdfReader

from orders.channels.base import NormalizedLine
from orders.tests.factories import make_channel
from shipping import selectors
from shipping.documents import PickRow, pick_list_pdf
from shipping.models import PrintBatch
from shipping.tests.print_factories import make_account, make_parcel, ready_order

ROW = re.compile(r"^(?P<sku>SKU-[A-Z0-9-]+)\n(?P<title>.+?)\n(?P<qty>\d+)\n(?P<ref>TAOBAO-E\d+)$", re.M | re.S)


def pdf_text(content: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(content))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def line(n: int, sku: str, title: str, quantity: int) -> NormalizedLine:
    return NormalizedLine(f"L{n}", f"10{n}", f"20{n}", sku, title, quantity, Decimal("10"))


@pytest.fixture
def batch(db):
    """Three orders, five lines with something to ship (one zero-quantity line), in three parcels:
    A alone, B split over two parcels, C merged with nothing else."""
    channel = make_channel(name="天猫旗舰店")
    account = make_account(channel)
    batch = PrintBatch.objects.create(account=account)
    order_a = ready_order(
        channel, buyer_message="请放快递柜", lines=[line(1, "SKU-TEA-250", "西湖龙井 250g 明前特级", 2)]
    )
    order_b = ready_order(
        channel,
        lines=[
            line(2, "SKU-CUP-01", "青瓷茶杯 两只装", 1),
            line(3, "SKU-POT-02", "紫砂壶 宜兴原矿", 1),
            line(4, "SKU-GIFT-00", "赠品（无需发货）", 0),
        ],
    )
    order_c = ready_order(
        channel,
        buyer_message="生日礼物，不要放发票",
        lines=[line(5, "SKU-TRAY-3", "竹制茶盘", 1), line(6, "SKU-CLOTH-9", "茶巾 棉麻", 3)],
    )
    make_parcel(account, [order_a], batch=batch, tracking_number="77315550001")
    b1, b2, _zero = order_b.lines.order_by("pk")
    make_parcel(account, [order_b], batch=batch, tracking_number="77315550002", lines=[(b1, 1)])
    make_parcel(account, [order_b], batch=batch, tracking_number="77315550003", lines=[(b2, 1)])
    make_parcel(account, [order_c], batch=batch, tracking_number="77315550004")
    return batch, [order_a, order_b, order_c]


def test_the_pick_list_pdf_parses_with_one_row_per_order_line(batch, admin_client):
    batch, (order_a, order_b, order_c) = batch
    response = admin_client.get(reverse("admin:shipping_printbatch_pick_list", args=[batch.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"

    _pages, text = pdf_text(response.content)
    rows = {(m["sku"], m["title"].replace("\n", ""), int(m["qty"]), m["ref"]) for m in ROW.finditer(text)}
    assert rows == {
        ("SKU-TEA-250", "西湖龙井 250g 明前特级", 2, f"TAOBAO-{order_a.external_id}"),
        ("SKU-CUP-01", "青瓷茶杯 两只装", 1, f"TAOBAO-{order_b.external_id}"),
        ("SKU-POT-02", "紫砂壶 宜兴原矿", 1, f"TAOBAO-{order_b.external_id}"),
        ("SKU-TRAY-3", "竹制茶盘", 1, f"TAOBAO-{order_c.external_id}"),
        ("SKU-CLOTH-9", "茶巾 棉麻", 3, f"TAOBAO-{order_c.external_id}"),
    }
    assert len(ROW.findall(text)) == 5  # one row per line, none twice, the zero-quantity gift left out
    assert "SKU-GIFT-00" not in text
    assert "5 line(s), 8 unit(s)" in text


def test_a_long_pick_list_runs_over_pages_and_still_has_one_row_per_line():
    rows = [
        PickRow(
            f"SKU-BULK-{n:03d}",
            f"批量商品第{n}号 规格 {n % 7} 码",
            n % 4 + 1,
            "WH-SH" if n % 2 else "",
            f"TAOBAO-E{n:08d}",
        )
        for n in range(120)
    ]
    pages, text = pdf_text(
        pick_list_pdf(title="拣货单", subtitle="中通", rows=rows, generated_at=datetime(2026, 11, 30))
    )
    assert pages > 1
    found = {(m["sku"], int(m["qty"]), m["ref"]) for m in ROW.finditer(text)}
    assert found == {(r.sku_code, r.quantity, r.order_ref) for r in rows}
    # the picker walks the shelves once: rows with a location first, in location then SKU order
    order = [m["sku"] for m in ROW.finditer(text)]
    assert order[:60] == sorted(r.sku_code for r in rows if r.location)


def test_packing_slips_have_a_page_per_order_with_lines_message_and_the_scannable_order_barcode(batch, admin_client):
    batch, orders = batch
    response = admin_client.get(reverse("admin:shipping_printbatch_packing_slips", args=[batch.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == len(orders)
    for page, order in zip(reader.pages, orders, strict=True):
        text = page.extract_text()
        assert f"Packing slip · TAOBAO-{order.external_id}" in text
        barcode = f"OH{order.pk}"
        assert barcode in text  # the human-readable line under the Code128 bars
        assert selectors.order_id_from_barcode(barcode) == order.pk  # what the outbound scan reads
        for order_line in order.lines.filter(quantity__gt=0):
            assert order_line.sku_code in text and order_line.title in text
        if order.buyer_message:
            assert order.buyer_message in text
    b_page = reader.pages[1].extract_text()
    assert "77315550002" in b_page and "77315550003" in b_page  # both of B's parcels


def test_documents_of_a_batch_need_view_permission(batch, client, django_user_model):
    batch, _orders = batch
    client.force_login(django_user_model.objects.create_user("nobody", password="pw-2026-none", is_staff=True))
    assert client.get(reverse("admin:shipping_printbatch_pick_list", args=[batch.pk])).status_code == 403
    assert client.get(reverse("admin:shipping_printbatch_packing_slips", args=[batch.pk])).status_code == 403
