"""Notes the inventory services store — reconciliation differences, their corrections, movement
notes — are codes with parameters: a Chinese reader reads them in Chinese on the admin pages and in
the Excel export, an English one in English, and the English text stays in the row's note column
(issue 12, point 5)."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from inventory import services
from inventory.models import InventoryEvent, ReconciliationDiff, StockLevel, StockMovement
from inventory.services.movements import record_movement
from inventory.tests.factories import make_sku, make_warehouse, stock

pytestmark = pytest.mark.django_db
ZH, EN = {"accept-language": "zh-hans"}, {"accept-language": "en"}


@pytest.fixture
def corrected():
    """A level whose on hand drifted from its ledger (10 → 13 by hand), found and corrected."""
    level = stock(make_sku("NOTE-A"), make_warehouse("SH"), 10)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=13)
    run = services.reconciliation_run(trigger="test")
    (diff,) = ReconciliationDiff.objects.filter(run=run)
    services.reconciliation_correct(diff_ids=[diff.pk])
    return run, ReconciliationDiff.objects.get(pk=diff.pk)


def test_stored_notes_keep_english_and_render_per_language(corrected):
    run, diff = corrected
    movement = diff.correction
    event = InventoryEvent.objects.get(data__diff_id=diff.pk)
    assert diff.note == "ledger sum vs on hand" and diff.wording == {"code": "stock.ledger_sum"}
    assert movement.note == f"reconciliation #{run.pk}: ledger 10 brought to on hand 13"
    with translation.override("zh-hans"):
        assert diff.note_text == "流水合计与在库不符"
        assert movement.note_text == f"对账 #{run.pk}：流水合计 10 调整为在库 13"
        assert event.text == "流水合计 ≠ 在库：应为 10、实际 13，已更正"
    with translation.override("en"):
        assert movement.note_text == movement.note
        assert event.text == "Ledger sum ≠ on hand: 10 vs 13 corrected"


def test_a_typed_note_reads_as_typed():
    make_sku("NOTE-B"), make_warehouse("GZ")
    record_movement(warehouse_code="GZ", sku_code="NOTE-B", kind="inbound", quantity=5, reference="t-1", note="到货")
    with translation.override("en"):
        assert StockMovement.objects.get(reference="t-1").note_text == "到货"


def test_admin_pages_and_export_show_the_notes_in_chinese(client, corrected):
    run, diff = corrected
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw-lead-12345"))
    pages = {
        reverse("admin:inventory_reconciliationdiff_changelist"): "流水合计与在库不符",
        reverse("admin:inventory_reconciliationrun_change", args=[run.pk]): "流水合计与在库不符",
        reverse("admin:inventory_stockmovement_change", args=[diff.correction_id]): f"对账 #{run.pk}：流水合计",
        reverse("admin:inventory_inventoryevent_changelist"): "已更正",
    }
    for url, chinese in pages.items():
        page = client.get(url, headers=ZH).content.decode()
        assert chinese in page and "brought to on hand" not in page and "ledger sum vs" not in page, url
    assert (
        "ledger sum vs on hand"
        in client.get(reverse("admin:inventory_reconciliationdiff_changelist"), headers=EN).content.decode()
    )

    export_url = reverse("admin:inventory_stockmovement_export") + "?source=reconciliation"
    form = client.get(export_url, headers=ZH).context["form"]
    xlsx = next(value for value, label in form.fields["format"].choices if label == "xlsx")
    fields = {f"stockmovementexportresource_{name}": "on" for name in ("reference", "note")}
    answer = client.post(export_url, {"format": str(xlsx), "resource": "0", **fields}, headers=ZH)
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert [cell.value for cell in sheet[1]] == ["单据号", "备注"]
    assert [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)] == [
        [f"diff:{diff.pk}", f"对账 #{run.pk}：流水合计 10 调整为在库 13"]
    ]


def test_a_movement_page_names_its_kind_and_source_in_the_readers_language(client, corrected):
    _run, diff = corrected
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw-lead-12345"))
    page = client.get(reverse("admin:inventory_stockmovement_change", args=[diff.correction_id]), headers=ZH)
    text = page.content.decode()
    assert "调整 +3 · NOTE-A@SH" in text and "adjustment +3" not in text  # the title, not "adjustment +3 3@2"
    assert "库存对账" in text  # the source the reconciliation wrote, not "reconciliation"
    changelist = client.get(reverse("admin:inventory_stockmovement_changelist"), headers=ZH).content.decode()
    assert re.search(r'href="\?source=reconciliation"[^>]*>\s*库存对账\s*<', changelist)  # the filter's choice
    with translation.override("en"):
        assert str(diff.correction) == "Adjustment +3 · NOTE-A@SH"


def test_the_quarantine_list_and_page_read_in_chinese(client):
    from django.db import transaction

    from inventory.models import QuarantineEntry
    from inventory.services import quarantine_record_in_transaction

    with transaction.atomic():
        entry = quarantine_record_in_transaction(
            warehouse=make_warehouse("QZ"), sku=make_sku("Q-1"), quantity=2, source="return", reference="r-1"
        )
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw-lead-12345"))
    for url in (
        reverse("admin:inventory_quarantineentry_changelist"),
        reverse("admin:inventory_quarantineentry_change", args=[entry.pk]),
    ):
        page = client.get(url, headers=ZH).content.decode()
        assert "破损" in page and "退货" in page and ">damaged<" not in page, url
    with translation.override("en"):
        assert str(QuarantineEntry.objects.get(pk=entry.pk)) == "Q-1@QZ × 2 (damaged)"
