"""Channels (one shop on one platform) and the orders they send, each order a state machine."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import FSMField, transition
from simple_history.models import HistoricalRecords

from orderhub.masking import mask_phone_sql
from orders import texts


class Platform(models.TextChoices):
    TAOBAO = "taobao", _("Taobao")
    TMALL = "tmall", _("Tmall")
    JD = "jd", _("JD")
    PDD = "pdd", _("Pinduoduo")
    DOUYIN = "douyin", _("Douyin shop")
    KUAISHOU = "kuaishou", _("Kuaishou shop")
    MANUAL = "manual", _("Manual / ERP bridge")


class Channel(models.Model):
    """One shop on one platform, with the credentials to talk to it."""

    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    name = models.CharField(_("shop name"), max_length=100)
    app_key = models.CharField(_("app key"), max_length=128, blank=True)
    app_secret = models.CharField(_("app secret"), max_length=256, blank=True)
    access_token = models.CharField(_("access token (session)"), max_length=512, blank=True)
    sign_secret = models.CharField(
        _("sign secret"),
        max_length=256,
        blank=True,
        help_text=_("Kuaishou's signSecret; other platforms sign with the app secret."),
    )
    message_key = models.CharField(
        _("message key"), max_length=256, blank=True, help_text=_("Kuaishou push AES key (Base64).")
    )
    api_base_url = models.URLField(_("API base URL"), max_length=300, blank=True)
    webhook_secret = models.CharField(_("webhook secret"), max_length=256, blank=True)
    ship_within_hours = models.PositiveSmallIntegerField(_("ship within (hours)"), default=4)
    enabled = models.BooleanField(_("enabled"), default=True)
    pull_enabled = models.BooleanField(_("pull orders"), default=True)
    pull_interval_minutes = models.PositiveSmallIntegerField(_("pull every (minutes)"), default=2)

    # Pull state: the cursor only ever advances past orders already stored.
    pull_cursor = models.DateTimeField(_("pull cursor"), null=True, blank=True)
    last_pull_at = models.DateTimeField(_("last pull"), null=True, blank=True)
    last_pull_ok_at = models.DateTimeField(_("last successful pull"), null=True, blank=True)
    last_pull_error = models.TextField(_("last pull error"), blank=True)
    consecutive_pull_failures = models.PositiveIntegerField(_("consecutive pull failures"), default=0)
    pull_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Credentials are write-only (orderhub/masking.py): history keeps who changed them (the change
    # reason names the fields), never their values.
    history = HistoricalRecords(
        excluded_fields=[
            "last_pull_at",
            "updated_at",
            "pull_lease_until",
            "app_secret",
            "access_token",
            "sign_secret",
            "message_key",
            "webhook_secret",
        ]
    )

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} · {self.name}"

    @property
    def adapter_platform(self) -> str:
        """Tmall speaks Taobao's API; a manual channel takes OrderHub's own neutral format."""
        return Platform.TAOBAO if self.platform == Platform.TMALL else self.platform


class OrderState(models.TextChoices):
    NEW = "new", pgettext_lazy("order state", "New")  # plain "New" is django-import-export's "新增"
    READY = "ready", _("Ready to print")
    ON_HOLD = "on_hold", _("On hold")
    AWAITING_STOCK = "awaiting_stock", _("Awaiting stock")
    PRINTED = "printed", _("Printed")
    PARTIALLY_SHIPPED = "partially_shipped", _("Partially shipped")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    RETURNED = "returned", _("Returned")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATES = (OrderState.NEW, OrderState.READY, OrderState.ON_HOLD, OrderState.AWAITING_STOCK, OrderState.PRINTED)
#: still owing the buyer a parcel, so still on the ship-by clock: a partially shipped order's other
#: lines are late just the same (the platform counts the order late until all of it has shipped)
AWAITING_SHIPMENT_STATES = (*OPEN_STATES, OrderState.PARTIALLY_SHIPPED)
HOLDABLE_STATES = OPEN_STATES
CANCELLABLE_STATES = OPEN_STATES


class PlatformStatus(models.TextChoices):
    """The platform's state mapped to one neutral vocabulary (shared/channels/README.md §4)."""

    UNPAID = "unpaid", _("Unpaid")
    AWAITING_SHIPMENT = "awaiting_shipment", _("Awaiting shipment")
    HOLD = "hold", _("Held by platform")
    PARTIALLY_SHIPPED = "partially_shipped", _("Partially shipped")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


