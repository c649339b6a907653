"""The database itself refuses an oversold or negative level, whatever code path tries."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from inventory.models import StockLevel
from inventory.tests.factories import make_sku, make_warehouse


@pytest.mark.parametrize(("on_hand", "reserved"), [(-1, 0), (5, -1), (3, 4)])
def test_level_check_constraints(db, on_hand, reserved):
    level = StockLevel.objects.create(sku=make_sku(), warehouse=make_warehouse(), on_hand=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(on_hand=on_hand, reserved=reserved)


def test_the_ledger_is_append_only(db):
    from inventory.tests.factories import stock

    stock(make_sku("LEDGER"), make_warehouse("L"), 3)
    from inventory.models import StockMovement

    movement = StockMovement.objects.get()
    movement.quantity = 300
    with pytest.raises(ValueError, match="append-only"):
        movement.save()
