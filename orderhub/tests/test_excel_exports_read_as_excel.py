"""Excel exports from the admin's filtered lists open as Excel expects: numbers in numeric cells, a
sheet named after the list, headers in the user's language (issue 12, point 4)."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from import_export.formats.base_formats import XLSX

from inventory.models import ReconciliationDiff, ReconciliationRun
from inventory.tests.factories import make_sku, make_warehouse, stock
from orders.models import OrderState
from orders.tests.factories import make_channel, make_order_in_state

pytestmark = pytest.mark.django_db
ZH = {"accept-language": "zh-hans"}


def _admin(client):
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw-lead-12345"))
    return client


def export_xlsx(client, changelist: str, resource: str, fields: list[str], query: str = "") -> openpyxl.Workbook:
    """Export the (filtered) list as xlsx through the admin's export form, as a person does."""
    export_url = reverse(changelist.replace("_changelist", "_export")) + query
    admin = client.get(export_url, headers=ZH).context["form"]
    xlsx = next(value for value, label in admin.fields["format"].choices if label == XLSX().get_title())
    data = {"format": str(xlsx), "resource": "0"}
    data |= {f"{resource.lower()}_{name}": "on" for name in fields}
    answer = client.post(export_url, data, headers=ZH)
    assert answer.status_code == 200 and answer["Content-Type"].startswith("application/vnd"), (
        answer.context and answer.context["form"].errors
    )
    return openpyxl.load_workbook(io.BytesIO(answer.content))


def test_orders_export_numbers_as_numbers_in_a_named_sheet_with_chinese_headers(client):
    channel = make_channel()
    ready = make_order_in_state(channel, OrderState.READY)
    make_order_in_state(channel, OrderState.ON_HOLD)
    fields = ["id", "external_id", "state", "paid_amount", "goods_amount", "paid_at"]
    book = export_xlsx(
        _admin(client), "admin:orders_order_changelist", "OrderExportResource", fields, "?state__exact=ready"
    )
    sheet = book.active
    assert sheet.title == "订单"
    headers = [cell.value for cell in sheet[1]]
    assert headers == ["订单编号", "平台订单号", "状态", "商品总额", "实付金额", "付款时间"]
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 1  # the filter applies: only the ready order
    cells = dict(zip(headers, rows[0], strict=True))
    assert cells["订单编号"].data_type == "n" and cells["订单编号"].value == ready.pk
    assert cells["实付金额"].data_type == "n" and Decimal(str(cells["实付金额"].value)) == Decimal("178.00")
    assert cells["付款时间"].is_date
    assert cells["状态"].value == "待打印"  # the state in words, not its code


def test_stock_export_numbers_as_numbers_with_chinese_headers(client):
    sku, warehouse = make_sku("XL-A", name="青花瓷杯"), make_warehouse("SH")
    stock(sku, warehouse, 10)
    fields = ["sku", "sku_name", "warehouse", "on_hand", "reserved", "available"]
    sheet = export_xlsx(_admin(client), "admin:inventory_stocklevel_changelist", "StockLevelResource", fields).active
    assert sheet.title == "库存"
    assert [cell.value for cell in sheet[1]] == ["商品编码", "商品名称", "仓库", "在库数量", "已锁定", "可用数量"]
    row = next(sheet.iter_rows(min_row=2))
    assert [(cell.value, cell.data_type) for cell in row[3:]] == [(10, "n"), (0, "n"), (10, "n")]


def test_reconciliation_export_numbers_as_numbers_with_chinese_headers(client):
    sku, warehouse = make_sku("XL-B"), make_warehouse("BJ")
    run = ReconciliationRun.objects.create()
    ReconciliationDiff.objects.create(run=run, kind="ledger", sku=sku, warehouse=warehouse, expected=5, actual=3)
    fields = ["run", "kind", "sku", "expected", "actual", "difference"]
    sheet = export_xlsx(
        _admin(client), "admin:inventory_reconciliationdiff_changelist", "ReconciliationDiffResource", fields
    ).active
    assert sheet.title == "对账差异"
    headers = [cell.value for cell in sheet[1]]
    assert headers == ["对账批次", "差异类型", "商品编码", "应为", "实际", "差额"]
    row = next(sheet.iter_rows(min_row=2))
    assert [(cell.value, cell.data_type) for cell in row[3:]] == [(5, "n"), (3, "n"), (-2, "n")]
    assert row[0].data_type == "n"