class Lane(models.TextChoices):
    NORMAL = "", _("Normal")
    PROMOTION = "promotion", _("Promotion")
    PRESALE = "presale", _("Presale")
    PRIORITY = "priority", _("Priority")


class OrderQuerySet(models.QuerySet):
    def open(self) -> OrderQuerySet:
        return self.filter(state__in=OPEN_STATES)

    def awaiting_shipment(self) -> OrderQuerySet:
        return self.filter(state__in=AWAITING_SHIPMENT_STATES)

    def overdue(self, now=None) -> OrderQuerySet:
        """Past the ship-by time and not all shipped (partially shipped orders included)."""
        now = now or timezone.now()
        return self.awaiting_shipment().filter(ship_by__lt=now)

    def at_risk(self, now=None, within: timedelta = timedelta(hours=1)) -> OrderQuerySet:
        now = now or timezone.now()
        return self.awaiting_shipment().filter(ship_by__gte=now, ship_by__lt=now + within)


class Order(models.Model):
    """A buyer's order on one channel. `state` changes only through the transitions below,
    called from orders.services (which lock, save, audit and enqueue)."""

    # no single-column indexes where a composite index below starts with the column (channel, state,
    # buyer_nick, received_at): every index is written by every order a flash sale inserts (docs/performance.md)
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="orders", verbose_name=_("channel"), db_index=False
    )
    external_id = models.CharField(_("platform order id"), max_length=64)
    state = FSMField(_("state"), default=OrderState.NEW, choices=OrderState.choices, protected=True)
    platform_status = models.CharField(_("platform status"), max_length=24, choices=PlatformStatus.choices)
    platform_status_raw = models.CharField(_("native platform status"), max_length=64, blank=True)
    refund_requested = models.BooleanField(_("refund requested"), default=False)
    platform_hold = models.BooleanField(_("held by platform"), default=False)

    buyer_nick = models.CharField(_("buyer"), max_length=128, blank=True)
    buyer_id = models.CharField(_("buyer id"), max_length=128, blank=True)
    receiver_name = models.CharField(_("receiver name"), max_length=128, blank=True)
    receiver_phone = models.CharField(_("receiver phone"), max_length=64, blank=True, db_index=True)
    receiver_province = models.CharField(_("province"), max_length=64, blank=True)
    receiver_city = models.CharField(_("city"), max_length=64, blank=True)
    receiver_district = models.CharField(_("district"), max_length=64, blank=True)
    receiver_town = models.CharField(_("town"), max_length=64, blank=True)
    receiver_address = models.CharField(_("address"), max_length=500, blank=True)
    receiver_zip = models.CharField(_("zip code"), max_length=16, blank=True)
    receiver_masked = models.BooleanField(
        _("receiver masked"), default=False, help_text=_("The platform sent masked text; the ciphertext is kept.")
    )
    receiver_cipher = models.JSONField(_("receiver ciphertext"), default=dict, blank=True)

    goods_amount = models.DecimalField(_("goods total"), max_digits=12, decimal_places=2, default=Decimal("0"))
    postage = models.DecimalField(_("postage"), max_digits=10, decimal_places=2, default=Decimal("0"))
    discount_amount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=Decimal("0"))
    paid_amount = models.DecimalField(_("paid"), max_digits=12, decimal_places=2, default=Decimal("0"))
    coupons = models.JSONField(_("coupons and promotions"), default=list, blank=True)
    buyer_message = models.TextField(_("buyer message"), blank=True)
    seller_memo = models.TextField(_("seller memo"), blank=True)
    is_presale = models.BooleanField(_("presale"), default=False)

    platform_created_at = models.DateTimeField(_("created on platform"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    platform_modified_at = models.DateTimeField(_("modified on platform"), null=True, blank=True)
    ship_by = models.DateTimeField(_("ship by"), null=True, blank=True, db_index=True)

    lane = models.CharField(_("lane"), max_length=24, blank=True, choices=Lane.choices, default=Lane.NORMAL)
    priority = models.SmallIntegerField(_("priority"), default=0)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    hold_reason = models.CharField(_("hold reason"), max_length=200, blank=True)
    # the hold reason as a code with parameters (orders.texts), rendered in the reader's language
    hold_wording = models.JSONField(_("hold reason (code)"), default=dict, blank=True, editable=False)

    raw_payload = models.JSONField(_("native payload"), default=dict, blank=True)
    source = models.CharField(_("received via"), max_length=16, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # when the order entered its current state: how long it has waited there (workflow page, guard)
    state_changed_at = models.DateTimeField(
        _("in this state since"), default=timezone.now, db_default=Now(), editable=False
    )

    objects = OrderQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["raw_payload", "updated_at", "state_changed_at"])

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="order_unique_per_channel"),
        ]
        indexes = [
            models.Index(fields=["buyer_nick", "receiver_phone"]),
            # search (orders.selectors.order_search): exact keys, and the phone as masked staff see it;
            # the trigram indexes for partial text are PostgreSQL-only, in migration 0007
            models.Index(fields=["external_id"], name="order_external_id_idx"),
            models.Index(fields=["receiver_name"], name="order_receiver_name_idx"),
            models.Index(mask_phone_sql("receiver_phone"), name="order_receiver_phone_mask_idx"),
            # the admin list, newest received first, per channel or state (OrderAdmin.get_ordering)
            models.Index(fields=["state", "received_at"], name="order_state_received_idx"),
            # the ship-by clock on the admin index (overdue / at risk, per channel): orders still to
            # ship only, channel and id carried along, so the counts are read off this small index alone
            models.Index(
                fields=["ship_by"],
                include=["channel", "id"],
                condition=models.Q(state__in=AWAITING_SHIPMENT_STATES),
                name="order_awaiting_ship_by_idx",
            ),
            models.Index(fields=["channel", "received_at"], name="order_channel_received_idx"),
            # the dashboard's grouped reads, answered from the index alone (orderhub/dashboard.py):
            # late and at-risk orders per channel, orders in per day and channel (the print queue per lane
            # reads order_state_lane_since below)
            models.Index(fields=["state", "ship_by", "channel"], name="order_state_shipby_channel"),
            models.Index(fields=["received_at", "channel"], name="order_received_channel"),
            # waiting now per state and lane, oldest first (workflow page, stranded-order guard)
            models.Index(fields=["state", "lane", "state_changed_at"], name="order_state_lane_since"),
            # ready orders per lane of shops without a print queue (workflow page: dead-end lanes),
            # from the index alone; small: only the orders ready now
            models.Index(
                fields=["lane", "channel"], condition=models.Q(state="ready"), name="order_ready_lane_channel"
            ),
        ]
        permissions = [
            ("hold_order", _("Can hold (pause) an order")),
            ("release_order", _("Can release a held order")),
            ("cancel_order", _("Can cancel an order")),
            ("print_order", _("Can mark an order printed")),
            ("ship_order", _("Can mark an order shipped")),
            # receiver name, phone and street address in full (orderhub/masking.py masks them otherwise)
            ("view_receiver_details", _("Can view receiver details")),
        ]

    def __str__(self) -> str:
        return f"{self.channel.platform}:{self.external_id}"

    def refresh_from_db(self, using=None, fields=None, from_queryset=None) -> None:
        """Allow reloading the protected state from the database (it is not an assignment)."""
        if fields is None or "state" in fields:
            self.__dict__.pop("state", None)
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)

    # ---- derived facts ---------------------------------------------------------------------
    def compute_ship_by(self) -> None:
        if self.paid_at:
            self.ship_by = self.paid_at + timedelta(hours=self.channel.ship_within_hours)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def hold_reason_text(self) -> str:
        """Why the order is held, in the reader's language (the stored text for rows without a code)."""
        return texts.render(self.hold_wording, fallback=self.hold_reason)

    def time_left(self, now=None) -> timedelta | None:
        if not self.ship_by:
            return None
        return self.ship_by - (now or timezone.now())

    @property
    def is_overdue(self) -> bool:
        left = self.time_left()
        return bool(self.state in AWAITING_SHIPMENT_STATES and left is not None and left.total_seconds() < 0)

    @property
    def is_at_risk(self) -> bool:
        left = self.time_left()
        return bool(self.state in AWAITING_SHIPMENT_STATES and left is not None and 0 <= left.total_seconds() < 3600)

    # ---- state machine: validate and change state only ---------------------------------
    @transition(field=state, source=OrderState.NEW, target=OrderState.READY)
    def accept(self) -> None:
        """Checked, stock reserved: into the print queue (possibly a special lane)."""

    @transition(field=state, source=[OrderState.ON_HOLD, OrderState.AWAITING_STOCK], target=OrderState.READY)
    def release(self) -> None:
        """A person cleared the exception, or stock arrived."""

    @transition(field=state, source=list(HOLDABLE_STATES), target=OrderState.ON_HOLD)
    def hold(self) -> None:
        """Exception found, or manual pause (暂停发货)."""

    @transition(
        field=state, source=[OrderState.NEW, OrderState.ON_HOLD, OrderState.READY], target=OrderState.AWAITING_STOCK
    )
    def wait_for_stock(self) -> None:
        """Presale SKU without stock: wait instead of overselling."""

    @transition(field=state, source=OrderState.READY, target=OrderState.PRINTED)
    def mark_printed(self) -> None:
        """Waybill/picking list printed."""

    @transition(field=state, source=OrderState.PRINTED, target=OrderState.PARTIALLY_SHIPPED)
    def ship_partially(self) -> None:
        """Outbound scan of one parcel while others of the order are still in the warehouse."""

    @transition(
        field=state,
        source=[OrderState.READY, OrderState.PRINTED, OrderState.PARTIALLY_SHIPPED],
        target=OrderState.SHIPPED,
    )
    def ship(self) -> None:
        """Outbound scan: the (last) parcel left the warehouse."""

    @transition(field=state, source=OrderState.SHIPPED, target=OrderState.DELIVERED)
    def mark_delivered(self) -> None:
        """The carrier or platform reports the parcel signed for."""

    @transition(field=state, source=[OrderState.SHIPPED, OrderState.DELIVERED], target=OrderState.RETURNED)
    def mark_returned(self) -> None:
        """Parcel came back; stock is restocked by the service."""

    @transition(field=state, source=list(CANCELLABLE_STATES), target=OrderState.CANCELLED)
    def cancel(self) -> None:
        """Closed on the platform (refund/close) or by ops; the service releases stock."""


