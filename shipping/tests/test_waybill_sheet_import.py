"""Waybill sheet import (运单导入): the preview reports every kind of bad row on its column and changes
nothing; the import ships only the good rows through the scanner's dispatch (stock committed, order
states, one write-back and one buyer notice per order), a re-import changes nothing, Chinese headers
and carrier names are read, and OrderHub's own numbered parcels are shipped or protected."""

from __future__ import annotations

import io

import pytest
import tablib
from django.contrib.auth.models import Group, User
from django.utils import translation
from openpyxl import Workbook

from inventory.models import StockLevel
from orders.models import OrderState
from orders.services import order_cancel, order_hold
from shipping.models import BuyerNotice, Shipment, ShipmentState, WaybillImport, WriteBack
from shipping.resources import WaybillSheetResource
from shipping.services import parcels_create
from shipping.tests.conftest import account_on, assert_ledger_equals_levels, ingest, reload

HEADERS = ["order", "shop", "carrier", "tracking number", "lines (SKU × quantity)"]


def sheet(rows: list[list], headers: list[str] = HEADERS) -> tablib.Dataset:
    """The rows as an xlsx file read back by tablib, as the admin and the command read it."""
    book = Workbook()
    page = book.active
    page.append(headers)
    for row in rows:
        page.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return tablib.Dataset().load(buffer.getvalue(), format="xlsx")


def run(dataset: tablib.Dataset, *, dry_run: bool, user: User | None = None):
    return WaybillSheetResource().import_data(dataset, dry_run=dry_run, user=user, file_name="pickup.xlsx")


def errors_by_row(result) -> dict[int, dict[str, list[str]]]:
    return {row.number: {k: list(v) for k, v in row.error_dict.items()} for row in result.invalid_rows}


def good_numbers(result) -> list[str]:
    return [row.instance.tracking_number for row in result.valid_rows()]


def on_hand(code: str) -> tuple[int, int]:
    level = StockLevel.objects.get(sku__code=code)
    return level.on_hand, level.reserved


@pytest.fixture
def ops_user(db) -> User:
    user = User.objects.create_user("ops-importer", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="ops"))
    return user


@pytest.fixture
def world(shop, warehouse):
    """A manual shop with orders in every situation a sheet row can meet."""
    store = shop("manual")
    account_on(store, "ZTO")
    other = shop("manual")
    o = {
        "whole": ingest(store, lines=(("SKU-TEE-L", 2),)),
        "partial": ingest(store, lines=(("SKU-TEE-L", 2), ("SKU-MUG-1", 1))),
        "held": ingest(store),
        "cancelled": ingest(store),
        "shipped": ingest(store),
        "lines": ingest(store, lines=(("SKU-TEE-L", 1),)),
        "twin_a": ingest(store, external_id="TWIN-1"),
        "twin_b": ingest(other, external_id="TWIN-1"),
        "dup": ingest(store),
        "taken": ingest(store),
    }
    for order in o.values():
        assert order.state == OrderState.READY, order
    parcels_create(order_ids=[o["partial"].pk])  # a pending parcel the sheet's partial row replaces
    order_hold(order_id=o["held"].pk, actor=None, reason="buyer called")
    order_cancel(order_id=o["cancelled"].pk, actor=None, note="closed on the platform")
    run(sheet([[o["shipped"].external_id, "", "SF", "SF-EARLIER-1", ""]]), dry_run=False)
    run(sheet([[o["taken"].external_id, "", "YTO", "YT-TAKEN-1", "SKU-TEE-L × 1"]]), dry_run=False)
    return o


