"""Outbound: carriers, e-waybill accounts, parcels (Shipment) with their lines, print batches,
the outbox rows the next stage drains (write-back, buyer notice), the warehouse scanners, and the
buyer-notice templates, transit times and notice call log.

Facts behind the shapes: ../shared/channels/shipping.md. Nothing here invents a tracking number:
it comes from the platform's e-waybill service, or from the carrier's own label (manual channel).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from orders.models import Lane
from shipping.notices.rendering import TemplateError, check_template, parse_vendor_params


class Carrier(models.Model):
    """A carrier and its code on each platform (shared/channels/README.md §6), editable by ops."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=100)
    platform_codes = models.JSONField(
        _("platform codes"),
        default=dict,
        blank=True,
        help_text=_('The carrier\'s code on each platform, e.g. {"taobao": "SF", "jd": "467"}.'),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def code_on(self, platform: str) -> str:
        """This carrier's code on `platform` (Tmall speaks Taobao's codes); empty when unknown."""
        codes = self.platform_codes or {}
        if platform == "tmall" and "tmall" not in codes:
            platform = "taobao"
        return str(codes.get(platform, ""))


class WaybillAccount(models.Model):
    """One e-waybill subscription: a channel's account with a carrier at a branch (网点) or a
    monthly account, the sender address the platform approved, and the remaining quota."""

    channel = models.ForeignKey(
        "orders.Channel", on_delete=models.PROTECT, related_name="waybill_accounts", verbose_name=_("channel")
    )
    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, related_name="waybill_accounts", verbose_name=_("carrier")
    )
    branch_code = models.CharField(_("branch code"), max_length=64, blank=True)
    branch_name = models.CharField(_("branch name"), max_length=200, blank=True)
    sender_name = models.CharField(_("sender name"), max_length=64)
    sender_mobile = models.CharField(_("sender mobile"), max_length=32)
    sender_province = models.CharField(_("sender province"), max_length=64)
    sender_city = models.CharField(_("sender city"), max_length=64)
    sender_district = models.CharField(_("sender district"), max_length=64, blank=True)
    sender_address = models.CharField(_("sender address"), max_length=300)
    template_url = models.URLField(_("label template URL"), max_length=500, blank=True)
    custom_area_template_url = models.URLField(_("custom area template URL"), max_length=500, blank=True)
    quota = models.IntegerField(
        _("remaining quota"), null=True, blank=True, help_text=_("Empty: the platform does not count this account.")
    )
    quota_checked_at = models.DateTimeField(_("quota checked at"), null=True, blank=True)
    quota_alert_below = models.PositiveIntegerField(
        _("alert when quota below"), default=200, help_text=_("A refresh finding fewer numbers left raises an alert.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["quota_checked_at"])

    class Meta:
        verbose_name = _("waybill account")
        verbose_name_plural = _("waybill accounts")
        ordering = ["channel_id", "carrier_id", "branch_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "carrier", "branch_code"], name="waybill_account_unique_branch_per_channel"
            )
        ]

    def __str__(self) -> str:
        branch = self.branch_name or self.branch_code
        return f"{self.channel.name} · {self.carrier.code}" + (f" · {branch}" if branch else "")

    @property
    def quota_low(self) -> bool:
        return self.quota is not None and self.quota < self.quota_alert_below


class PrintBatchState(models.TextChoices):
    OPEN = "open", _("Open")
    PRINTING = "printing", _("Printing")
    PRINTED = "printed", _("Printed")


class PrintBatch(models.Model):
    """Labels printed together: one account (so one carrier and template) and one lane."""

    account = models.ForeignKey(
        WaybillAccount, on_delete=models.PROTECT, related_name="print_batches", verbose_name=_("waybill account")
    )
    lane = models.CharField(_("lane"), max_length=24, blank=True, choices=Lane.choices, default=Lane.NORMAL)
    state = models.CharField(
        _("state"), max_length=12, choices=PrintBatchState.choices, default=PrintBatchState.OPEN, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    printed_at = models.DateTimeField(_("printed at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("print batch")
        verbose_name_plural = _("print batches")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.account}"


class ShipmentState(models.TextChoices):
    PENDING = "pending", _("Waiting for a number")
    NUMBERED = "numbered", _("Numbered")
    PRINTED = "printed", _("Printed")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    VOIDED = "voided", _("Voided")


class Shipment(models.Model):
    """One parcel. `parcel_key` is written before the platform is asked for a number and sent as
    its request/package id, so a retry can never take a second number for the same parcel."""

    parcel_key = models.CharField(_("parcel key"), max_length=64, unique=True)
    channel = models.ForeignKey(
        "orders.Channel", on_delete=models.PROTECT, related_name="shipments", verbose_name=_("channel")
    )
    account = models.ForeignKey(
        WaybillAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="shipments",
        verbose_name=_("waybill account"),
    )
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="shipments", verbose_name=_("carrier"))
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="shipments",
        verbose_name=_("warehouse"),
    )
    batch = models.ForeignKey(
        PrintBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="shipments",
        verbose_name=_("print batch"),
    )
    replaces = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
        verbose_name=_("re-issue of"),
    )
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True, db_index=True)
    parent_tracking_number = models.CharField(_("parent tracking number"), max_length=64, blank=True)
    state = models.CharField(
        _("state"), max_length=12, choices=ShipmentState.choices, default=ShipmentState.PENDING, db_index=True
    )
    failure_code = models.CharField(_("failure code"), max_length=32, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    print_data = models.JSONField(_("print data"), default=dict, blank=True)
    weight_grams = models.PositiveIntegerField(_("weight (g)"), default=0)
    item_check = models.JSONField(
        _("items checked"), default=dict, blank=True, help_text=_("Item barcodes scanned so far (扫描验货).")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    numbered_at = models.DateTimeField(_("numbered at"), null=True, blank=True)
    printed_at = models.DateTimeField(_("printed at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    eta = models.DateTimeField(
        _("estimated delivery"), null=True, blank=True, help_text=_("As the tracking service predicts it.")
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    shipped_by_device = models.ForeignKey(
        "shipping.ScannerDevice",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("scanned by device"),
    )
    shipped_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("shipped by"),
    )
    history = HistoricalRecords(excluded_fields=["print_data"])

    class Meta:
        verbose_name = _("shipment (parcel)")
        verbose_name_plural = _("shipments (parcels)")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~models.Q(tracking_number=""),
                name="shipment_tracking_number_unique_per_carrier",
            )
        ]
        permissions = [
            ("void_shipment", _("Can void and re-issue a parcel's number")),
            ("scan_shipment", _("Can scan a parcel out")),
        ]

    def __str__(self) -> str:
        return f"{self.carrier.code} {self.tracking_number or self.parcel_key}"


class ShipmentLine(models.Model):
    """What a parcel carries: a quantity of one order line (a parcel may carry several orders: 合单)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines", verbose_name=_("parcel"))
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="shipment_lines", verbose_name=_("order")
    )
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines", verbose_name=_("order line")
    )
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("parcel line")
        verbose_name_plural = _("parcel lines")
        ordering = ["shipment_id", "order_line_id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order_line"], name="shipment_line_unique_per_parcel"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="shipment_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.order_line} → {self.shipment_id}"


class OutboxState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class OutboxRow(models.Model):
    """What every outbox row of a parcel carries: written in the scan's transaction, drained by a
    task that retries with backoff (attempts, next_attempt_at) until done or failed."""

    state = models.CharField(
        _("state"), max_length=10, choices=OutboxState.choices, default=OutboxState.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now, db_index=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        abstract = True


class WriteBackAction(models.TextChoices):
    SHIP = "ship", _("Ship")
    MODIFY = "modify", _("Change tracking number")


class WriteBackFailure(models.TextChoices):
    """Why a write-back stopped (state failed): each one is a different job for a person."""

    DEAD_LETTER = "dead_letter", _("Retries exhausted")
    REFUSED = "refused", _("Refused by the platform")
    ORDER_CLOSED = "order_closed", _("Platform order closed")
    NOT_SUPPORTED = "not_supported", _("No platform API: change it by hand")


class WriteBack(OutboxRow):
    """Outbox row: tell the platform this order left in this parcel (drained by the write-back task).

    A drain leases the row (`claimed_until`, `claim_token`) in a short transaction, calls the platform
    with no transaction open, then records the outcome under the same token. A lease that runs out
    (the worker died) makes the row due again for the sweep."""

    shipment = models.ForeignKey(
        Shipment, on_delete=models.PROTECT, related_name="write_backs", verbose_name=_("parcel")
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="write_backs", verbose_name=_("order")
    )
    action = models.CharField(_("action"), max_length=10, choices=WriteBackAction.choices, default=WriteBackAction.SHIP)
    previous_tracking_number = models.CharField(
        _("previous tracking number"),
        max_length=64,
        blank=True,
        help_text=_("The number the platform holds, when the action changes it."),
    )
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True, db_index=True)
    claim_token = models.CharField(_("claim token"), max_length=32, blank=True)
    failure = models.CharField(_("failure"), max_length=16, choices=WriteBackFailure.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    history = HistoricalRecords(
        excluded_fields=["claimed_until", "claim_token", "next_attempt_at"], verbose_name=_("historical write-back")
    )

    class Meta(OutboxRow.Meta):
        verbose_name = _("write-back")
        verbose_name_plural = _("write-backs")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["shipment", "order"], name="write_back_once_per_parcel_order")]
        permissions = [
            ("retry_writeback", _("Can retry a write-back now")),
            ("resolve_writeback", _("Can mark a write-back done by hand")),
        ]

    def __str__(self) -> str:
        return f"{self.order} ← {self.shipment}"


class AttemptOutcome(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown (no answer recorded)")
    SHIPPED = "shipped", _("Shipped")
    ALREADY_SHIPPED = "already_shipped", _("Already shipped (confirmed)")
    RETRY = "retry", _("Failed, will retry")
    DEAD_LETTER = "dead_letter", _("Failed, retries exhausted")
    REFUSED = "refused", _("Refused")
    ORDER_CLOSED = "order_closed", _("Platform order closed")
    NOT_SUPPORTED = "not_supported", _("Not supported")


class WriteBackAttempt(models.Model):
    """One call to the platform for a write-back: written before the call (outcome unknown), so a
    worker that dies mid-call leaves a trace the next drain reconciles by re-reading the order."""

    write_back = models.ForeignKey(
        WriteBack, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("write-back")
    )
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    api = models.CharField(_("platform API"), max_length=64, blank=True)
    request = models.JSONField(_("request"), default=dict, blank=True, help_text=_("Parameters sent, no credentials."))
    response = models.JSONField(_("response"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.UNKNOWN
    )
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)

    class Meta:
        verbose_name = _("write-back attempt")
        verbose_name_plural = _("write-back attempts")
        ordering = ["write_back_id", "id"]

    def __str__(self) -> str:
        return f"{self.write_back_id} {self.api} {self.outcome}"


class NoticeEvent(models.TextChoices):
    SHIPPED = "shipped", _("Shipped")
    DELAYED = "delayed", _("Delayed (past the ship-by deadline)")
    DELIVERED = "delivered", _("Delivered")


class NoticeMedium(models.TextChoices):
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat subscribe message")


class BuyerNoticeState(models.TextChoices):
    """A notice's life (shipping.notices.services.sending): `sending` is written before the gateway is called, so
    a crash or a timeout leaves a row that is reconciled with the gateway before any resend;
    `unknown` is one the gateway could not account for, for a person to settle."""

    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending (outcome being checked)")
    DONE = "done", _("Sent")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("Outcome unknown: a person decides")
    SKIPPED = "skipped", _("Skipped")
    NOT_SENT = "not_sent", _("Not sent: no usable recipient")


class BuyerNotice(OutboxRow):
    """Outbox row: tell the buyer about this parcel (`shipped`, `delivered`) or this order (`delayed`,
    no parcel yet). Drained by shipping.notices.services; at most one per (parcel, order, event), and one
    `delayed` per order."""

    EVENT_SHIPPED = "shipped"
    EVENT_DELAYED = "delayed"
    EVENT_DELIVERED = "delivered"

    state = models.CharField(
        _("state"), max_length=10, choices=BuyerNoticeState.choices, default=BuyerNoticeState.PENDING, db_index=True
    )
    shipment = models.ForeignKey(
        Shipment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="buyer_notices",
        verbose_name=_("parcel"),
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="buyer_notices", verbose_name=_("order")
    )
    event = models.CharField(_("event"), max_length=24, choices=NoticeEvent.choices, default=EVENT_SHIPPED)
    medium = models.CharField(_("medium"), max_length=16, choices=NoticeMedium.choices, blank=True)
    backend = models.CharField(_("backend"), max_length=16, blank=True)
    template = models.ForeignKey(
        "shipping.NoticeTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("template"),
    )
    rendered_text = models.TextField(_("rendered text"), blank=True)
    recipient = models.CharField(_("recipient"), max_length=128, blank=True)
    out_id = models.CharField(
        _("our message id"), max_length=64, blank=True, help_text=_("Sent as Aliyun OutId / Tencent SessionContext.")
    )
    gateway_message_id = models.CharField(_("gateway message id"), max_length=128, blank=True)
    gateway_answer = models.JSONField(_("gateway answer"), default=dict, blank=True)
    sending_since = models.DateTimeField(_("sending since"), null=True, blank=True)
    lookups = models.PositiveIntegerField(_("status lookups"), default=0)

    class Meta(OutboxRow.Meta):
        verbose_name = _("buyer notice")
        verbose_name_plural = _("buyer notices")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order", "event"], name="buyer_notice_once_per_event"),
            models.UniqueConstraint(
                fields=["order", "event"],
                condition=models.Q(shipment__isnull=True),
                name="buyer_notice_once_per_order_event_without_parcel",
            ),
        ]
        permissions = [("resend_buyernotice", _("Can retry a buyer notice or settle its outcome by hand"))]

    def __str__(self) -> str:
        return f"{self.event} {self.order}"


class ScannerDevice(models.Model):
    """A warehouse PDA. Its token is shown once at creation and stored only as a SHA-256 hash; the
    prefix identifies the device in lists and logs without revealing the token."""

    name = models.CharField(_("name"), max_length=100)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="scanner_devices", verbose_name=_("warehouse")
    )
    token_prefix = models.CharField(_("token prefix"), max_length=12, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["last_used_at"])

    class Meta:
        verbose_name = _("scanner device")
        verbose_name_plural = _("scanner devices")
        ordering = ["warehouse_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ScanRecord(models.Model):
    """One scanner request under its Idempotency-Key and the answer given, replayed on a retry."""

    device = models.ForeignKey(ScannerDevice, on_delete=models.CASCADE, related_name="scans")
    idempotency_key = models.CharField(_("idempotency key"), max_length=128)
    kind = models.CharField(_("kind"), max_length=16)
    request = models.JSONField(_("request"), default=dict)
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response = models.JSONField(_("response"), default=dict)
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.SET_NULL, related_name="scans")
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("scan")
        verbose_name_plural = _("scans")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["device", "idempotency_key"], name="scan_once_per_idempotency_key")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class WaybillImport(models.Model):
    """One waybill sheet imported (not the previews): who imported which file, when, and what became
    of each row. Parcels shipped by it carry the user in their history and order events."""

    SOURCE_ADMIN = "admin"
    SOURCE_COMMAND = "command"
    SOURCE_CHOICES = [(SOURCE_ADMIN, _("admin page")), (SOURCE_COMMAND, _("management command"))]

    file_name = models.CharField(_("file name"), max_length=255)
    source = models.CharField(_("source"), max_length=12, choices=SOURCE_CHOICES, default=SOURCE_ADMIN)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("imported by"),
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_shipped = models.PositiveIntegerField(_("rows shipped"), default=0)
    rows_refused = models.PositiveIntegerField(_("rows refused"), default=0)
    results = models.JSONField(
        _("row results"),
        default=list,
        blank=True,
        help_text=_("Per row: the order, carrier and number read, the parcel shipped or the errors."),
    )

    class Meta:
        verbose_name = _("waybill sheet import")
        verbose_name_plural = _("waybill sheet imports")
        ordering = ["-id"]
        permissions = [("import_waybills", _("Can import waybill sheets (ships the orders they list)"))]

    def __str__(self) -> str:
        return f"{self.file_name} ({timezone.localtime(self.started_at):%Y-%m-%d %H:%M})"


# ---- printing (print page results) ---------------------------------------------------------------
class PrintRecord(models.Model):
    """One result the print component reported for one label: who printed which number on which
    printer, and whether it came out. The audit trail of printing and of every reprint."""

    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="print_records", verbose_name=_("parcel")
    )
    batch = models.ForeignKey(
        PrintBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="print_records"
    )
    tracking_number = models.CharField(_("tracking number"), max_length=64)
    ok = models.BooleanField(_("printed"))
    message = models.CharField(_("component message"), max_length=500, blank=True)
    printer = models.CharField(_("printer"), max_length=200, blank=True)
    task_id = models.CharField(_("print task"), max_length=64, blank=True)
    reprint = models.BooleanField(_("reprint"), default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("printed by"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("print result")
        verbose_name_plural = _("print results")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.tracking_number} {'✔' if self.ok else '✖'}"


class TrackingState(models.TextChoices):
    """A parcel's movement in one vocabulary for every tracking service (shipping.md §3)."""

    COLLECTED = "collected", _("Collected by the carrier")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    DELIVERED = "delivered", _("Delivered (signed)")
    PROBLEM = "problem", _("Problem")
    REFUSED = "refused", _("Refused by the receiver")
    RETURNED = "returned", _("Returned to sender")
    RETURNING = "returning", _("On its way back")


#: states that need a person: each new one raises the order's `tracking_problem` task
PROBLEM_TRACKING_STATES = frozenset(
    {TrackingState.PROBLEM, TrackingState.REFUSED, TrackingState.RETURNED, TrackingState.RETURNING}
)


class TrackingSubscription(OutboxRow):
    """Outbox row: subscribe this parcel with the tracking service (drained by the tracking task),
    then what the service last told about it. One per parcel; a re-issued number is a new parcel."""

    shipment = models.OneToOneField(
        Shipment, on_delete=models.PROTECT, related_name="tracking_subscription", verbose_name=_("parcel")
    )
    backend = models.CharField(_("tracking service"), max_length=16)
    company = models.CharField(_("carrier code at the service"), max_length=32, blank=True)
    number = models.CharField(_("tracking number"), max_length=64, db_index=True)
    phone_tail = models.CharField(
        _("receiver phone, last 4 digits"),
        max_length=4,
        blank=True,
        help_text=_(
            "Some carriers (SF, ZTO) answer only with these; read from a masked phone when that is all we have."
        ),
    )
    phone_from_masked = models.BooleanField(_("phone digits from a masked number"), default=False)
    subscribed_at = models.DateTimeField(_("subscribed at"), null=True, blank=True)
    service_status = models.CharField(
        _("service status"), max_length=16, blank=True, help_text=_("The service's own word: polling, shutdown, abort.")
    )
    last_state = models.CharField(_("last tracking state"), max_length=20, blank=True, choices=TrackingState.choices)
    last_event_at = models.DateTimeField(_("last movement at"), null=True, blank=True)
    last_update_at = models.DateTimeField(_("last update received at"), null=True, blank=True, db_index=True)
    last_polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    no_pickup_raised_at = models.DateTimeField(_("no-pickup raised at"), null=True, blank=True)

    class Meta(OutboxRow.Meta):
        verbose_name = _("tracking subscription")
        verbose_name_plural = _("tracking subscriptions")
        ordering = ["-id"]
        permissions = [("retry_trackingsubscription", _("Can send a tracking subscription again"))]

    def __str__(self) -> str:
        return f"{self.backend} {self.company} {self.number}"


class TrackingEvent(models.Model):
    """One movement of a parcel as the tracking service reported it; a replayed callback or a poll
    that repeats it adds nothing (unique per parcel, time and state)."""

    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="tracking_events", verbose_name=_("parcel")
    )
    at = models.DateTimeField(_("at"))
    state = models.CharField(_("state"), max_length=20, choices=TrackingState.choices)
    raw_state = models.CharField(_("service state code"), max_length=16, blank=True)
    text = models.TextField(_("carrier's words"), blank=True)
    location = models.CharField(_("location"), max_length=200, blank=True)
    source = models.CharField(_("received via"), max_length=24, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        ordering = ["shipment_id", "-at"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "at", "state"], name="tracking_event_once_per_time_state")
        ]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.at):%Y-%m-%d %H:%M} {self.get_state_display()}"


