"""The inventory admin pages open, and the 'correct' action turns diff lines into adjustments."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inventory import services
from inventory.models import ReconciliationDiff, StockLevel, StockMovement
from inventory.tests.factories import ingest, make_channel, make_listing, make_sku, make_warehouse, stock

PAGES = [
    "warehouse",
    "sku",
    "stocklevel",
    "stockmovement",
    "stockreservation",
    "channellisting",
    "stockpush",
    "inventoryevent",
    "reconciliationrun",
    "reconciliationdiff",
]


@pytest.fixture
def staff(db, client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", password="x")
    client.force_login(user)
    wh = make_warehouse("SH")
    sku = make_sku("ADM-1", name="紫砂壶")
    stock(sku, wh, 5)
    channel = make_channel()
    make_listing(channel, sku, "adm")
    ingest(channel, "A-1", [("adm", "", 1)])
    return client


@pytest.mark.parametrize("model", PAGES)
def test_changelists_open(staff, model):
    assert staff.get(reverse(f"admin:inventory_{model}_changelist")).status_code == 200


def test_stocktake_import_and_level_export_pages_open(staff):
    assert staff.get(reverse("admin:inventory_stockmovement_import")).status_code == 200
    assert staff.get(reverse("admin:inventory_stocklevel_export")).status_code == 200
    sku_id = StockLevel.objects.get().sku_id
    assert staff.get(reverse("admin:inventory_sku_change", args=[sku_id])).status_code == 200


def test_correct_action_turns_diff_lines_into_adjustments(staff):
    StockLevel.objects.update(on_hand=9)
    run = services.reconciliation_run()
    diff = run.diffs.get()
    response = staff.post(
        reverse("admin:inventory_reconciliationdiff_changelist"),
        {"action": "correct", "_selected_action": [diff.pk]},
    )
    assert response.status_code == 302
    assert ReconciliationDiff.objects.get(pk=diff.pk).corrected_at is not None
    assert StockMovement.objects.filter(source="reconciliation", quantity=4).exists()
    assert services.reconciliation_run().diff_count == 0


def test_stocktake_through_the_admin_previews_then_confirms(staff):
    import io
    import re

    from openpyxl import Workbook

    from inventory.models import MovementKind

    book = Workbook()
    book.active.append(["sku", "warehouse", "counted"])
    book.active.append(["ADM-1", "SH", "2"])
    data = io.BytesIO()
    book.save(data)
    upload = io.BytesIO(data.getvalue())
    upload.name = "stocktake.xlsx"
    url = reverse("admin:inventory_stockmovement_import")
    page = staff.get(url).content.decode()
    xlsx_choice = re.search(r'<option value="(\d+)">xlsx</option>', page).group(1)

    preview = staff.post(url, {"import_file": upload, "format": xlsx_choice, "resource": "0"})
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "ADM-1" in body and "import_file_name" in body
    assert not StockMovement.objects.filter(kind=MovementKind.COUNT).exists()  # the preview rolled back
    assert StockLevel.objects.get().on_hand == 5

    fields = dict(re.findall(r'name="(import_file_name|original_file_name|format|resource)" value="([^"]*)"', body))
    done = staff.post(reverse("admin:inventory_stockmovement_process_import"), fields)
    assert done.status_code == 302
    count = StockMovement.objects.get(kind=MovementKind.COUNT)
    assert (count.counted, count.quantity, count.actor.username) == (2, -3, "boss")
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == (2, 1)


def test_inventory_admin_in_chinese(staff):
    html = staff.get("/admin/inventory/sku/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for text in ("库存", "安全库存", "允许预售", "紫砂壶"):
        assert text in html
    StockLevel.objects.update(on_hand=9)
    services.reconciliation_run()
    html = staff.get("/admin/inventory/reconciliationdiff/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "修正所选差异" in html and "流水合计 ≠ 在库" in html
