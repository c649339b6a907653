"""Excel: stock level export; stocktake import with a dry-run preview that leaves nothing behind,
then count movements on confirm. xlsx cells arrive as strings."""

from __future__ import annotations

import io

import pytest
import tablib
from openpyxl import Workbook

from inventory.models import MovementKind, StockLevel, StockMovement
from inventory.resources import ReconciliationDiffResource, StockLevelResource, StocktakeResource
from inventory.tests.factories import ingest, make_channel, make_sku, make_warehouse, stock


def _xlsx(rows: list[list]) -> tablib.Dataset:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return tablib.Dataset().load(buffer.getvalue(), format="xlsx")


@pytest.fixture
def shelf(db):
    wh = make_warehouse("SH")
    a, b = make_sku("XL-A", name="青花瓷杯"), make_sku("XL-B")
    stock(a, wh, 10)
    stock(b, wh, 4)
    return wh, a, b


def test_stock_levels_export_to_xlsx(shelf):
    ingest(make_channel(), "E-1", [("", "XL-A", 3)])
    data = StockLevelResource().export()
    back = tablib.Dataset().load(data.export("xlsx"), format="xlsx")
    assert back.headers == ["sku", "name", "warehouse", "on_hand", "reserved", "available"]
    assert [list(map(str, r)) for r in back] == [
        ["XL-A", "青花瓷杯", "SH", "10", "3", "7"],
        ["XL-B", "商品 XL-B", "SH", "4", "0", "4"],
    ]


def test_stocktake_dry_run_previews_the_changes_and_writes_nothing(shelf):
    before = StockMovement.objects.count()
    dataset = _xlsx([["sku", "warehouse", "counted"], ["XL-A", "SH", "8"], ["XL-B", "SH", "4.0"]])
    result = StocktakeResource().import_data(dataset, dry_run=True)
    assert not result.has_errors() and not result.has_validation_errors()
    preview = [row.diff for row in result.rows]
    assert "-2" in str(preview[0]) and "8" in str(preview[0])
    assert StockMovement.objects.count() == before
    assert StockLevel.objects.get(sku__code="XL-A").on_hand == 10


def test_stocktake_import_turns_rows_into_count_movements(shelf):
    dataset = _xlsx([["sku", "warehouse", "counted"], ["XL-A", "SH", "8"], ["XL-B", "SH", 6]])
    result = StocktakeResource().import_data(dataset, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    counts = StockMovement.objects.filter(kind=MovementKind.COUNT).order_by("sku__code")
    assert [(m.sku.code, m.counted, m.quantity, m.balance_after) for m in counts] == [
        ("XL-A", 8, -2, 8),
        ("XL-B", 6, 2, 6),
    ]
    assert StockLevel.objects.get(sku__code="XL-B").on_hand == 6


@pytest.mark.parametrize(
    "row", [["NOPE", "SH", "1"], ["XL-A", "XX", "1"], ["XL-A", "SH", "-1"], ["XL-A", "SH", "1.5"], ["XL-A", "SH", "x"]]
)
def test_bad_stocktake_rows_are_reported_and_nothing_is_written(shelf, row):
    before = StockMovement.objects.count()
    dataset = _xlsx([["sku", "warehouse", "counted"], ["XL-B", "SH", "3"], row])
    result = StocktakeResource().import_data(dataset, dry_run=False)
    assert result.has_validation_errors() or result.has_errors()
    assert StockMovement.objects.count() == before  # the whole file rolls back


def test_reconciliation_diffs_export(shelf):
    from inventory import services

    StockLevel.objects.filter(sku__code="XL-B").update(on_hand=1)
    run = services.reconciliation_run()
    data = ReconciliationDiffResource().export(queryset=run.diffs.all())
    assert data.dict[0]["sku"] == "XL-B" and str(data.dict[0]["difference"]) == "-3"
    assert data.export("xlsx")