# ---- returns (RMA) -------------------------------------------------------------------------------
class ReturnState(models.TextChoices):
    EXPECTED = "expected", _("Expected")
    PARTLY_RECEIVED = "partly_received", _("Partly received")
    RECEIVED = "received", _("Received")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


#: a return still waiting for (some of) its goods: the scan may receive into it
OPEN_RETURN_STATES = (ReturnState.EXPECTED, ReturnState.PARTLY_RECEIVED)


class ReturnSource(models.TextChoices):
    PLATFORM = "platform", _("Refund on the platform")
    ADMIN = "admin", _("Opened by ops")


class ReturnCondition(models.TextChoices):
    RESELLABLE = "resellable", _("Resellable")
    DAMAGED = "damaged", _("Damaged")


class Return(models.Model):
    """A return (RMA, 退货): goods of shipped order lines expected back at the warehouse. `number` is
    ours (printed as a barcode on the return slip, scanned on arrival); `platform_refund_id` is the
    platform's refund/after-sale id when known. States change only through shipping.services.returns."""

    number = models.CharField(_("RMA number"), max_length=16, unique=True)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="returns", verbose_name=_("order"))
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="returns",
        verbose_name=_("expected at warehouse"),
    )
    platform_refund_id = models.CharField(_("platform refund id"), max_length=64, blank=True)
    source = models.CharField(_("opened by"), max_length=12, choices=ReturnSource.choices)
    state = models.CharField(
        _("state"), max_length=16, choices=ReturnState.choices, default=ReturnState.EXPECTED, db_index=True
    )
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    received_at = models.DateTimeField(pgettext_lazy("return", "received at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("return (RMA)")
        verbose_name_plural = _("returns (RMA)")
        ordering = ["-id"]
        permissions = [("receive_return", _("Can receive returned goods"))]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_RETURN_STATES


class ReturnItem(models.Model):
    """One order line expected back: how many, and how many came back in which condition."""

    rma = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="items", verbose_name=_("return"))
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="return_items", verbose_name=_("order line")
    )
    sku = models.ForeignKey(
        "inventory.Sku",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="return_items",
        verbose_name=_("SKU"),
    )
    expected_quantity = models.PositiveIntegerField(_("expected quantity"))
    received_resellable = models.PositiveIntegerField(_("received resellable"), default=0)
    received_damaged = models.PositiveIntegerField(_("received damaged"), default=0)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("return item")
        verbose_name_plural = _("return items")
        ordering = ["rma_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rma", "order_line"], name="return_item_unique_line"),
            models.CheckConstraint(condition=models.Q(expected_quantity__gt=0), name="return_item_expects_some"),
            models.CheckConstraint(
                condition=models.Q(
                    expected_quantity__gte=models.F("received_resellable") + models.F("received_damaged")
                ),
                name="return_item_not_over_received",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_line} ({self.received}/{self.expected_quantity})"

    @property
    def received(self) -> int:
        return self.received_resellable + self.received_damaged

    @property
    def outstanding(self) -> int:
        return self.expected_quantity - self.received