def mixed_rows(o: dict) -> list[list]:
    return [
        [o["whole"].external_id, "", "SF", "SF-1001", ""],  # 1 good
        [f"OH{o['partial'].pk}", "", "中通", "ZT-2002", "SKU-TEE-L × 1"],  # 2 good, partial
        ["NOPE-404", "", "SF", "SF-1003", ""],  # 3 unknown order
        ["TWIN-1", "", "SF", "SF-1004", ""],  # 4 ambiguous order
        [o["dup"].external_id, "", "火星快递", "MARS-1", ""],  # 5 unknown carrier
        [o["dup"].external_id, "", "顺丰速运 SF Express", "SF-1001", ""],  # 6 number twice in the sheet
        [o["taken"].external_id, "", "圆通", "YT-TAKEN-1", ""],  # 7 number already on a parcel
        [o["held"].external_id, "", "SF", "SF-1008", ""],  # 8 held
        [o["cancelled"].external_id, "", "SF", "SF-1009", ""],  # 9 cancelled
        [o["shipped"].external_id, "", "SF", "SF-1010", ""],  # 10 already shipped
        [o["lines"].external_id, "", "SF", "SF-1011", "SKU-CAP-9 × 1"],  # 11 line not on the order
        [o["lines"].external_id, "", "SF", "SF-1012", "SKU-TEE-L × 5"],  # 12 quantity too high
    ]


def assert_mixed_errors(result, o: dict) -> None:
    errors = errors_by_row(result)
    assert sorted(errors) == list(range(3, 13)), errors
    assert "No order NOPE-404." in errors[3]["order"]
    assert "names several orders" in errors[4]["order"][0]
    assert errors[5] == {"carrier": ["Unknown carrier 火星快递."]}
    assert errors[6] == {"tracking number": ["Tracking number SF-1001 is already in row 1 of this sheet."]}
    assert "YT-TAKEN-1" in errors[7]["tracking number"][0] and "already on parcel" in errors[7]["tracking number"][0]
    assert "is on hold (buyer called)" in errors[8]["order"][0]
    assert "is cancelled" in errors[9]["order"][0]
    assert "is already Shipped" in errors[10]["order"][0]
    assert "SKU-CAP-9 is not on order" in errors[11]["lines (SKU × quantity)"][0]
    assert "5 units asked, only 1" in errors[12]["lines (SKU × quantity)"][0]


@pytest.mark.django_db
def test_preview_reports_each_bad_row_on_its_column_and_changes_nothing(world):
    o = world
    before = (Shipment.objects.count(), WriteBack.objects.count(), BuyerNotice.objects.count(), on_hand("SKU-TEE-L"))
    with translation.override("en"):
        result = run(sheet(mixed_rows(o)), dry_run=True)
    assert not result.has_errors(), [e.error for e in result.base_errors]
    assert good_numbers(result) == ["SF-1001", "ZT-2002"]
    assert_mixed_errors(result, o)
    refused = {row.number: row.values for row in result.invalid_rows}  # shown under the preview's headers
    assert refused[3] == ("NOPE-404", "", "SF", "SF-1003", "") and refused[5][2] == "火星快递"
    after = (Shipment.objects.count(), WriteBack.objects.count(), BuyerNotice.objects.count(), on_hand("SKU-TEE-L"))
    assert after == before
    assert reload(o["whole"]).state == OrderState.READY
    assert not WaybillImport.objects.filter(file_name="pickup.xlsx").exclude(rows_total=1).exists()


