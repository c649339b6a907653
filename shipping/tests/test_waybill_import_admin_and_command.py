"""The waybill sheet import page and command: a warehouse user previews a sheet with a bad row, confirms
and only the good row ships (audited: import record, admin log, parcel history); other roles get 403;
a file that is not a sheet (wrong format, empty, columns missing) is a clear form error; the template
downloads with headers in the user's language; `import_waybills --dry-run` changes nothing."""

from __future__ import annotations

import io
import re

import pytest
import tablib
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook

from orders.models import OrderState
from shipping.models import Shipment, WaybillImport, WriteBack
from shipping.resources import COLUMNS, normalise
from shipping.tests.conftest import ingest, reload

IMPORT_URL = "admin:shipping_waybillimport_import"


def xlsx(rows: list[list], name: str = "pickup.xlsx") -> io.BytesIO:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    upload = io.BytesIO(data.getvalue())
    upload.name = name
    return upload


def client_as(role: str) -> tuple[Client, User]:
    user = User.objects.create_user(f"u-{role}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client, user


def format_choice(page: str, name: str) -> str:
    return re.search(rf'<option value="(\d+)">{name}</option>', page).group(1)


@pytest.fixture
def orders(shop, warehouse):
    store = shop("manual")
    return ingest(store), ingest(store)


@pytest.mark.django_db
def test_preview_then_confirm_ships_only_the_good_rows_and_is_audited(orders):
    good, held = orders
    from orders.services import order_hold

    order_hold(order_id=held.pk, actor=None, reason="地址待确认")
    client, user = client_as("warehouse")
    url = reverse(IMPORT_URL)
    page = client.get(url).content.decode()
    assert "Download the template" in page and "tracking number" in page
    upload = xlsx(
        [
            ["order", "carrier", "tracking number"],
            [good.external_id, "顺丰", "SF-ADMIN-1"],
            [held.external_id, "SF", "SF-ADMIN-2"],
        ]
    )
    preview = client.post(url, {"import_file": upload, "format": format_choice(page, "xlsx"), "resource": "0"})
    body = preview.content.decode()
    assert preview.status_code == 200
    assert "is on hold (地址待确认)" in body  # the bad row's reason, on its row
    assert "SF-ADMIN-1" in body and "Confirm import" in body  # the good row can still be imported
    assert "1 row can be shipped." in body and "1 row is refused and will be left out." in body
    assert not Shipment.objects.filter(tracking_number__startswith="SF-ADMIN").exists()  # preview rolled back

    fields = dict(re.findall(r'name="(import_file_name|original_file_name|format|resource)" value="([^"]*)"', body))
    done = client.post(reverse("admin:shipping_waybillimport_process_import"), fields)
    assert done.status_code == 302
    parcel = Shipment.objects.get(tracking_number="SF-ADMIN-1")
    assert reload(good).state == OrderState.SHIPPED and reload(held).state == OrderState.ON_HOLD
    assert WriteBack.objects.filter(shipment=parcel).count() == 1
    record = WaybillImport.objects.get()
    assert (record.file_name, record.imported_by, record.rows_shipped, record.rows_refused) == (
        "pickup.xlsx",
        user,
        1,
        1,
    )
    assert LogEntry.objects.filter(user=user, object_id=str(parcel.pk)).exists()
    assert parcel.history.filter(history_user=user).exists()
    listing = client.get(reverse("admin:shipping_waybillimport_change", args=[record.pk])).content.decode()
    assert "SF-ADMIN-2" in listing and "is on hold" in listing


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "finance", "rule admin"])
def test_roles_without_the_import_permission_get_403(role, orders):
    client, _user = client_as(role)
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert client.post(reverse("admin:shipping_waybillimport_process_import"), {}).status_code == 403
    assert client.get(reverse("admin:shipping_waybillimport_template", args=["xlsx"])).status_code == 403