class LineRefundState(models.TextChoices):
    """A line's after-sale state in OrderHub's vocabulary; each adapter maps its platform's codes here
    (the raw code stays in `refund_status`). A withdrawn request goes back to NONE."""

    NONE = "none", _("No refund")
    REQUESTED = "requested", _("Refund requested")
    REFUNDED = "refunded", _("Refunded")


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    external_line_id = models.CharField(_("platform line id"), max_length=64, blank=True)
    platform_item_id = models.CharField(_("platform item id"), max_length=64, blank=True)
    platform_sku_id = models.CharField(_("platform SKU id"), max_length=64, blank=True, db_index=True)
    sku_code = models.CharField(_("merchant SKU code"), max_length=64, blank=True, db_index=True)
    title = models.CharField(_("title"), max_length=300, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    discount_amount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=Decimal("0"))
    paid_amount = models.DecimalField(_("paid"), max_digits=12, decimal_places=2, default=Decimal("0"))
    refund_status = models.CharField(_("refund status"), max_length=40, blank=True)
    refund_state = models.CharField(
        _("refund state"), max_length=12, choices=LineRefundState.choices, default=LineRefundState.NONE
    )

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order_id", "id"]

    def __str__(self) -> str:
        return f"{self.sku_code or self.platform_sku_id} × {self.quantity}"