@pytest.mark.django_db
def test_import_ships_only_the_good_rows_like_a_scan_and_a_reimport_changes_nothing(world, ops_user):
    o = world
    tee_before = on_hand("SKU-TEE-L")
    write_backs = WriteBack.objects.count()
    with translation.override("en"):
        result = run(sheet(mixed_rows(o)), dry_run=False, user=ops_user)
    assert_mixed_errors(result, o)

    whole = Shipment.objects.get(tracking_number="SF-1001")
    assert whole.state == ShipmentState.SHIPPED and whole.carrier.code == "SF" and whole.shipped_by_user == ops_user
    assert whole.account is None  # no e-waybill call: the number came from the sheet
    assert reload(o["whole"]).state == OrderState.SHIPPED
    partial = Shipment.objects.get(tracking_number="ZT-2002")
    assert list(partial.lines.values_list("order_line__sku_code", "quantity")) == [("SKU-TEE-L", 1)]
    assert reload(o["partial"]).state == OrderState.READY  # the rest still to print and ship
    pending = Shipment.objects.filter(lines__order=o["partial"], state=ShipmentState.PENDING).distinct()
    assert [sorted(s.lines.values_list("order_line__sku_code", "quantity")) for s in pending] == [
        [("SKU-MUG-1", 1), ("SKU-TEE-L", 1)]
    ]
    assert Shipment.objects.filter(lines__order=o["partial"], state=ShipmentState.VOIDED).distinct().count() == 1

    # exactly what a scan writes: one write-back and one shipped notice per order and parcel
    assert WriteBack.objects.count() == write_backs + 2
    for order, parcel in ((o["whole"], whole), (o["partial"], partial)):
        assert list(WriteBack.objects.filter(order=order).values_list("shipment_id", "state")) == [
            (parcel.pk, "pending")
        ]
        assert list(BuyerNotice.objects.filter(order=order).values_list("shipment_id", "event")) == [
            (parcel.pk, BuyerNotice.EVENT_SHIPPED)
        ]
    # stock committed from the reservations: 2 + 1 units of the tee left the shelf
    assert on_hand("SKU-TEE-L") == (tee_before[0] - 3, tee_before[1] - 3)
    assert_ledger_equals_levels()
    event = reload(o["whole"]).events.filter(kind="ship").get()
    assert event.actor == ops_user and "pickup.xlsx" in event.note

    record = WaybillImport.objects.order_by("-pk").first()
    assert (record.file_name, record.imported_by, record.rows_total, record.rows_shipped, record.rows_refused) == (
        "pickup.xlsx",
        ops_user,
        12,
        2,
        10,
    )
    assert whole.history.filter(history_user=ops_user).exists()

    # the same sheet again: every number is reported as a duplicate, nothing changes
    counts = (Shipment.objects.count(), WriteBack.objects.count(), on_hand("SKU-TEE-L"))
    with translation.override("en"):
        again = run(sheet(mixed_rows(o)), dry_run=False, user=ops_user)
    errors = errors_by_row(again)
    assert not again.valid_rows()
    assert "SF-1001" in errors[1]["tracking number"][0] and "already on parcel" in errors[1]["tracking number"][0]
    assert "ZT-2002" in errors[2]["tracking number"][0]
    assert (Shipment.objects.count(), WriteBack.objects.count(), on_hand("SKU-TEE-L")) == counts


@pytest.mark.django_db
def test_chinese_headers_and_carrier_names_are_read_and_errors_speak_chinese(world):
    o = world
    headers = ["订单号", "店铺", "快递公司", "运单号", "商品明细"]
    rows = [
        [o["whole"].external_id, "", "顺丰", "SF-CN-1", ""],
        ["TWIN-1", "自建商城", "中通", "ZT-CN-2", ""],  # still two shops of that name: ambiguous
        [o["lines"].external_id, "", "韵达", "YD-CN-3", "SKU-TEE-L＊1"],
        ["NOPE", "", "顺丰", "SF-CN-4", ""],
    ]
    with translation.override("zh-hans"):
        result = run(sheet(rows, headers), dry_run=False)
        assert result.diff_headers[:4] == ["订单号", "店铺", "快递公司", "运单号"]
    assert good_numbers(result) == ["SF-CN-1", "YD-CN-3"]
    errors = errors_by_row(result)
    assert "多个订单" in errors[2]["订单号"][0] or "店铺" in errors[2]["订单号"][0]
    assert errors[4]["订单号"] == ["没有订单 NOPE。"]
    assert Shipment.objects.get(tracking_number="SF-CN-1").carrier.code == "SF"
    assert Shipment.objects.get(tracking_number="YD-CN-3").carrier.code == "YUNDA"


@pytest.mark.django_db
def test_the_shop_column_settles_an_ambiguous_platform_order_id(world):
    o = world
    other = o["twin_b"].channel
    result = run(sheet([["TWIN-1", str(other.pk), "SF", "SF-TWIN", ""]]), dry_run=False)
    assert good_numbers(result) == ["SF-TWIN"]
    assert reload(o["twin_b"]).state == OrderState.SHIPPED
    assert reload(o["twin_a"]).state == OrderState.READY