class ReturnReceipt(models.Model):
    """Units of one item received in one condition by one request (a scan under its Idempotency-Key,
    or one admin form): the audit of receiving, and the key a replay is recognised by."""

    rma = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="receipts", verbose_name=_("return"))
    item = models.ForeignKey(ReturnItem, on_delete=models.CASCADE, related_name="receipts", verbose_name=_("item"))
    condition = models.CharField(
        pgettext_lazy("returned goods", "condition"), max_length=12, choices=ReturnCondition.choices
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    request_key = models.CharField(_("request key"), max_length=128)
    movement = models.ForeignKey(
        "inventory.StockMovement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("stock movement"),
    )
    quarantine = models.ForeignKey(
        "inventory.QuarantineEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("quarantine entry"),
    )
    device = models.ForeignKey(
        ScannerDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("scanner")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("received by"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("return receipt")
        verbose_name_plural = _("return receipts")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "condition", "request_key"], name="return_receipt_once_per_key"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="return_receipt_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} {self.condition} × {self.quantity}"


# Buyer notices: the admin-editable templates per event and medium, the carrier × province transit
# table the ETA falls back on, and the log of every call made for a notice (the outbox row itself is
# BuyerNotice above). Their code is in shipping/notices/. Facts: ../shared/channels/shipping.md §4.


class NoticeTemplate(models.Model):
    """What the buyer reads for one event on one medium. The body and the vendor parameters may use
    only the variables in shipping.notices.rendering.VARIABLES, written {name}; anything else is refused on save."""

    event = models.CharField(_("event"), max_length=16, choices=NoticeEvent.choices)
    medium = models.CharField(_("medium"), max_length=16, choices=NoticeMedium.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    body = models.TextField(
        _("text"),
        help_text=_(
            "What the buyer reads, e.g. 您的订单{platform_order_id}已由{carrier_name}发出，运单号{tracking_number}. "
            "Variables: {order_number} {platform_order_id} {shop_name} {carrier_name} {tracking_number} {eta} "
            "{ship_by}."
        ),
    )
    vendor_template_code = models.CharField(
        _("vendor template code"),
        max_length=64,
        blank=True,
        help_text=_("Aliyun TemplateCode, Tencent TemplateId or WeChat template_id, as the vendor approved it."),
    )
    vendor_params = models.TextField(
        _("vendor template parameters"),
        blank=True,
        help_text=_(
            "One per line, name=value, in the vendor template's order, e.g. no={tracking_number}. "
            "Aliyun: TemplateParam keys; Tencent: the values in order; WeChat: data keys such as thing1."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("notice template")
        verbose_name_plural = _("notice templates")
        ordering = ["event", "medium"]
        constraints = [models.UniqueConstraint(fields=["event", "medium"], name="notice_template_one_per_event_medium")]

    def __str__(self) -> str:
        return f"{self.get_event_display()} · {self.get_medium_display()}"

    def save(self, *args, **kwargs) -> None:
        self.clean()  # a template saved outside the admin is held to the same variables
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, list] = {}
        try:
            check_template(self.body)
        except TemplateError as exc:
            errors["body"] = [exc.message]
        try:
            parse_vendor_params(self.vendor_params)
        except TemplateError as exc:
            errors["vendor_params"] = [exc.message]
        if errors:
            raise ValidationError(errors)


class TransitTime(models.Model):
    """Days from shipping to delivery for a destination province, optionally for one carrier and one
    origin province; the ETA uses the most specific row, else shipping.notices.eta's built-in estimate."""

    carrier = models.ForeignKey(
        "shipping.Carrier",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="transit_times",
        verbose_name=_("carrier"),
        help_text=_("Empty: every carrier."),
    )
    origin_province = models.CharField(
        _("origin province"), max_length=64, blank=True, help_text=_("Empty: from anywhere.")
    )
    destination_province = models.CharField(_("destination province"), max_length=64)
    days = models.PositiveSmallIntegerField(_("days in transit"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("transit time")
        verbose_name_plural = _("transit times")
        ordering = ["destination_province", "origin_province", "carrier_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "origin_province", "destination_province"], name="transit_time_unique_route"
            ),
            models.UniqueConstraint(
                fields=["origin_province", "destination_province"],
                condition=models.Q(carrier__isnull=True),
                name="transit_time_unique_route_any_carrier",
            ),
        ]

    def __str__(self) -> str:
        origin = self.origin_province or "*"
        return f"{self.carrier.code if self.carrier_id else '*'} {origin} → {self.destination_province}: {self.days}"

    def clean(self) -> None:
        from rules.regions import normalize_province, province_recognised

        for name in ("origin_province", "destination_province"):
            value = getattr(self, name)
            if value and not province_recognised(value):
                raise ValidationError({name: _("Not a province of China: %(value)s") % {"value": value}})
            if value:
                setattr(self, name, normalize_province(value))


class AttemptKind(models.TextChoices):
    SEND = "send", _("Send")
    LOOKUP = "lookup", _("Status lookup")
    MANUAL = "manual", _("By hand")


class NoticeAttempt(models.Model):
    """One call made for a notice (send or status lookup) or one decision a person took: the request
    as sent (recipient masked), the gateway's answer, the outcome. The notice's audit trail."""

    notice = models.ForeignKey(
        "shipping.BuyerNotice", on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("notice")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=AttemptKind.choices)
    backend = models.CharField(_("backend"), max_length=16, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16)
    request = models.JSONField(_("request"), default=dict, blank=True)
    response = models.JSONField(_("response"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("notice attempt")
        verbose_name_plural = _("notice attempts")
        ordering = ["notice_id", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome}"
