"""Fixtures for channel tests: the sample payloads and an in-process platform emulator (no HTTP mocks)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orders.channels import adapter_class
from orders.channels.base import ChannelAdapter
from orders.emulator import ChannelEmulator

FIXTURES = Path(__file__).parent / "fixtures" / "channels"
#: the shared spec's copy (CI clones the repo with shared/ beside it); the fixtures above must match it
SHARED_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "channels" / "samples"


def load_sample(name: str) -> Any:
    """A sample from orders/tests/fixtures/channels/ (copied from shared/channels/samples/)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def sample() -> Callable[[str], Any]:
    return load_sample


@pytest.fixture
def channel_emulator() -> Iterator[ChannelEmulator]:
    """The platform emulator on a free local port; `.base_url`, `.url_for(platform)`, and its state
    (`add_shop`, `add_orders`, `generate`, `add_fault`, `shipments`, `stock_levels`, `calls`) for tests."""
    emulator = ChannelEmulator("127.0.0.1", 0).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def emulator_adapter(channel_emulator: ChannelEmulator) -> Callable[..., ChannelAdapter]:
    """Factory: register a shop on the emulator and return the platform's adapter pointed at it."""

    def make(platform: str, *, app_key: str = "", timeout: float = 5.0, **shop: str) -> ChannelAdapter:
        key = app_key or f"{platform}-app-key"
        channel_emulator.add_shop(
            platform,
            key,
            shop.get("app_secret", f"{platform}-secret"),
            sign_secret=shop.get("sign_secret", f"{platform}-sign-secret"),
            access_token=shop.get("access_token", f"{platform}-token"),
            message_key=shop.get("message_key", ""),
        )
        credentials = channel_emulator.credentials(platform, key)
        credentials.timeout = timeout
        return adapter_class(platform)(credentials)

    return make


@pytest.fixture(params=["single", "batch"])
def ingest(request) -> Callable[..., Any]:
    """`ingest(channel=, incoming=, source=)` through each path of the pipeline: `ingest_order()` alone,
    or inside an `ingest_orders()` batch between two other first-seen orders (of a shop of their own,
    with a SKU nobody stocks, so they change nothing the test counts). Both must decide alike."""
    from orders.services import IngestItem, ingest_order, ingest_orders
    from orders.tests.factories import make_channel, make_incoming

    if request.param == "single":
        return ingest_order
    lock = threading.Lock()
    others: list = []

    def in_a_batch(*, channel, incoming, source: str):
        with lock:
            if not others:
                others.append(make_channel(name="batch neighbours"))
        neighbour = others[0]
        items = [
            IngestItem(channel=neighbour, incoming=_neighbour_order(make_incoming), source=source),
            IngestItem(channel=channel, incoming=incoming, source=source),
            IngestItem(channel=neighbour, incoming=_neighbour_order(make_incoming), source=source),
        ]
        outcome = ingest_orders(items)[1]
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    return in_a_batch


def _neighbour_order(make_incoming):
    from decimal import Decimal

    from orders.channels.base import NormalizedLine

    line = NormalizedLine(
        external_line_id="N1",
        platform_item_id="",
        platform_sku_id="",
        sku_code="NEIGHBOUR-NOBODY-STOCKS",
        title="邻居",
        quantity=1,
        unit_price=Decimal("1.00"),
        paid_amount=Decimal("1.00"),
    )
    return make_incoming(lines=[line])