def test_stock_movement_export_follows_the_filter_with_numbers_and_chinese_headers(client):
    from inventory.models import MovementKind, StockMovement

    sku, warehouse = make_sku("XL-M", name="青花瓷碗"), make_warehouse("GZ")
    StockMovement.objects.create(
        warehouse=warehouse, sku=sku, kind=MovementKind.INBOUND, quantity=12, balance_after=12, reference="r-1"
    )
    StockMovement.objects.create(
        warehouse=warehouse,
        sku=sku,
        kind=MovementKind.COUNT,
        quantity=-2,
        counted=10,
        balance_after=10,
        reference="c-1",
    )
    fields = ["kind", "sku", "warehouse", "quantity", "counted", "balance_after"]
    sheet = export_xlsx(
        _admin(client),
        "admin:inventory_stockmovement_changelist",
        "StockMovementExportResource",
        fields,
        f"?kind__exact={MovementKind.COUNT}",
    ).active
    assert sheet.title == "库存流水"
    assert [cell.value for cell in sheet[1]] == ["流水类型", "商品编码", "仓库", "在库变动", "盘点数量", "变动后在库"]
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 1  # the filter applies: only the count
    assert rows[0][0].value == str(MovementKind.COUNT.label) and rows[0][1].value == "XL-M"
    assert [(cell.value, cell.data_type) for cell in rows[0][3:]] == [(-2, "n"), (10, "n"), (10, "n")]


def test_write_back_export_follows_the_filter_with_numbers_and_chinese_headers(client):
    from shipping.models import Carrier, OutboxState, Shipment, WriteBack, WriteBackFailure

    channel = make_channel()
    carrier = Carrier.objects.get(code="ZTO")
    rows = []
    for number, state in (("ZT100", OutboxState.FAILED), ("ZT200", OutboxState.DONE)):
        order = make_order_in_state(channel, OrderState.SHIPPED)
        parcel = Shipment.objects.create(
            parcel_key=f"key-{number}", channel=channel, carrier=carrier, tracking_number=number
        )
        rows.append(
            WriteBack.objects.create(
                shipment=parcel,
                order=order,
                state=state,
                attempts=5,
                failure=WriteBackFailure.DEAD_LETTER if state == OutboxState.FAILED else "",
            )
        )
    fields = ["id", "external_id", "tracking_number", "state", "failure", "attempts"]
    sheet = export_xlsx(
        _admin(client), "admin:shipping_writeback_changelist", "WriteBackExportResource", fields, "?state__exact=failed"
    ).active
    assert sheet.title == "回传"
    assert [cell.value for cell in sheet[1]] == ["回传编号", "平台订单号", "运单号", "状态", "失败原因", "失败次数"]
    (row,) = sheet.iter_rows(min_row=2)  # the filter applies: only the failed one
    assert (row[0].value, row[0].data_type) == (rows[0].pk, "n")
    assert row[2].value == "ZT100"
    assert row[3].value == str(OutboxState.FAILED.label) and row[4].value == str(WriteBackFailure.DEAD_LETTER.label)
    assert (row[5].value, row[5].data_type) == (5, "n")


@pytest.mark.parametrize(
    ("changelist", "permission"),
    [
        ("admin:inventory_stockmovement_changelist", "view_stockmovement"),
        ("admin:shipping_writeback_changelist", "view_writeback"),
    ],
)
def test_movement_and_write_back_exports_need_the_view_permission(client, changelist, permission):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("clerk", password="pw-clerk-12345", is_staff=True)
    client.force_login(user)
    export_url = reverse(changelist.replace("_changelist", "_export"))
    assert client.get(export_url).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename=permission))
    assert client.get(export_url).status_code == 200
