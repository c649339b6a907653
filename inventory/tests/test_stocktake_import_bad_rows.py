"""Stocktake import: every bad row is a row message naming the column (never a traceback), and a
file with any bad row writes nothing."""

from __future__ import annotations

import pytest

from inventory.models import StockLevel, StockMovement
from inventory.resources import StocktakeResource
from inventory.tests.test_excel_stock_export_and_stocktake_import import _xlsx, shelf  # noqa: F401


@pytest.mark.parametrize(
    "row",
    [
        ["XL-A", "SH", "Infinity"],
        ["XL-A", "SH", "-inf"],
        ["XL-A", "SH", "NaN"],
        ["XL-A", "SH", "1e20"],
        ["XL-A", "SH", str(2**31)],
        ["XL-A", "SH", 10**15],
        ["XL-A", "SH", "=1+2"],
        ["XL-A", "SH", None],
        ["XL-A", None, "3"],
        [None, "SH", "3"],
        ["XL-A" * 40, "SH", "3"],
    ],
)
def test_a_bad_row_is_a_validation_message_and_nothing_is_written(shelf, row):  # noqa: F811
    before = StockMovement.objects.count()
    dataset = _xlsx([["sku", "warehouse", "counted"], ["XL-B", "SH", "3"], row])
    result = StocktakeResource().import_data(dataset, dry_run=False)
    assert not result.has_errors(), [e.error for e in result.base_errors] + [
        e.error for _n, errs in result.row_errors() for e in errs
    ]
    assert result.has_validation_errors()
    assert StockMovement.objects.count() == before
    assert StockLevel.objects.get(sku__code="XL-B").on_hand == 4


def test_the_same_sku_and_warehouse_counted_twice_in_one_file_is_refused(shelf):  # noqa: F811
    before = StockMovement.objects.count()
    dataset = _xlsx([["sku", "warehouse", "counted"], ["XL-A", "SH", "8"], ["XL-B", "SH", "3"], ["XL-A", "SH", "9"]])
    result = StocktakeResource().import_data(dataset, dry_run=False)
    assert result.has_validation_errors()
    assert StockMovement.objects.count() == before
    assert StockLevel.objects.get(sku__code="XL-A").on_hand == 10