# Event kinds as ops staff read them (OrderEvent.kind stores the code; unknown codes show as they are).
EVENT_LABELS = {
    "received": pgettext_lazy("order event", "received"),
    "platform_update": pgettext_lazy("order event", "updated on the platform"),
    "receiver_edited": pgettext_lazy("order event", "receiver edited"),
    "marked_paid": pgettext_lazy("order event", "marked paid"),
    "accept": pgettext_lazy("order event", "accepted"),
    "release": pgettext_lazy("order event", "released"),
    "hold": pgettext_lazy("order event", "paused"),
    "wait_for_stock": pgettext_lazy("order event", "waiting for stock"),
    "mark_printed": pgettext_lazy("order event", "printed"),
    "ship_partially": pgettext_lazy("order event", "partially shipped"),
    "ship": pgettext_lazy("order event", "shipped"),
    "mark_delivered": pgettext_lazy("order event", "delivered"),
    "mark_returned": pgettext_lazy("order event", "returned"),
    "cancel": pgettext_lazy("order event", "cancelled"),
    "lines_changed": pgettext_lazy("order event", "lines changed on the platform"),
    "parcel_line_removed": pgettext_lazy("order event", "refunded line taken out of its parcels"),
    "write_back_retried": pgettext_lazy("order event", "write-back retried"),
    "write_back_by_hand": pgettext_lazy("order event", "written back by hand"),
    "tracking_number_changed": pgettext_lazy("order event", "tracking number changed"),
}


