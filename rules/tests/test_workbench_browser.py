"""The exception workbench in headless Chromium, in English and in Chinese: an ops lead opens it,
claims a held order's to-do, resolves it on its own page, and sees the order move on (released to
print, with the lead recorded on the release). Screenshots at 1440 px go to $SCREENSHOT_DIR
(default /tmp/shots-workbench).

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from selenium import webdriver
from selenium.webdriver.common.by import By

from orderhub.tests.browser import wait
from orders.models import Order, OrderEvent, OrderState
from rules.models import ExceptionTask

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/shots-workbench"))
#: what each language shows on the page, so the test knows it reads the page it expects
WORDS = {
    "en": {"title": "Exception workbench", "claim": "Claim", "resolve": "Resolve", "done": "resolved"},
    "zh-hans": {"title": "异常工作台", "claim": "认领", "resolve": "处理", "done": "已处理"},
}


def shoot(browser: webdriver.Chrome, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1440, max(900, min(height + 120, 4000)))
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_open_the_workbench_claim_a_task_resolve_it_and_see_the_order_move_on(browser, live_server, ingest, language):
    lead = get_user_model().objects.create_superuser("lead", "lead@example.com", "lead-pass-2026")
    others = [ingest(buyer_message=f"请周末送货 {n}") for n in range(3)]
    order = ingest(buyer_message="麻烦发顺丰，谢谢")
    task = ExceptionTask.objects.get(order=order, state="open")
    words = WORDS[language]

    browser.get(f"{live_server.url}/admin/login/")
    browser.add_cookie({"name": "django_language", "value": language})
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("lead")
    browser.find_element(By.NAME, "password").send_keys("lead-pass-2026")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait(browser).until(lambda b: "/admin/login/" not in b.current_url)

    browser.get(f"{live_server.url}/admin/rules/exceptiontask/mine/?assignee=everyone")
    assert words["title"] in browser.title
    rows = browser.find_elements(By.CSS_SELECTOR, "#workbench-table tbody tr[data-task]")
    assert len(rows) == len(others) + 1
    shoot(browser, f"workbench-{language}")

    browser.find_element(By.CSS_SELECTOR, f'button[name="claim"][value="{task.pk}"]').click()
    wait(browser).until(lambda b: "lead" in b.find_element(By.CSS_SELECTOR, f'tr[data-task="{task.pk}"]').text)
    assert ExceptionTask.objects.get(pk=task.pk).assignee_user == lead
    shoot(browser, f"workbench-claimed-{language}")

    browser.find_element(By.CSS_SELECTOR, f'tr[data-task="{task.pk}"] a.button').click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "resolve-form"))
    assert "麻烦发顺丰" in browser.page_source  # the buyer's message, which this type is about
    shoot(browser, f"resolve-{language}")
    browser.find_element(By.CSS_SELECTOR, '#resolve-form input[name="action"][value="dismiss"]').click()
    browser.find_element(By.CSS_SELECTOR, '#resolve-form textarea[name="note"]').send_keys("顺丰已备注")
    browser.find_element(By.CSS_SELECTOR, "#resolve-form input[type=submit]").click()
    wait(browser).until(lambda b: "/mine/" in b.current_url)
    message = wait(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text)
    assert words["done"] in message
    shoot(browser, f"workbench-after-resolve-{language}")

    resolved = ExceptionTask.objects.get(pk=task.pk)
    assert (resolved.state, resolved.resolved_by, resolved.resolution_note) == ("resolved", lead, "顺丰已备注")
    assert Order.objects.get(pk=order.pk).state == OrderState.READY  # moved on to the print queue
    assert OrderEvent.objects.filter(order=order, kind="release").latest("id").actor == lead
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-task="{task.pk}"]')
