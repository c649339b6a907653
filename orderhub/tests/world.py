"""A database with at least one row behind every admin page, known secrets and a known receiver,
and one user per role: what the role x endpoint and the secrets tests walk."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.utils import timezone

from orderhub import demo, roles
from orders.models import Channel, InboxMessage, Order

ANONYMOUS = "anonymous"
NO_PERMISSION = "staff without permission"
SUPERUSER = "superuser"
#: every role the matrix walks, in the brief's order (finance too: it is a shipped role)
ROLE_NAMES = (
    ANONYMOUS,
    NO_PERMISSION,
    roles.VIEWER,
    roles.OPS,
    roles.WAREHOUSE,
    roles.RULE_ADMIN,
    roles.FINANCE,
    SUPERUSER,
)

#: secrets no page or endpoint may ever show (each unlike any other text on a page)
SECRETS = {
    "app_secret": "APPSECRET-a1b2c3d4e5f6-0001",
    "access_token": "ACCESSTOKEN-a1b2c3d4e5f6-0002",
    "sign_secret": "SIGNSECRET-a1b2c3d4e5f6-0003",
    "message_key": "MESSAGEKEY-a1b2c3d4e5f6-0004",
    "webhook_secret": "WEBHOOKSECRET-a1b2c3d4e5f6-0005",
}

#: the receiver of the known order: full values and what a user without the permission sees
RECEIVER = {
    "receiver_name": "欧阳明月",
    "receiver_phone": "13912345678",
    "receiver_address": "文三路 478 号华星科技大厦 17 楼",
}
MASKED = {"receiver_name": "欧*", "receiver_phone": "139****5678", "receiver_address": "***"}


@dataclass
class World:
    channel: Channel
    order: Order
    users: dict[str, User | None]


def make_user(role: str) -> User | None:
    """A staff user in the role's group (superuser: is_superuser; anonymous: None)."""
    if role == ANONYMOUS:
        return None
    username = role.replace(" ", "_")
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True, is_superuser=role == SUPERUSER)
    if role in roles.ROLES:
        user.groups.add(Group.objects.get(name=role))
    return user


def stocked_order(channel: Channel, *, held: bool = False) -> Order:
    """A fresh ready order for a demo SKU in stock (so a release finds stock); `held`: paused by ops."""
    from decimal import Decimal

    from orders.channels.base import NormalizedLine
    from orders.services import ingest_order, order_hold
    from orders.tests.factories import make_incoming

    line = NormalizedLine(
        external_line_id="L1",
        platform_item_id="1",
        platform_sku_id="1",
        sku_code="DEMO-MUG-350",
        title="mug",
        quantity=1,
        unit_price=Decimal("10.00"),
        paid_amount=Decimal("10.00"),
    )
    incoming = make_incoming(lines=[line], goods_amount=Decimal("10.00"), paid_amount=Decimal("10.00"))
    order = ingest_order(channel=channel, incoming=incoming, source="test").order
    if held:
        order = order_hold(order_id=order.pk, actor=None, reason="matrix")
    return order