class OrderEvent(models.Model):
    """Who did what to an order and why: the ops-readable audit trail beside simple-history."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("event"), max_length=40)
    from_state = models.CharField(_("from"), max_length=20, blank=True)
    to_state = models.CharField(_("to"), max_length=20, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        ordering = ["order_id", "id"]
        indexes = [
            # orders shipped in a time range: the dashboard's shipped figures and the list behind them
            models.Index(fields=["kind", "at"], name="orderevent_kind_at"),
            # state changes per kind in a period without reading the rows (the workflow page)
            models.Index(
                fields=["at"],
                include=["kind", "from_state", "to_state", "order_id"],
                condition=~models.Q(kind="received"),  # half of all events; arrivals are counted on orders
                name="orderevent_at_moves",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind_label} {self.from_state_label}→{self.to_state_label}"

    @property
    def kind_label(self) -> str:
        return str(EVENT_LABELS.get(self.kind, self.kind))

    @property
    def description(self) -> str:
        """The note in the reader's language: per-line changes and parcel changes are stored as codes
        with their figures (`data`) and put into words here; other events show their note."""
        if self.kind == "lines_changed":
            return "; ".join(describe_line_change(item) for item in self.data.get("lines", []))
        if self.kind == "parcel_line_removed":
            parcels = ", ".join(
                p.get("tracking_number") or p.get("parcel_key", "") for p in self.data.get("parcels", [])
            )
            return _("Line %(sku)s was refunded: taken out of parcel(s) %(parcels)s.") % {
                "sku": self.data.get("sku_code") or self.data.get("line_id", ""),
                "parcels": parcels,
            }
        return texts.render(self.data.get("wording"), fallback=self.note)

    @property
    def from_state_label(self) -> str:
        return _state_label(self.from_state)

    @property
    def to_state_label(self) -> str:
        return _state_label(self.to_state)


def _state_label(state: str) -> str:
    return str(OrderState(state).label) if state in OrderState.values else state


def _refund_label(state: str) -> str:
    return str(LineRefundState(state).label) if state in LineRefundState.values else str(state)


def describe_line_change(item: dict) -> str:
    """One line's changes (OrderEvent data of a `lines_changed` event) in words ops can read."""
    who = item.get("sku_code") or item.get("external_line_id") or item.get("line_id", "")
    changes = item.get("changes", {})
    if item.get("added"):
        quantity = changes.get("quantity", {}).get("to", "")
        return str(_("line %(line)s added (quantity %(quantity)s)") % {"line": who, "quantity": quantity})
    parts = []
    if "refund_state" in changes:
        parts.append(
            _("refund %(before)s → %(after)s")
            % {
                "before": _refund_label(changes["refund_state"].get("from", "")),
                "after": _refund_label(changes["refund_state"].get("to", "")),
            }
        )
    if "quantity" in changes:
        parts.append(
            _("quantity %(before)s → %(after)s")
            % {"before": changes["quantity"].get("from", ""), "after": changes["quantity"].get("to", "")}
        )
    if "refund_status" in changes:
        parts.append(
            _("platform refund code %(before)s → %(after)s")
            % {
                "before": changes["refund_status"].get("from") or "—",
                "after": changes["refund_status"].get("to") or "—",
            }
        )
    return str(_("line %(line)s: %(changes)s") % {"line": who, "changes": ", ".join(str(p) for p in parts)})