@pytest.mark.django_db
def test_ops_may_import_too(orders):
    client, _user = client_as("ops")
    assert client.get(reverse(IMPORT_URL)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "chosen", "message"),
    [
        (b"order,carrier,tracking number\n1,SF,X\n", "xlsx", "This is not a readable XLSX file"),
        (b"", "csv", "The submitted file is empty."),
        (b"   \n", "csv", "The file is empty."),
        (b"order,carrier\nOH1,SF\n", "csv", "The sheet has no column for: tracking number."),
        (b"order,carrier,tracking number\n", "csv", "The sheet has headers but no rows."),
        (b"\x00\x01binary", "xlsx", "This is not a readable XLSX file"),
    ],
)
def test_a_file_that_is_not_a_waybill_sheet_is_a_form_error(orders, content, chosen, message):
    client, _user = client_as("warehouse")
    url = reverse(IMPORT_URL)
    page = client.get(url).content.decode()
    upload = io.BytesIO(content)
    upload.name = f"sheet.{chosen}"
    answer = client.post(url, {"import_file": upload, "format": format_choice(page, chosen), "resource": "0"})
    assert answer.status_code == 200
    assert message in answer.content.decode()
    assert "Confirm import" not in answer.content.decode()
    assert not WaybillImport.objects.exists()


@pytest.mark.django_db
def test_template_downloads_with_headers_in_the_users_language_and_imports_back(orders):
    client, _user = client_as("warehouse")
    url = reverse("admin:shipping_waybillimport_template", args=["xlsx"])
    english = tablib.Dataset().load(client.get(url).content, format="xlsx")
    assert english.headers == ["order", "shop", "carrier", "tracking number", "lines (SKU × quantity)"]
    chinese = tablib.Dataset().load(client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content, format="xlsx")
    assert chinese.headers == ["订单号", "店铺", "快递公司", "运单号", "商品明细（编码 × 数量）"]
    csv = client.get(reverse("admin:shipping_waybillimport_template", args=["csv"]))
    assert csv.content.decode("utf-8-sig").startswith("order,shop,carrier")
    # either template, filled in as it comes, reads back with every column recognised
    for template in (english, chinese):
        assert normalise(template).headers == list(COLUMNS)


@pytest.mark.django_db
def test_the_import_page_speaks_chinese(orders):
    client, _user = client_as("warehouse")
    page = client.get(reverse(IMPORT_URL), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "下载模板" in page and "快递公司" in page and "运单号" in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_import_waybills_command_dry_run_changes_nothing_then_imports(orders, tmp_path):
    good, _other = orders
    path = tmp_path / "carrier-pickup.csv"
    path.write_text(f"订单号,快递公司,运单号\n{good.external_id},中通,ZT-CMD-1\nNOPE,中通,ZT-CMD-2\n", encoding="utf-8")
    out = io.StringIO()
    call_command("import_waybills", str(path), "--dry-run", "--no-progress", stdout=out)
    assert "would ship 1, refused 1" in out.getvalue() and "NOPE" in out.getvalue()
    assert not Shipment.objects.filter(tracking_number="ZT-CMD-1").exists()
    assert not WaybillImport.objects.exists()

    out = io.StringIO()
    err = io.StringIO()
    call_command("import_waybills", str(path), stdout=out, stderr=err)
    assert "shipped 1, refused 1" in out.getvalue()
    assert "2/2" in err.getvalue()  # the progress bar
    assert reload(good).state == OrderState.SHIPPED
    record = WaybillImport.objects.get()
    assert (record.source, record.file_name, record.rows_shipped) == ("command", "carrier-pickup.csv", 1)


@pytest.mark.django_db
def test_import_waybills_command_refuses_a_file_that_is_not_a_sheet(tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "notes.xlsx"
    path.write_text("hello", encoding="utf-8")
    with translation.override("en"), pytest.raises(CommandError, match="not a readable XLSX file"):
        call_command("import_waybills", str(path), "--no-progress")


@pytest.mark.django_db
def test_the_import_list_offers_import_and_template_to_those_who_may_import(orders):
    client, _user = client_as("warehouse")
    page = client.get(reverse("admin:shipping_waybillimport_changelist")).content.decode()
    assert reverse(IMPORT_URL) in page and reverse("admin:shipping_waybillimport_template", args=["xlsx"]) in page
    viewer, _user = client_as("viewer")
    page = viewer.get(reverse("admin:shipping_waybillimport_changelist")).content.decode()
    assert reverse(IMPORT_URL) not in page
