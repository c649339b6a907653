"""Issue 14 finding 3: one bad pulled order must never stop its channel's pull. Against the platform
emulator over real HTTP: the poison order is quarantined (kept safely, with the field and reason),
an alert is raised, the other orders are stored, the cursor moves; a pull that does fail as a whole
always records the failure count, the last error and an alert."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from orders.gateway import channel_pull, process_push_message, quarantine_retry
from orders.models import Alert, InboundMessage, Order, QuarantinedMessage, QuarantineSource
from orders.tests.poison import FIELDS, dotted, set_path
from orders.tests.test_channel_pull import emulated_channel
from orders.tests.test_webhook_platform_push import deliver, push_channel

pytestmark = pytest.mark.django_db

PULL_PLATFORMS = ("taobao", "jd", "pdd", "douyin", "kuaishou", "manual")
POISONS = {
    "nul": ("text", "请周末\x00送货"),
    "lone-surrogate": ("text", "送货\ud800"),
    "infinity": ("text", float("inf")),
    "huge-integer": ("amount", 10**40),
    "wrong-type": ("object", "abc"),
}


@pytest.mark.parametrize("platform", PULL_PLATFORMS)
@pytest.mark.parametrize("poison", list(POISONS))
def test_a_poison_order_in_a_pull_page_is_quarantined_and_the_pull_goes_on(
    channel_emulator, settings, platform, poison
):
    settings.CHANNEL_PULL_PAGE_SIZE = 3
    channel = emulated_channel(channel_emulator, platform)
    ids = channel_emulator.generate(platform, 6, seed=21)
    bad_id = ids[2]
    kind, value = POISONS[poison]
    set_path(channel_emulator.order(platform, bad_id), FIELDS[platform][kind], value)

    report = channel_pull(channel_id=channel.pk, backoff=0)

    assert report.error == "" and report.quarantined == 1, report
    stored = set(Order.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert stored == set(ids) - {bad_id}
    quarantined = QuarantinedMessage.objects.get(channel=channel)
    assert quarantined.source == QuarantineSource.PULL
    assert quarantined.external_id == bad_id
    assert quarantined.field.startswith(dotted(FIELDS[platform][kind])), quarantined.field
    assert quarantined.reason and quarantined.resolved_at is None
    kept = json.loads(quarantined.payload)  # the payload is kept, decodable, poison included
    assert bad_id in json.dumps(kept)
    alert = Alert.objects.get(key=f"quarantine:{channel.pk}", resolved_at__isnull=True)
    assert bad_id in alert.message and alert.channel == channel
    channel.refresh_from_db()
    assert channel.pull_cursor is not None and channel.consecutive_pull_failures == 0
    assert channel.last_pull_error == ""

    again = channel_pull(channel_id=channel.pk, backoff=0)  # re-reading the overlap adds no second row
    assert again.error == ""
    assert QuarantinedMessage.objects.filter(channel=channel).count() == 1


def test_nul_payload_is_kept_as_an_escape_the_database_can_store(channel_emulator):
    channel = emulated_channel(channel_emulator, "jd")
    [bad_id] = channel_emulator.generate("jd", 1, seed=3)
    channel_emulator.order("jd", bad_id)["orderRemark"] = "a\x00b"

    channel_pull(channel_id=channel.pk, backoff=0)

    quarantined = QuarantinedMessage.objects.get(channel=channel)
    assert "\\u0000" in quarantined.payload and "\x00" not in quarantined.payload
    assert json.loads(quarantined.payload)["orderRemark"] == "a\x00b"


def test_retry_after_the_platform_fixed_the_order_ingests_it_and_resolves_the_alert(channel_emulator):
    channel = emulated_channel(channel_emulator, "douyin")
    ids = channel_emulator.generate("douyin", 2, seed=8)
    channel_emulator.order("douyin", ids[0])["buyer_words"] = "\x00"
    channel_pull(channel_id=channel.pk, backoff=0)
    quarantined = QuarantinedMessage.objects.get(channel=channel)

    assert quarantine_retry(message_id=quarantined.pk) is False  # still poison on the platform
    quarantined.refresh_from_db()
    assert quarantined.retries == 1 and quarantined.resolved_at is None

    channel_emulator.order("douyin", ids[0])["buyer_words"] = "请周末送货"
    assert quarantine_retry(message_id=quarantined.pk) is True

    quarantined.refresh_from_db()
    assert quarantined.resolved_at is not None and "retried" in quarantined.resolution
    assert Order.objects.get(channel=channel, external_id=ids[0]).buyer_message == "请周末送货"
    assert not Alert.objects.filter(key=f"quarantine:{channel.pk}", resolved_at__isnull=True).exists()


@pytest.mark.parametrize("platform", ["douyin", "kuaishou"])
@pytest.mark.parametrize("poison", ["nul", "lone-surrogate", "infinity"])
def test_poison_in_the_detail_re_read_of_a_push_is_quarantined_and_the_message_done(channel_emulator, platform, poison):
    channel = push_channel(channel_emulator, platform)
    [external_id] = channel_emulator.generate(platform, 1, seed=4)
    set_path(channel_emulator.order(platform, external_id), FIELDS[platform]["text"], POISONS[poison][1])
    headers, body = channel_emulator.push_message(platform, channel.app_key, external_id, "pay")
    assert deliver(channel, dict(headers), body).status_code == 200
    message = InboundMessage.objects.get(channel=channel)

    assert process_push_message(message_id=message.pk) is None

    assert not Order.objects.exists()
    quarantined = QuarantinedMessage.objects.get(channel=channel)
    assert quarantined.source == QuarantineSource.PUSH and quarantined.external_id == external_id
    assert quarantined.field == dotted(FIELDS[platform]["text"])
    message.refresh_from_db()
    assert message.processed_at is not None  # the sweep will not re-read poison forever
    assert Alert.objects.filter(key=f"quarantine:{channel.pk}", resolved_at__isnull=True).exists()


def test_a_pull_that_fails_as_a_whole_always_records_the_failure_and_alerts(channel_emulator):
    channel = emulated_channel(channel_emulator, "douyin")
    channel_emulator.generate("douyin", 2, seed=1)
    # a reply of the wrong shape (a count that is not a number): not one order's fault, the page's
    channel_emulator.add_fault(
        "douyin",
        "reply",
        count=5,
        body={"code": 10000, "msg": "success", "data": {"shop_order_list": [], "total": "lots"}},
    )

    report = channel_pull(channel_id=channel.pk, backoff=0)

    assert report.error.startswith("ValueError")
    channel.refresh_from_db()
    assert channel.consecutive_pull_failures == 1
    assert "ValueError" in channel.last_pull_error
    assert channel.pull_cursor is None
    alert = Alert.objects.get(key=f"pull:{channel.pk}", resolved_at__isnull=True)
    assert "ValueError" in alert.message


REFUSED_TITLE = "the database refuses this line"
TRIGGERS = {
    "sqlite": [
        f"""CREATE TRIGGER poison_line BEFORE INSERT ON orders_orderline WHEN NEW.title = '{REFUSED_TITLE}'
        BEGIN SELECT RAISE(ABORT, 'line refused by the database'); END""",
    ],
    "postgresql": [
        f"""CREATE FUNCTION poison_line() RETURNS trigger AS $$ BEGIN
            IF NEW.title = '{REFUSED_TITLE}' THEN
                RAISE EXCEPTION 'line refused by the database' USING ERRCODE = 'data_exception';
            END IF;
            RETURN NEW; END $$ LANGUAGE plpgsql""",
        "CREATE TRIGGER poison_line BEFORE INSERT ON orders_orderline FOR EACH ROW EXECUTE FUNCTION poison_line()",
    ],
}


def test_a_database_error_on_one_pulled_order_is_isolated_to_it_and_quarantined(channel_emulator):
    """A value only the database refuses (a trigger here: DataError on PostgreSQL, a constraint
    abort on SQLite) rolls back that one order, half-written lines included, and the pull goes on."""
    with connection.cursor() as cursor:
        for statement in TRIGGERS[connection.vendor]:
            cursor.execute(statement)
    channel = emulated_channel(channel_emulator, "pdd")
    ids = channel_emulator.generate("pdd", 4, seed=9)
    channel_emulator.order("pdd", ids[1])["item_list"][0]["goods_name"] = REFUSED_TITLE

    report = channel_pull(channel_id=channel.pk, backoff=0)

    assert report.error == "" and report.quarantined == 1
    assert set(Order.objects.filter(channel=channel).values_list("external_id", flat=True)) == set(ids) - {ids[1]}
    quarantined = QuarantinedMessage.objects.get(channel=channel)
    assert quarantined.external_id == ids[1] and quarantined.field == "database"
    assert "refused by the database" in quarantined.reason
    assert REFUSED_TITLE in quarantined.payload
    channel.refresh_from_db()
    assert channel.pull_cursor is not None and channel.consecutive_pull_failures == 0