def build_world() -> World:
    """Demo data (every platform, orders in many states, stock, rules, tasks) plus a row for each
    admin model the demo leaves empty, a channel with known secrets and an order with a known
    receiver whose history has a receiver change."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_q.models import OrmQ, Task
    from rest_framework.authtoken.models import Token

    from inventory.models import DiffKind, ReconciliationDiff, ReconciliationRun, Sku
    from orders import services
    from rules.models import BacktestRun, BlacklistEntry, InterceptRule

    demo.load(emulator_url="http://127.0.0.1:9", register_with_emulator=False)
    channel = Channel.objects.order_by("pk").first()
    for name, value in SECRETS.items():
        setattr(channel, name, value)
    channel.save()  # a history row written after the secrets were set
    order = Order.objects.filter(channel=channel).order_by("pk").first()
    order.receiver_name, order.receiver_phone = "王二", "13800000000"
    order.save()
    for name, value in RECEIVER.items():
        setattr(order, name, value)
    order.save()  # the history diff now holds the old and new receiver

    users = {role: make_user(role) for role in ROLE_NAMES}
    now = timezone.now()
    run = ReconciliationRun.objects.create(trigger="test", finished_at=now, diff_count=1)
    ReconciliationDiff.objects.create(run=run, kind=DiffKind.LEDGER, sku=Sku.objects.first(), expected=1, actual=2)
    BlacklistEntry.objects.create(kind="buyer_nick", value="刷单账号", note="test")
    rule = InterceptRule.objects.order_by("pk").first()
    BacktestRun.objects.create(rule=rule, rule_version=rule.version, since=now - timezone.timedelta(days=7), until=now)
    Token.objects.create(user=users[roles.WAREHOUSE])
    for success in (True, False):
        Task.objects.create(
            id=f"task{int(success)}".ljust(32, "0"),
            name=f"task-{success}",
            func="orders.tasks.pull_channel",
            started=now,
            stopped=now,
            success=success,
        )
    OrmQ.objects.create(key="orderhub", payload="x", lock=now)
    axes_row = {"user_agent": "pytest", "ip_address": "127.0.0.9", "username": "someone", "path_info": "/admin/"}
    # django-axes' login records; bulk_create sends no post_save, which its cache handler (Redis) lacks
    AccessAttempt.objects.bulk_create([AccessAttempt(**axes_row, failures_since_start=1)])
    AccessLog.objects.bulk_create([AccessLog(**axes_row)])
    AccessFailureLog.objects.bulk_create([AccessFailureLog(**axes_row)])
    _shipping_rows(order)
    services.quarantine_record(
        channel=channel,
        source="pull",
        native={"tid": "Q1", "receiver_mobile": RECEIVER["receiver_phone"]},
        field="receiver_mobile",
        reason="matrix",
        external_id="Q1",
    )
    InboxMessage.objects.create(channel=channel, external_id="IN1", body='{"tid": "IN1"}')
    _workbench_task(order)
    missing = [m._meta.label_lower for m in admin.site._registry if not m._default_manager.exists()]
    assert not missing, f"no row for admin page(s) {missing}: add one in orderhub/tests/world.py build_world()"
    return World(channel=channel, order=order, users=users)


def _workbench_task(order: Order) -> None:
    """An open to-do on the known order (its receiver shown on the workbench's resolve page), for a
    group no role is in: only a claim, an assignment or the resolve permission reaches it."""
    from rules.models import ExceptionTask, ExceptionType

    ExceptionTask.objects.filter(order=order, exception_type__code="remark_review", state="open").delete()
    ExceptionTask.objects.create(
        order=order,
        exception_type=ExceptionType.objects.get(code="remark_review"),
        due_at=timezone.now(),
        note="matrix",
    )


def _shipping_rows(order: Order) -> None:
    """A printed parcel of `order` in a batch, scanned once, with its outbox rows (the demo numbers
    parcels through the emulator, which the matrix does not run)."""
    from shipping.models import (
        BuyerNotice,
        PrintBatch,
        ScannerDevice,
        ScanRecord,
        Shipment,
        ShipmentLine,
        ShipmentState,
        TrackingEvent,
        TrackingSubscription,
        WaybillAccount,
        WaybillImport,
        WriteBack,
    )

    account = WaybillAccount.objects.filter(channel=order.channel).order_by("pk").first()
    batch = PrintBatch.objects.create(account=account)
    shipment = Shipment.objects.create(
        parcel_key=f"{order.pk}-matrix",
        channel=order.channel,
        account=account,
        carrier=account.carrier,
        batch=batch,
        tracking_number="SF0000000001",
        state=ShipmentState.PRINTED,
        print_data={"encryptedData": "x", "signature": "s", "templateURL": "http://127.0.0.1:9/t", "ver": "1"},
    )
    line = order.lines.order_by("pk").first()
    ShipmentLine.objects.create(shipment=shipment, order=order, order_line=line, quantity=line.quantity)
    WriteBack.objects.create(shipment=shipment, order=order)
    BuyerNotice.objects.create(shipment=shipment, order=order)
    TrackingSubscription.objects.create(
        shipment=shipment, backend="kuaidi100", company="shunfeng", number="SF0000000001"
    )
    TrackingEvent.objects.create(shipment=shipment, at=shipment.created_at, state="collected", text="已揽收")
    from shipping.models import NoticeTemplate, TransitTime

    TransitTime.objects.create(destination_province="新疆维吾尔自治区", days=5)
    if not NoticeTemplate.objects.exists():  # seeded by a migration; a flushed test database lost it
        NoticeTemplate.objects.create(event="shipped", medium="sms", body="{tracking_number}")
    device = ScannerDevice.objects.order_by("pk").first()
    ScanRecord.objects.create(
        device=device, idempotency_key="matrix", kind="outbound", shipment=shipment, response_status=200
    )
    WaybillImport.objects.create(
        file_name="pickup.xlsx",
        rows_total=1,
        rows_refused=1,
        results=[{"row": 1, "order": "NOPE", "carrier": "SF", "tracking_number": "SF1", "errors": {"order": ["x"]}}],
    )
    _return_rows(order, line, device.warehouse)


def _return_rows(order: Order, line, warehouse) -> None:
    """A return of the known order (its page shows the receiver) and a quarantined unit."""
    from inventory.models import QuarantineEntry, Sku
    from shipping.models import Return, ReturnItem, ReturnSource

    sku = Sku.objects.order_by("pk").first()
    rma = Return.objects.create(number="RMAMATRIX01", order=order, warehouse=warehouse, source=ReturnSource.ADMIN)
    ReturnItem.objects.create(rma=rma, order_line=line, sku=sku, expected_quantity=line.quantity)
    QuarantineEntry.objects.create(
        warehouse=warehouse, sku=sku, quantity=1, source="return", reference="RMAMATRIX01:0", order=order
    )
