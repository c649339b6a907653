"""The stock movement list and the reconciliation difference list fit a 1440 px screen in English and
in Chinese (no sideways scrolling): the columns ops scan a list by, each on one line (a long SKU code
whole, on two lines if it must); the rest (the note in full, counted quantity, the listing, the source)
on the row's own page. Screenshots of both lists in both languages land in $ARTIFACTS_DIR (default
/tmp/orderhub-screenshots).

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them, with a Chinese font)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from selenium.webdriver.common.by import By

from inventory import services
from inventory.models import DiffKind, MovementKind, ReconciliationDiff, ReconciliationRun, StockMovement
from inventory.tests.factories import make_channel, make_listing, make_sku, make_warehouse, stock
from inventory.texts import order_state, stored
from orderhub.tests.browser import wait
from orders.texts import wording

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WIDTH = 1440
SCREENSHOTS = Path(os.environ.get("ARTIFACTS_DIR", "/tmp/orderhub-screenshots"))

#: the columns each list keeps (the CSS class Django gives each column's header)
MOVEMENT_COLUMNS = [
    "at",
    "kind",
    "sku_cell",
    "warehouse_cell",
    "quantity",
    "balance_after",
    "reference_cell",
    "flagged",
]
DIFF_COLUMNS = [
    "run_cell",
    "kind_cell",
    "sku_cell",
    "warehouse_cell",
    "expected",
    "actual",
    "note_cell",
    "corrected_cell",
]


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback) -> dict:
    """A week of a tea shop's ledger in two warehouses with the names, SKU names and WMS references
    a real one has, and a reconciliation run with a difference of every kind."""
    user = get_user_model().objects.create_superuser("kucun", "kc@example.com", "stock-pass-2026")
    qingpu = make_warehouse("SH-QP", name="上海青浦一号仓（电商）")
    baiyun = make_warehouse("GZ-BY", name="广州白云物流园仓")
    skus = [
        make_sku("TEA-LJ-250-GIFT-2", name="西湖龙井 明前特级 250g 礼盒装（两罐）"),
        make_sku("MUG-CERAMIC-350-BLUE", name="手绘青花陶瓷马克杯 350ml 蓝色"),
        make_sku("CAP-COTTON-FREE-BLACK", name="纯棉棒球帽 均码 黑色"),
    ]
    for sku in skus:
        for warehouse in (qingpu, baiyun):
            stock(sku, warehouse, 120)
    for n, sku in enumerate(skus):
        services.record_movement(
            warehouse_code=qingpu.code,
            sku_code=sku.code,
            kind=MovementKind.INBOUND,
            quantity=48,
            reference=f"WMS-ASN-20261130-000{123 + n}-LINE-000{n + 4}",
            note="供应商送货 杭州西湖茶叶有限公司 第二批",
        )
        services.record_movement(
            warehouse_code=baiyun.code,
            sku_code=sku.code,
            kind=MovementKind.ADJUSTMENT,
            quantity=-2 - n,
            reference=f"WMS-ADJ-GZ-BY-20261130-DAMAGED-{n:04d}",
            note="盘点发现外包装破损，转入隔离区",
        )
        services.record_movement(
            warehouse_code=baiyun.code,
            sku_code=sku.code,
            kind=MovementKind.COUNT,
            quantity=110 + n,
            reference=f"stocktake:9f2c4b1e-7d3a-4f0e-b6a2-1c9e8d7f6a5b:{n + 2}",
            source="stocktake",
            note=wording("stock.stocktake_import"),
        )
    text, coded = stored(
        wording("stock.count_below_reserved", counted=3, reserved=8, orders="3301234500000077, 3301234500000078")
    )
    flagged = StockMovement.objects.filter(kind=MovementKind.COUNT).first()
    StockMovement.objects.filter(pk=flagged.pk).update(flagged=True, flag_reason=text, flag_wording=coded)
    StockMovement.objects.filter(source="test").update(at=timezone.now() - timedelta(days=6))

    run = ReconciliationRun.objects.create(trigger="schedule", finished_at=timezone.now())
    listing = make_listing(
        make_channel(name="天猫旗舰店 茶具专营"),
        skus[0],
        platform_item_id="652341234567",
        platform_sku_id="4871234567890123",
        last_pushed_quantity=37,
    )
    notes = {
        DiffKind.LEDGER: wording("stock.ledger_sum"),
        DiffKind.RESERVED: wording("stock.reservations_vs_reserved"),
        DiffKind.CLOSED_ORDER: wording("stock.order_is", state=order_state("cancelled")),
        DiffKind.REFUNDED_LINE: wording("stock.refunded_line", line=123456, sku=skus[1].code),
    }
    diffs = []
    for n, (kind, note) in enumerate(notes.items()):
        for warehouse in (qingpu, baiyun):
            text, coded = stored(note)
            diffs.append(
                ReconciliationDiff(
                    run=run,
                    kind=kind,
                    sku=skus[n % len(skus)],
                    warehouse=warehouse,
                    expected=120 + n,
                    actual=117 + n,
                    note=text,
                    wording=coded,
                    corrected_at=timezone.now() if n == 0 else None,
                )
            )
    unread = wording(
        "stock.unknown_figure",
        note=wording("stock.read_no_answer_code", error="isv.item-not-exist:invalid-numIid-or-skuId"),
    )
    text, coded = stored(unread)
    diffs.append(
        ReconciliationDiff(
            run=run,
            kind=DiffKind.CHANNEL,
            sku=skus[0],
            listing=listing,
            expected=37,
            actual=-1,
            note=text,
            wording=coded,
        )
    )
    text, coded = stored(wording("stock.platform_reports"))
    diffs.append(
        ReconciliationDiff(
            run=run,
            kind=DiffKind.CHANNEL,
            sku=skus[0],
            listing=listing,
            expected=37,
            actual=35,
            note=text,
            wording=coded,
        )
    )
    ReconciliationDiff.objects.bulk_create(diffs)
    ReconciliationRun.objects.filter(pk=run.pk).update(diff_count=len(diffs))
    return {"user": user, "password": "stock-pass-2026"}


def _login(browser, live_server, world: dict) -> None:
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(world["user"].username)
    browser.find_element(By.NAME, "password").send_keys(world["password"])
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait(browser).until(lambda b: "/admin/login/" not in b.current_url)


def _screenshot(browser, name: str) -> Path:
    """The whole page at 1440 px wide."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, max(800, min(height, 6000)))
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    browser.set_window_size(WIDTH, 1000)
    return path


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_movement_and_difference_lists_fit_1440_px_without_scrolling_sideways(
    browser, live_server, world, language, capsys
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\ninventory list screenshots: {SCREENSHOTS}")
    _login(browser, live_server, world)
    browser.add_cookie({"name": "django_language", "value": language})
    pages = {
        "stock-movements": ("/admin/inventory/stockmovement/", MOVEMENT_COLUMNS, StockMovement.objects.count()),
        "reconciliation-differences": (
            "/admin/inventory/reconciliationdiff/",
            DIFF_COLUMNS,
            ReconciliationDiff.objects.count(),
        ),
    }
    for name, (path, columns, rows) in pages.items():
        browser.get(live_server.url + path)
        wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == rows
        shot = _screenshot(browser, f"{name}-{language}")
        assert shot.stat().st_size > 10_000
        scroll_width, inner_width = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert scroll_width <= inner_width, f"{name} ({language}) is {scroll_width} px wide at {inner_width} px"
        table, box = browser.execute_script(
            "const box = document.querySelector('#changelist .results');return [box.scrollWidth, box.clientWidth]"
        )
        assert table <= box, f"{name} ({language}): the table is {table} px in its {box} px box (it scrolls inside)"
        shown = [
            next(c.removeprefix("column-") for c in th.get_attribute("class").split() if c.startswith("column-"))
            for th in browser.find_elements(By.CSS_SELECTOR, "#result_list thead th[class*=column-]")
        ]
        assert shown == columns
        # the SKU code is what the warehouse reads: whole, a long one on two lines rather than cut short
        sku_cells = browser.execute_script(
            "return [...document.querySelectorAll('#result_list td.field-sku_cell')]"
            ".map(td => [td.innerText.replace(/\\s+/g, ''), td.scrollWidth <= td.clientWidth])"
        )
        codes = {"TEA-LJ-250-GIFT-2", "MUG-CERAMIC-350-BLUE", "CAP-COTTON-FREE-BLACK"}
        assert sku_cells and all(code in codes and whole for code, whole in sku_cells), sku_cells
