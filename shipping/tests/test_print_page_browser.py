"""The print page in headless Chromium, against a live Django server and a fake Cainiao print component
(shipping.print_component_emulator: a real WebSocket server speaking the component's frames), started
in the test: one document per label with the platform's encrypted data and the custom area; the
results the component reports move parcels and orders to printed; a clear "not found" state when
nothing listens.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from selenium import webdriver
from selenium.webdriver.common.by import By

from orderhub.tests.browser import wait
from orders.channels.base import NormalizedLine
from orders.models import Order, OrderState
from orders.tests.factories import make_channel
from shipping.models import PrintBatch, PrintBatchState, PrintRecord, Shipment, ShipmentState
from shipping.print_component_emulator import PRINTERS, PrintComponentEmulator
from shipping.tests.print_factories import make_account, make_parcel, print_payload, ready_order

# Serialized rollback like every other transactional test: a plain flush at teardown re-creates the
# roles (post_migrate) and drops the seeded data, and the next serialized test on the worker fails.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def component() -> Iterator[PrintComponentEmulator]:
    fake = PrintComponentEmulator(component="cainiao").start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def packer(transactional_db, django_db_serialized_rollback):
    # serialized rollback: the flush after a transactional test must not re-create the roles under new
    # ids (post_migrate), or the next serialized_rollback test fails restoring them
    user = get_user_model().objects.create_superuser("packer", "packer@example.com", "pack-pass-2026")
    return user


def login(browser: webdriver.Chrome, live_server, username: str, password: str) -> None:
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait(browser).until(lambda b: "/admin/login/" not in b.current_url)


def wait_for(browser: webdriver.Chrome, condition, message: str):
    return wait(browser).until(lambda b: condition(b), message)


def component_state(browser: webdriver.Chrome) -> str:
    return browser.find_element(By.ID, "component-state").get_attribute("data-state")


def row_status(browser: webdriver.Chrome, shipment: Shipment) -> str:
    return browser.find_element(By.CSS_SELECTOR, f'tr[data-shipment="{shipment.pk}"]').get_attribute("data-status")


@pytest.fixture
def batch_with_three_labels(transactional_db, django_db_serialized_rollback):
    """Order A in one parcel; order B (two lines) split into two parcels; both with buyer messages."""
    channel = make_channel(name="天猫旗舰店")
    account = make_account(channel)
    batch = PrintBatch.objects.create(account=account)
    order_a = ready_order(channel, buyer_message="请用纸箱包装，谢谢")
    order_b = ready_order(
        channel,
        buyer_message="周末不在家",
        lines=[
            NormalizedLine("LB1", "1001", "2001", "SKU-TEA-250", "西湖龙井 250g", 1, Decimal("89")),
            NormalizedLine("LB2", "1002", "2002", "SKU-CUP-01", "青瓷茶杯", 2, Decimal("30")),
        ],
    )
    parcel_a = make_parcel(account, [order_a], batch=batch, tracking_number="77310000001")
    line_b1, line_b2 = order_b.lines.order_by("pk")
    parcel_b1 = make_parcel(account, [order_b], batch=batch, tracking_number="77310000002", lines=[(line_b1, 1)])
    parcel_b2 = make_parcel(account, [order_b], batch=batch, tracking_number="77310000003", lines=[(line_b2, 2)])
    return batch, order_a, order_b, parcel_a, parcel_b1, parcel_b2


def test_print_page_sends_one_document_per_label_and_the_results_move_parcels_and_orders_to_printed(
    browser, live_server, settings, component, packer, batch_with_three_labels
):
    batch, order_a, order_b, parcel_a, parcel_b1, parcel_b2 = batch_with_three_labels
    settings.PRINT_COMPONENT_URLS = {**settings.PRINT_COMPONENT_URLS, "cainiao": component.url}
    component.fail_documents = {parcel_b2.tracking_number: "缺纸 (out of paper)"}

    login(browser, live_server, "packer", "pack-pass-2026")
    browser.get(f"{live_server.url}/admin/shipping/printbatch/{batch.pk}/print/")
    wait_for(browser, lambda b: component_state(b) == "ready", "the page never connected to the component")
    printers = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#printer option")]
    assert printers == PRINTERS
    assert browser.find_element(By.CSS_SELECTOR, "#printer option:checked").text == PRINTERS[0]

    browser.find_element(By.ID, "print-all").click()
    wait_for(
        browser,
        lambda b: all(row_status(b, p) in ("printed", "failed") for p in (parcel_a, parcel_b1, parcel_b2)),
        "not every label got a result",
    )

    # one print task per label, one document per task, documentID = the waybill number
    prints = component.received("print")
    assert len(prints) == 3
    by_number = {}
    for frame in prints:
        assert frame["version"] == "1.0" and frame["requestID"]
        assert frame["task"]["printer"] == PRINTERS[0]
        [document] = frame["task"]["documents"]
        by_number[document["documentID"]] = document["contents"]
    assert set(by_number) == {"77310000001", "77310000002", "77310000003"}
    label, custom = by_number["77310000001"]
    assert label == print_payload("77310000001")  # the platform's encrypted data, as issued
    assert custom["templateURL"] == "https://cloudprint.cainiao.com/template/customArea/7001"
    assert custom["data"]["buyer_message"] == "请用纸箱包装，谢谢"
    assert custom["data"]["items"] == [{"sku": "SKU-TEA-250", "title": "西湖龙井 250g", "quantity": 2}]
    assert by_number["77310000003"][1]["data"]["items"] == [{"sku": "SKU-CUP-01", "title": "青瓷茶杯", "quantity": 2}]

    # the results the component reported are recorded
    assert row_status(browser, parcel_a) == "printed"
    assert row_status(browser, parcel_b2) == "failed"
    failed_text = browser.find_element(By.CSS_SELECTOR, f'tr[data-shipment="{parcel_b2.pk}"] .print-status').text
    assert "缺纸 (out of paper)" in failed_text
    states = dict(Shipment.objects.filter(batch=batch).values_list("tracking_number", "state"))
    assert states == {
        "77310000001": ShipmentState.PRINTED,
        "77310000002": ShipmentState.PRINTED,
        "77310000003": ShipmentState.NUMBERED,
    }
    assert Order.objects.get(pk=order_a.pk).state == OrderState.PRINTED
    assert Order.objects.get(pk=order_b.pk).state == OrderState.READY  # one of its parcels is not out yet
    assert PrintBatch.objects.get(pk=batch.pk).state == PrintBatchState.PRINTING
    records = PrintRecord.objects.filter(batch=batch)
    assert sorted(records.values_list("tracking_number", "ok")) == [
        ("77310000001", True),
        ("77310000002", True),
        ("77310000003", False),
    ]
    assert set(records.values_list("actor__username", flat=True)) == {"packer"}
    assert set(records.values_list("printer", flat=True)) == {PRINTERS[0]}

    # paper refilled: print the failed label again from its row
    component.fail_documents = {}
    browser.find_element(By.CSS_SELECTOR, f'button.reprint[data-shipment="{parcel_b2.pk}"]').click()
    wait_for(browser, lambda b: row_status(b, parcel_b2) == "printed", "the second try was not recorded")
    assert Shipment.objects.get(pk=parcel_b2.pk).state == ShipmentState.PRINTED
    assert Order.objects.get(pk=order_b.pk).state == OrderState.PRINTED
    assert PrintBatch.objects.get(pk=batch.pk).state == PrintBatchState.PRINTED
    assert browser.find_element(By.ID, "batch-state").text == "Printed"
    assert browser.find_element(By.ID, "printed-count").text == "3 printed"
    assert len(component.received("print")) == 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_print_page_shows_component_not_found_when_nothing_listens(
    browser, live_server, settings, packer, batch_with_three_labels
):
    batch = batch_with_three_labels[0]
    nothing_there = f"ws://127.0.0.1:{free_port()}"
    settings.PRINT_COMPONENT_URLS = {**settings.PRINT_COMPONENT_URLS, "cainiao": nothing_there}

    login(browser, live_server, "packer", "pack-pass-2026")
    browser.get(f"{live_server.url}/admin/shipping/printbatch/{batch.pk}/print/")
    wait_for(browser, lambda b: component_state(b) == "not-found", "no 'not found' state")

    message = browser.find_element(By.CSS_SELECTOR, "#component-state .message").text
    assert "Print component not found" in message
    assert nothing_there in message
    assert browser.find_element(By.ID, "component-retry").is_displayed()
    assert not browser.find_element(By.ID, "print-all").is_enabled()
    assert not Shipment.objects.filter(batch=batch, state=ShipmentState.PRINTED).exists()
    assert not PrintRecord.objects.exists()


def test_a_pinduoduo_batch_prints_through_the_pdd_component_and_its_printresultnotify(
    browser, live_server, settings, packer
):
    pdd = PrintComponentEmulator(component="pdd").start()
    try:
        channel = make_channel(platform="pdd", name="拼多多专营店")
        account = make_account(channel)
        batch = PrintBatch.objects.create(account=account)
        order = ready_order(channel, buyer_message="放门口")
        parcel = make_parcel(account, [order], batch=batch, tracking_number="YT7000000001")
        settings.PRINT_COMPONENT_URLS = {**settings.PRINT_COMPONENT_URLS, "pdd": pdd.url}

        login(browser, live_server, "packer", "pack-pass-2026")
        browser.get(f"{live_server.url}/admin/shipping/printbatch/{batch.pk}/print/")
        wait_for(browser, lambda b: component_state(b) == "ready", "the page never connected to the PDD component")
        assert "Pinduoduo print component" in browser.find_element(By.CSS_SELECTOR, "#component-state").text
        browser.find_element(By.ID, "print-all").click()
        wait_for(browser, lambda b: row_status(b, parcel) == "printed", "the PDD result was not recorded")
    finally:
        pdd.stop()
    [frame] = pdd.received("print")
    [document] = frame["task"]["documents"]
    assert document["documentID"] == "YT7000000001"
    assert document["contents"][1]["data"]["buyer_message"] == "放门口"
    assert Shipment.objects.get(pk=parcel.pk).state == ShipmentState.PRINTED
    assert Order.objects.get(pk=order.pk).state == OrderState.PRINTED