@pytest.mark.django_db
def test_a_number_orderhub_issued_ships_that_parcel_and_another_number_is_refused(shop, warehouse):
    from shipping.services import number_parcels, parcels_mark_printed

    store = shop("taobao")
    account_on(store, "ZTO")
    order = ingest(store, lines=(("SKU-TEE-L", 1),))
    other = ingest(store, lines=(("SKU-MUG-1", 1),))
    (parcel,) = parcels_create(order_ids=[order.pk])
    (other_parcel,) = parcels_create(order_ids=[other.pk])
    number_parcels(shipment_ids=[parcel.pk, other_parcel.pk])
    parcels_mark_printed(shipment_ids=[parcel.pk, other_parcel.pk])
    parcel.refresh_from_db()
    other_parcel.refresh_from_db()
    rows = [
        [order.external_id, "", "ZTO", parcel.tracking_number, ""],
        [other.external_id, "", "SF", "SF-ELSEWHERE", ""],
    ]
    with translation.override("en"):
        result = run(sheet(rows), dry_run=False)
    assert good_numbers(result) == [parcel.tracking_number]
    parcel.refresh_from_db()
    assert parcel.state == ShipmentState.SHIPPED and reload(order).state == OrderState.SHIPPED
    assert WriteBack.objects.filter(shipment=parcel).count() == 1
    message = errors_by_row(result)[2]["order"][0]
    assert other_parcel.parcel_key in message and other_parcel.tracking_number in message
    other_parcel.refresh_from_db()
    assert other_parcel.state == ShipmentState.PRINTED and reload(other).state == OrderState.PRINTED


@pytest.mark.django_db
def test_a_user_without_the_import_permission_ships_nothing(world):
    o = world
    viewer = User.objects.create_user("viewer-x", password="x", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewer"))
    with translation.override("en"):
        result = run(sheet([[o["whole"].external_id, "", "SF", "SF-NOPE", ""]]), dry_run=False, user=viewer)
    assert errors_by_row(result)[1] == {"order": ["You may not import waybills."]}
    assert reload(o["whole"]).state == OrderState.READY


@pytest.mark.django_db
def test_a_manual_shops_printed_parcel_takes_the_sheets_number(shop, warehouse):
    """A manual shop's parcel is printed without a number (the carrier's label brings it): the sheet
    binds the number to that very parcel, as the scan's label number would."""
    from shipping.services import parcels_mark_printed

    store = shop("manual")
    account_on(store, "ZTO")
    order = ingest(store, lines=(("SKU-MUG-1", 3),))
    (parcel,) = parcels_create(order_ids=[order.pk])
    parcels_mark_printed(shipment_ids=[parcel.pk])
    assert reload(order).state == OrderState.PRINTED
    result = run(sheet([[f"OH{order.pk}", "", "ZTO", "ZT-LABEL-9", ""]]), dry_run=False)
    assert good_numbers(result) == ["ZT-LABEL-9"]
    parcel.refresh_from_db()
    assert (parcel.state, parcel.tracking_number, parcel.account_id is not None) == (
        ShipmentState.SHIPPED,
        "ZT-LABEL-9",
        True,
    )
    assert reload(order).state == OrderState.SHIPPED
    assert Shipment.objects.filter(lines__order=order).distinct().count() == 1  # no second parcel


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("SKU-TEE-L × 2; SKU-MUG-1", [("SKU-TEE-L", 2), ("SKU-MUG-1", 1)]),
        ("XL-A x 3，BOX2", [("XL-A", 3), ("BOX2", 1)]),  # a bare x counts only between spaces
        ("A*2；B：4\nC: 1", [("A", 2), ("B", 4), ("C", 1)]),
        ("", []),
    ],
)
def test_lines_are_read_the_ways_people_write_them(text, parsed):
    from shipping.resources import parse_lines

    assert parse_lines(text) == parsed