class InboundMessage(models.Model):
    """Push message ids already seen, so a redelivered trigger is processed once."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="messages")
    message_id = models.CharField(max_length=128)
    topic = models.CharField(max_length=80, blank=True)
    external_id = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "message_id"], name="message_unique_per_channel")]

    def __str__(self) -> str:
        return f"{self.topic or 'message'} {self.message_id}"


class InboxMessageQuerySet(models.QuerySet):
    def undecided(self) -> InboxMessageQuerySet:
        return self.filter(decided_at__isnull=True)


class InboxMessage(models.Model):
    """A signed order push the webhook verified, validated and accepted, waiting for a drainer.

    The webhook answers as soon as this row is committed; drainers (`manage.py drain_inbox`) claim
    rows in batches for a lease, decide them with `ingest_orders()` and mark them decided. A drainer
    that dies leaves its rows claimed until the lease runs out; then another claims them again, and
    the pipeline's exactly-once semantics make the second decision a no-op ("unchanged")."""

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="inbox_messages", verbose_name=_("channel")
    )
    external_id = models.CharField(_("platform order id"), max_length=64, blank=True)
    body = models.TextField(_("signed body"))
    received_at = models.DateTimeField(_("accepted at"), default=timezone.now)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=16, blank=True)
    order = models.ForeignKey(
        "Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("order")
    )
    error = models.TextField(_("error"), blank=True)

    objects = InboxMessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("inbox message")
        verbose_name_plural = _("webhook inbox")
        ordering = ["-pk"]
        indexes = [
            # the drainers' claim and the backlog age read only the undecided rows
            models.Index(fields=["id"], condition=models.Q(decided_at__isnull=True), name="inbox_undecided"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id or '?'} #{self.pk}"


class AlertSeverity(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class Alert(models.Model):
    """Something a person must look at (a channel failing to pull, a push dead-lettered, …).

    One open alert per key: a repeat bumps its count instead of flooding the list."""

    key = models.CharField(_("key"), max_length=200, db_index=True)
    source = models.CharField(_("source"), max_length=40)
    severity = models.CharField(
        _("severity"), max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING
    )
    message = models.TextField(_("message"))
    # the message as a code with parameters (orders.texts); `message` keeps its English rendering
    wording = models.JSONField(_("message (code)"), default=dict, blank=True, editable=False)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    count = models.PositiveIntegerField(_("occurrences"), default=1)
    first_seen = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["resolved_at", "-last_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(resolved_at__isnull=True), name="one_open_alert_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"[{self.get_severity_display()}] {self.text[:80]}"

    @property
    def text(self) -> str:
        """The message in the reader's language (the stored English text for rows without a code)."""
        return texts.render(self.wording, fallback=self.message)


class QuarantineSource(models.TextChoices):
    PULL = "pull", _("Pull")
    PUSH = "push", _("Push (detail re-read)")
    INBOX = "inbox", _("Webhook (inbox)")


class QuarantinedMessageQuerySet(models.QuerySet):
    def unresolved(self) -> QuarantinedMessageQuerySet:
        return self.filter(resolved_at__isnull=True)


class QuarantinedMessage(models.Model):
    """A platform order OrderHub refused as malformed, kept so a person can see why and retry it.

    The pull goes on past it (one bad order never blocks a channel); the payload is stored as JSON
    text with every non-ASCII character escaped, so a NUL byte or lone surrogate survives as an escape
    that PostgreSQL can store and a retry can decode again."""

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="quarantined_messages", verbose_name=_("channel")
    )
    source = models.CharField(_("received via"), max_length=16, choices=QuarantineSource.choices)
    external_id = models.CharField(_("platform order id"), max_length=64, blank=True, db_index=True)
    payload = models.TextField(_("native payload (JSON)"), blank=True)
    payload_sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    field = models.CharField(_("field"), max_length=200, blank=True)
    reason = models.TextField(_("reason"))
    occurrences = models.PositiveIntegerField(_("occurrences"), default=1)
    retries = models.PositiveSmallIntegerField(_("retries"), default=0)
    created_at = models.DateTimeField(_("first seen"), default=timezone.now, db_index=True)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolution = models.CharField(_("resolution"), max_length=200, blank=True)

    objects = QuarantinedMessageQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["payload", "last_seen"])

    class Meta:
        verbose_name = _("quarantined order")
        verbose_name_plural = _("quarantined orders")
        ordering = ["resolved_at", "-last_seen"]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.external_id or '?'} {self.field}"


