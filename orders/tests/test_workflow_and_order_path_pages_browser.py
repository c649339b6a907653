"""The workflow page and an order's path in headless Chromium at 1440 px, in English and Chinese: the
diagram is drawn server-side (no script, no CDN), its boxes carry the live figures, a rule box opens
the rule's edit page, an undrained lane shows as a dead end and a late lane in red; the order page's
"Path" link opens the order's path. Screenshots go to $SCREENSHOT_DIR (else the test's tmp dir).

Needs Debian's `chromium` and `chromium-driver`."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from selenium import webdriver
from selenium.webdriver.common.by import By

from orderhub.tests.browser import wait
from orders.models import Order
from orders.services import ingest_order
from orders.tests.factories import make_channel
from rules.models import InterceptRule
from rules.tests.factories import make_rule
from shipping.tests.factories import incoming, make_stock

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TEXTS = {
    "en": {"title": "Order workflow", "dead_end": "dead end", "path": "Path", "received": "Received from"},
    "zh-hans": {"title": "订单工作流", "dead_end": "死胡同", "path": "路径", "received": "接收自"},
}


@pytest.fixture
def shots(tmp_path) -> Path:
    directory = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def flow(transactional_db, django_db_serialized_rollback, settings):
    """A shop without an e-waybill account, a lane rule, a hold rule and a shadow rule; orders through
    them; the promotion lane's orders waiting three hours (past the ready limit)."""
    settings.INVENTORY_ENQUEUE_TASKS = False
    settings.NOTICE_ENQUEUE_TASKS = False
    for seeded in InterceptRule.objects.all():
        seeded.enabled = False
        seeded.save()
    make_stock("SKU-TEE-L", "SKU-MUG-1", quantity=100)
    channel = make_channel(name="天猫旗舰店")
    rules = {
        "lane": make_rule(
            ("buyer_message", "contains", "满减"), action="lane", lane="promotion", name="叠券促销走促销通道"
        ),
        "hold": make_rule(("paid_amount", "gte", "50"), exception_type="price_abnormal", name="大额订单人工审核"),
        "shadow": make_rule(
            ("receiver_city", "eq", "杭州市"), exception_type="remark_review", name="杭州试点", mode="shadow"
        ),
    }
    orders = []
    for lines, message in (
        ([("SKU-TEE-L", 1)], "满减"),
        ([("SKU-TEE-L", 1)], "满减"),
        ([("SKU-MUG-1", 6)], ""),
        ([("SKU-MUG-1", 1)], ""),
    ):
        result = ingest_order(channel=channel, incoming=incoming(lines=lines, buyer_message=message), source="push")
        orders.append(result.order)
    Order.objects.filter(lane="promotion").update(state_changed_at=timezone.now() - timedelta(hours=3))
    user = get_user_model().objects.create_superuser("lead", "lead@example.com", "lead-pass-2026")
    return {"rules": rules, "orders": orders, "user": user}


def login(browser: webdriver.Chrome, live_server, language: str) -> None:
    browser.get(f"{live_server.url}/admin/login/")
    browser.add_cookie({"name": "django_language", "value": language})
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("lead")
    browser.find_element(By.NAME, "password").send_keys("lead-pass-2026")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait(browser).until(lambda b: "/admin/login/" not in b.current_url)


def full_page_shot(browser: webdriver.Chrome, path: Path) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, max(height, 800))
    browser.save_screenshot(str(path))
    browser.set_window_size(1440, 1000)
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_workflow_page_and_an_orders_path_in_the_browser(browser, live_server, flow, shots, language):
    words = TEXTS[language]
    login(browser, live_server, language)

    # the Orders app lists the page
    browser.get(f"{live_server.url}/admin/orders/")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/admin/orders/workflow/"]').click()
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "svg.workflow"))
    assert words["title"] in browser.find_element(By.TAG_NAME, "h1").text
    assert not browser.find_elements(By.CSS_SELECTOR, "script[src^='http']")  # nothing from a CDN

    lane = browser.find_element(By.CSS_SELECTOR, 'g.box[data-key="ready:promotion"]')
    assert "dead-end" in lane.get_attribute("class") and "red" in lane.get_attribute("class")
    assert lane.get_attribute("data-waiting") == "2" and lane.get_attribute("data-stranded") == "2"
    assert words["dead_end"] in lane.text
    hold_rule = flow["rules"]["hold"]
    rule_box = browser.find_element(By.CSS_SELECTOR, f'g.box[data-key="rule:{hold_rule.pk}"]')
    assert rule_box.get_attribute("data-took") == "1" and hold_rule.name in rule_box.text
    shadow = browser.find_element(By.CSS_SELECTOR, f'g.box[data-key="rule:{flow["rules"]["shadow"].pk}"]')
    assert "shadow" in shadow.get_attribute("class")
    assert browser.find_element(By.CSS_SELECTOR, "#stranded-paths li.stranded")
    full_page_shot(browser, shots / f"workflow-{language}.png")

    # a rule box opens the rule's edit page
    rule_box.find_element(By.CSS_SELECTOR, "a.box-link").click()
    wait(browser).until(lambda b: f"/interceptrule/{hold_rule.pk}/change/" in b.current_url)

    # the order page's "Path" link: received, the rule that held it, its to-do, its state changes
    held = flow["orders"][2]
    browser.get(f"{live_server.url}/admin/orders/order/{held.pk}/change/")
    link = browser.find_element(By.ID, "order-path-link")
    assert link.text.lower() == words["path"].lower()  # object tools are upper-cased by CSS
    link.click()
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "svg.order-path"))
    kinds = [step.get_attribute("data-kind") for step in browser.find_elements(By.CSS_SELECTOR, "g.step")]
    assert kinds[0] == "received" and {"hit", "task", "event"} <= set(kinds)
    text = browser.find_element(By.CSS_SELECTOR, "svg.order-path").text.replace("\n", "")  # wrapped lines
    assert words["received"] in text and hold_rule.name in text
    full_page_shot(browser, shots / f"order-path-{language}.png")
