"""The ops console in headless Chromium at 1440 px, in English and in Chinese: log in, the dashboard
and its charts, the order list, an order page. Each page is an entry of CONSOLE_PAGES (a path and the
checks it must pass), so a new page (the exception workbench, its claim and resolve) is one more entry.
Screenshots of every page in both languages land in $ARTIFACTS_DIR (default /tmp/orderhub-screenshots;
the test prints the directory). On the Chinese pages no English word may be left outside data.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them, with a Chinese font)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from selenium import webdriver
from selenium.webdriver.common.by import By

from inventory.tests.factories import make_sku, make_warehouse, stock
from orderhub.tests.browser import wait
from orders import locks
from orders.models import Channel, Order, OrderEvent, OrderLine, OrderState
from orders.services import order_hold, order_transition_locked
from orders.tests.factories import make_channel, make_order_in_state
from rules.models import ExceptionTask, ExceptionType

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WIDTH = 1440
LANGUAGES = ("en", "zh-hans")
SCREENSHOTS = Path(os.environ.get("ARTIFACTS_DIR", "/tmp/orderhub-screenshots"))

#: words that are names, not English: the product, units and codes ops use as they are in Chinese too
ALLOWED_WORDS = {"OrderHub", "SKU", "API", "JSON", "ERP", "RMA", "ID", "Django", "p50", "p90"}


@dataclass(frozen=True)
class ConsolePage:
    """One page of the walk: where it is (from the world) and what must hold once it is shown."""

    name: str
    path: Callable[[dict], str]
    check: Callable[[webdriver.Chrome, dict], None]


def _no_horizontal_scroll(browser: webdriver.Chrome) -> None:
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= WIDTH, f"the page is {width} px wide"


def _check_dashboard(browser: webdriver.Chrome, world: dict) -> None:
    charts = browser.find_elements(By.CSS_SELECTOR, "#dashboard-charts svg.oh-chart")
    assert len(charts) == 3
    for chart in charts:
        assert chart.size["width"] > 300 and chart.size["height"] > 80  # drawn, not collapsed
    bars = browser.find_elements(By.CSS_SELECTOR, "#dashboard-charts svg.oh-chart a rect")
    assert len(bars) == 14 * 2 + 14 + 14 * 2
    tiles = browser.find_elements(By.CSS_SELECTOR, "#ops-summary .tile a")
    assert len(tiles) >= 12 and all(tile.is_displayed() for tile in tiles)
    sections = browser.find_elements(By.CSS_SELECTOR, "#dashboard-apps .module")
    apps = [next(c for c in e.get_attribute("class").split() if c.startswith("app-")) for e in sections]
    assert apps.index("app-orders") < apps.index("app-auth")  # business sections first
    _no_horizontal_scroll(browser)


def _check_order_list(browser: webdriver.Chrome, world: dict) -> None:
    headers = browser.find_elements(By.CSS_SELECTOR, "#result_list thead th")
    assert len(headers) == 11  # the checkbox and ten columns
    right = browser.execute_script(
        "return document.querySelector('#changelist .results').getBoundingClientRect().right"
    )
    for header in headers:
        edge = browser.execute_script("return arguments[0].getBoundingClientRect().right", header)
        assert edge <= right + 1, f"column {header.text!r} is cut off at {WIDTH} px"
    line = browser.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('#result_list td.field-receiver_name')).lineHeight)"
    )
    for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list td.field-receiver_name"):
        assert cell.size["height"] < 2.5 * line, f"{cell.text!r} wraps"  # one line, not a character per line
    _no_horizontal_scroll(browser)


def _check_order_page(browser: webdriver.Chrome, world: dict) -> None:
    def top(selector: str) -> float:
        return browser.find_element(By.CSS_SELECTOR, selector).location["y"]

    order = ["#order-summary", "#lines-group", "#order-parcels", "#order-exceptions", "#events-group"]
    assert [top(s) for s in order] == sorted(top(s) for s in order)
    payload = browser.find_element(By.CSS_SELECTOR, "details.native-payload")
    assert payload.get_attribute("open") is None and top("details.native-payload") > top("#events-group")
    who = browser.find_element(By.ID, "order-who-has-it").text
    assert world["assignee"] in who
    _no_horizontal_scroll(browser)


#: the walk, in order; the workbench adds its pages (and its claim/resolve steps) here
CONSOLE_PAGES = [
    ConsolePage("dashboard", lambda world: "/admin/", _check_dashboard),
    ConsolePage("order-list", lambda world: "/admin/orders/order/", _check_order_list),
    ConsolePage("order-page", lambda world: f"/admin/orders/order/{world['held'].pk}/change/", _check_order_page),
]


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback) -> dict:
    """A morning's console: orders received over two days on two shops, one shipped, one held with
    an exception assigned to a person, one late."""
    stock(make_sku("SKU-TEA-250", name="西湖龙井 250g"), make_warehouse("SH", name="上海仓"), 100)
    ops = get_user_model().objects.create_superuser("zhangwei", "zw@example.com", "console-pass-2026")
    mall, shop = make_channel(name="天猫旗舰店"), make_channel(name="拼多多店", platform="pdd")
    names = ["欧阳娜娜", "司马相如", "张伟", "李娜"]
    orders = [
        make_order_in_state(channel, OrderState.READY, receiver_name=name)
        for channel, name in zip([mall, mall, shop, shop], names, strict=True)
    ]
    Order.objects.filter(pk=orders[3].pk).update(received_at=timezone.now() - timedelta(days=1))
    Order.objects.filter(pk=orders[2].pk).update(ship_by=timezone.now() - timedelta(minutes=10))
    from django.db import transaction

    with transaction.atomic():
        order_transition_locked(order=locks.order_for_update(order_id=orders[0].pk), name="ship")
    held = order_hold(order_id=orders[1].pk, actor=ops, reason="买家来电要求暂缓发货")
    ExceptionTask.objects.create(
        order=held,
        exception_type=ExceptionType.objects.get(code="address_changed"),
        assignee_user=ops,
        assignee_group=Group.objects.create(name="客服组"),
        due_at=timezone.now() + timedelta(minutes=30),
    )
    return {"user": ops, "password": "console-pass-2026", "assignee": ops.username, "held": held}


def _data_values() -> list[str]:
    """Text that is data, not interface: what buyers, platforms and ops typed or named."""
    values: set[str] = set()
    for row in Order.objects.values_list(
        "external_id", "buyer_nick", "buyer_id", "receiver_name", "receiver_address", "platform_status_raw", "source"
    ):
        values.update(row)
    values.update(str(order) for order in Order.objects.select_related("channel"))  # "taobao:E123" titles
    values.update(OrderLine.objects.values_list("sku_code", flat=True))
    values.update(OrderLine.objects.values_list("title", flat=True))
    values.update(Channel.objects.values_list("name", flat=True))
    values.update(get_user_model().objects.values_list("username", flat=True))
    values.update(Group.objects.values_list("name", flat=True))
    # The English text stored beside each coded note (orders.texts): pages render the code in the
    # reader's language; a few notes are still stored as text only (field lists of a platform update).
    values.update(OrderEvent.objects.filter(data__wording__isnull=True).values_list("note", flat=True))
    return sorted((v for v in values if v), key=len, reverse=True)


def english_words(text: str, data: list[str]) -> list[str]:
    for value in data:
        text = re.sub(re.escape(value), " ", text, flags=re.IGNORECASE)
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]", text)
    allowed = {word.lower() for word in ALLOWED_WORDS}
    return sorted({w for w in words if w.lower() not in allowed})


def login(browser: webdriver.Chrome, live_server, username: str, password: str) -> None:
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait(browser).until(lambda b: "/admin/login/" not in b.current_url)


def screenshot(browser: webdriver.Chrome, name: str) -> Path:
    """The whole page at 1440 px wide."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, max(800, min(height, 6000)))
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    browser.set_window_size(WIDTH, 1000)
    return path


def test_the_console_in_english_and_chinese(browser, live_server, world, capsys):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nconsole screenshots: {SCREENSHOTS}")
    login(browser, live_server, world["user"].username, world["password"])
    data = _data_values()
    english_left: dict[str, list[str]] = {}
    for language in LANGUAGES:
        browser.add_cookie({"name": "django_language", "value": language})
        for page in CONSOLE_PAGES:
            browser.get(live_server.url + page.path(world))
            wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
            assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
            page.check(browser, world)
            shot = screenshot(browser, f"{page.name}-{language}")
            assert shot.stat().st_size > 10_000
            if language == "zh-hans":
                words = english_words(browser.find_element(By.TAG_NAME, "body").text, data)
                if words:
                    english_left[page.name] = words
    assert english_left == {}, f"English left on Chinese pages: {english_left}"


def test_english_words_are_found_outside_data_and_allowed_names():
    data = ["天猫旗舰店", "buyer7"]
    assert english_words("订单 buyer7 天猫旗舰店 OrderHub SKU p50", data) == []
    assert english_words("状态：ready · Ship by 2026-11-30", data) == ["Ship", "by", "ready"]