class StageLimit(models.Model):
    """How long an order may sit in one stage of the flow (optionally one lane) before the stranded-order
    guard alerts. On hold, an empty limit means "past its to-do's due time"."""

    class Stage(models.TextChoices):
        NEW = "new", pgettext_lazy("order state", "New")
        ON_HOLD = "on_hold", _("On hold")
        AWAITING_STOCK = "awaiting_stock", _("Awaiting stock")
        READY = "ready", _("Ready to print")
        PRINTED = "printed", _("Printed")
        PARTIALLY_SHIPPED = "partially_shipped", _("Partially shipped")
        SHIPPED_NO_WRITE_BACK = "shipped_no_write_back", _("Shipped, not written back")

    stage = models.CharField(_("stage"), max_length=24, choices=Stage.choices)
    lane = models.CharField(
        _("lane"),
        max_length=24,
        blank=True,
        default="",
        help_text=_("Empty: every lane without a limit of its own."),
    )
    limit_minutes = models.PositiveIntegerField(
        _("limit (minutes)"),
        null=True,
        blank=True,
        help_text=_("On hold: empty means past the to-do's due time. Other stages need a number."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("stage limit")
        verbose_name_plural = _("stage limits")
        ordering = ["stage", "lane"]
        constraints = [models.UniqueConstraint(fields=["stage", "lane"], name="one_limit_per_stage_lane")]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} {self.lane}".strip()

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        if self.limit_minutes is None and self.stage != self.Stage.ON_HOLD:
            errors["limit_minutes"] = _("This stage needs a limit in minutes.")
        if self.lane and self.lane not in {value for value, _label in Lane.choices if value}:
            errors["lane"] = _("Choose one of the lanes: %(lanes)s.") % {
                "lanes": ", ".join(value for value, _label in Lane.choices if value)
            }
        if errors:
            raise ValidationError(errors)


class FlowHour(models.Model):
    """Pre-aggregated figures of the workflow page (issue 13): per UTC hour, the state changes per
    (kind, from state, lane) and the orders received per channel. Written only by the scheduled
    re-aggregation (orders.workflow_services.flow_rollup), never inside ingestion: a row shared by
    every order would be a hot row serialising the writers (issue 11)."""

    #: the start of the UTC hour
    bucket = models.DateTimeField()
    #: the event kind, or "received" for orders received (then `channel_pk` says where)
    kind = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, blank=True)
    #: only for the changes into and out of "ready" (drawn per lane), as the order's lane was when rolled up
    lane = models.CharField(max_length=24, blank=True)
    #: the channel's id for "received" rows; 0 otherwise (a plain number: the rows outlive channels)
    channel_pk = models.IntegerField(default=0)
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "kind", "from_state", "lane", "channel_pk"], name="flowhour_one_row_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:00} {self.kind} {self.from_state} {self.lane} {self.channel_pk}: {self.count}"


class FlowRollupMark(models.Model):
    """The hours FlowHour covers, [since, upto): one row, moved by the re-aggregation job only. The
    page counts from the events and orders themselves outside it, so its figures do not depend on
    whether the job ran."""

    since = models.DateTimeField()
    upto = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.since:%Y-%m-%d %H:00} – {self.upto:%Y-%m-%d %H:00}"
