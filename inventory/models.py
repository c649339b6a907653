"""Stock: warehouses, SKUs, running balances, reservations, the movement ledger, channel listings,
the stock-push outbox and reconciliation runs.

Models stay thin: every write goes through inventory.services; every lock through inventory.locks.
available = on_hand - reserved. The ledger (StockMovement) is the audit trail of on_hand.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from orders import texts


class Warehouse(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    priority = models.SmallIntegerField(
        _("priority"), default=100, help_text=_("Lower ships first: reservations take stock from it first.")
    )
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Sku(models.Model):
    code = models.CharField(_("merchant SKU code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    barcode = models.CharField(_("barcode"), max_length=64, blank=True, db_index=True)
    safety_stock = models.PositiveIntegerField(
        _("safety stock"), default=0, help_text=_("When available stock falls to this level, listings go presale.")
    )
    presale_allowed = models.BooleanField(
        _("presale allowed"), default=False, help_text=_("Orders beyond stock may wait for stock instead of failing.")
    )
    presale_quota = models.PositiveIntegerField(
        _("presale quota"),
        default=0,
        help_text=_("Units a presale listing may sell ahead of stock (minus units already waiting)."),
    )
    min_price = models.DecimalField(_("minimum price"), max_digits=12, decimal_places=2, default=Decimal("0"))
    on_presale = models.BooleanField(_("on presale"), default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # on_presale is system state switched by stock (InventoryEvent is its audit): kept out of the
    # history so a history revert cannot restore a stale switch.
    history = HistoricalRecords(excluded_fields=["updated_at", "on_presale"])

    class Meta:
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StockLevel(models.Model):
    """The running balance of one SKU in one warehouse. Written only under a row lock (inventory.locks)."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="levels")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="levels")
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        ordering = ["sku_id", "warehouse_id"]
        constraints = [
            models.UniqueConstraint(fields=["sku", "warehouse"], name="stocklevel_unique_sku_warehouse"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stocklevel_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stocklevel_reserved_gte_0"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stocklevel_reserved_lte_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.warehouse_id}: {self.on_hand}/{self.reserved}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class ReservationState(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMMITTED = "committed", _("Committed (shipped)")
    RELEASED = "released", _("Released")


class StockReservation(models.Model):
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="stock_reservations")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.CASCADE, related_name="stock_reservations")
    level = models.ForeignKey(StockLevel, on_delete=models.PROTECT, related_name="reservations")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="reservations")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField(_("quantity"))
    state = models.CharField(
        _("state"), max_length=10, choices=ReservationState.choices, default=ReservationState.ACTIVE, db_index=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stock reservation")
        verbose_name_plural = _("stock reservations")
        ordering = ["id"]
        indexes = [models.Index(fields=["order", "state"]), models.Index(fields=["level", "state"])]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_quantity_gt_0")]

    def __str__(self) -> str:
        return f"{self.sku_id}×{self.quantity} ({self.state})"


# The largest figure the stock columns (on_hand, reserved, movement quantity and balance) can hold.
QUANTITY_MAX = 2_147_483_647


class MovementKind(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")
    RETURN = "return", _("Return")
    ADJUSTMENT = "adjustment", _("Adjustment")
    COUNT = "count", _("Stock count")


#: the sources OrderHub itself writes to the ledger, in the reader's language; a WMS or an import may
#: send any other source, shown as sent
MOVEMENT_SOURCE_LABELS = {
    "wms": pgettext_lazy("movement source", "WMS"),
    "order": pgettext_lazy("movement source", "order"),
    "reconciliation": pgettext_lazy("movement source", "reconciliation"),
    "stocktake": pgettext_lazy("movement source", "stocktake import"),
    "return": pgettext_lazy("movement source", "return"),
    "demo": pgettext_lazy("movement source", "demo data"),
}


#: why units sit in quarantine, in the reader's language (a reason sent by another system as sent)
QUARANTINE_REASON_LABELS = {"damaged": pgettext_lazy("quarantine reason", "damaged")}


def movement_source_label(source: str) -> str:
    label = MOVEMENT_SOURCE_LABELS.get(source)
    return str(label) if label is not None else source


class _LedgerTexts:
    """A ledger row's source and note in the reader's language (rows with `source`, `note`, `wording`)."""

    @property
    def source_label(self) -> str:
        return movement_source_label(self.source)

    @property
    def note_text(self) -> str:
        """The note in the reader's language (a typed note as typed)."""
        return texts.render(self.wording, fallback=self.note)


class StockMovement(_LedgerTexts, models.Model):
    """Append-only ledger: every change of on_hand, with who, when and why.

    quantity is the signed change applied to on_hand; a count also keeps the counted figure.
    (source, reference) is unique: a replayed WMS message or a re-run service call is a no-op.
    """

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="movements", verbose_name=_("warehouse")
    )
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="movements", verbose_name=_("SKU"))
    kind = models.CharField(_("kind"), max_length=12, choices=MovementKind.choices)
    quantity = models.IntegerField(_("change to on hand"))
    counted = models.IntegerField(_("counted quantity"), null=True, blank=True)
    balance_after = models.IntegerField(_("on hand after"))
    source = models.CharField(_("source"), max_length=24, default="wms")
    reference = models.CharField(_("reference"), max_length=128)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("order")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("actor")
    )
    note = models.TextField(_("note"), blank=True)
    #: a note the services wrote, as a code with parameters (orders.texts); `note` keeps its English text
    wording = models.JSONField(_("note (code)"), default=dict, blank=True, editable=False)
    flagged = models.BooleanField(_("flagged"), default=False)
    flag_reason = models.TextField(_("flag reason"), blank=True)
    flag_wording = models.JSONField(default=dict, blank=True, editable=False)  # flag_reason as a code (orders.texts)
    ledger_only = models.BooleanField(
        _("ledger only"), default=False, help_text=_("A reconciliation correction: recorded, not applied to on hand.")
    )
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["source", "reference"], name="movement_unique_reference")]
        indexes = [models.Index(fields=["sku", "warehouse"])]

    def __str__(self) -> str:
        """The kind in the reader's language, the change and where: "调整 +3 · SHOT-A@SH"."""
        return f"{self.get_kind_display()} {self.quantity:+d} · {self.sku.code}@{self.warehouse.code}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("the stock ledger is append-only: record a new movement instead")
        super().save(*args, **kwargs)

    @property
    def flag_reason_text(self) -> str:
        """Why the movement was flagged, in the reader's language."""
        return texts.render(self.flag_wording, fallback=self.flag_reason)


class ChannelListing(models.Model):
    """One SKU as sold on one channel: the platform ids, what to hold back, what was last pushed."""

    channel = models.ForeignKey("orders.Channel", on_delete=models.CASCADE, related_name="listings")
    sku = models.ForeignKey(Sku, on_delete=models.CASCADE, related_name="listings")
    platform_item_id = models.CharField(_("platform item id"), max_length=64)
    platform_sku_id = models.CharField(_("platform SKU id"), max_length=64, blank=True)
    buffer_percent = models.PositiveSmallIntegerField(
        _("buffer (percent)"), default=0, help_text=_("Share of available stock held back from this listing.")
    )
    buffer_quantity = models.PositiveIntegerField(
        _("buffer (units)"), default=0, help_text=_("Units held back from this listing, after the percent.")
    )
    presale = models.BooleanField(_("on presale"), default=False)
    enabled = models.BooleanField(_("push stock"), default=True)
    last_pushed_quantity = models.IntegerField(_("last pushed quantity"), null=True, blank=True)
    last_pushed_at = models.DateTimeField(_("last pushed at"), null=True, blank=True)
    last_push_error = models.TextField(_("last push error"), blank=True)
    push_failures = models.PositiveIntegerField(_("consecutive push failures"), default=0)
    history = HistoricalRecords(  # system-managed fields stay out (see Sku.history)
        excluded_fields=["presale", "last_pushed_quantity", "last_pushed_at", "last_push_error", "push_failures"]
    )

    class Meta:
        verbose_name = _("channel listing")
        verbose_name_plural = _("channel listings")
        ordering = ["sku_id", "channel_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "platform_item_id", "platform_sku_id"], name="listing_unique_platform_ids"
            ),
            models.CheckConstraint(condition=Q(buffer_percent__lte=100), name="listing_buffer_percent_lte_100"),
        ]
        indexes = [models.Index(fields=["channel", "platform_sku_id"])]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.platform_item_id}/{self.platform_sku_id} → {self.sku_id}"


class StockPush(models.Model):
    """Outbox: one pending stock push per listing. Many stock changes coalesce into one row;
    the quantity is computed when the row is drained, so the newest figure is what gets pushed."""

    listing = models.OneToOneField(
        ChannelListing, on_delete=models.CASCADE, related_name="pending_push", verbose_name=_("listing")
    )
    token = models.UUIDField(
        _("token"),
        default=uuid.uuid4,
        help_text=_("Changes on every new request: a drain that pushed an older token leaves the row due."),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("pending stock push")
        verbose_name_plural = _("pending stock pushes")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"push listing {self.listing_id} (attempt {self.attempts})"


class EventKind(models.TextChoices):
    PRESALE_ON = "presale_on", _("Switched to presale")
    PRESALE_OFF = "presale_off", _("Back from presale")
    PUSH_FAILED = "push_failed", _("Stock push failing")
    COUNT_BELOW_RESERVED = "count_below_reserved", _("Count below reserved")
    CORRECTION = "correction", _("Reconciliation correction")


class InventoryEvent(models.Model):
    """Things ops should see in the inventory admin (also raised as alerts where a person must act)."""

    kind = models.CharField(_("event"), max_length=24, choices=EventKind.choices)
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    listing = models.ForeignKey(ChannelListing, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField(_("message"))
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("inventory event")
        verbose_name_plural = _("inventory events")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"

    @property
    def text(self) -> str:
        """The message in the reader's language (a coded one is kept in data["wording"])."""
        return texts.render(self.data.get("wording"), fallback=self.message)


class ReconciliationRun(models.Model):
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    trigger = models.CharField(_("trigger"), max_length=20, default="command")
    checked = models.JSONField(_("checked"), default=dict, blank=True)
    diff_count = models.PositiveIntegerField(_("differences"), default=0)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.started_at:%Y-%m-%d %H:%M} ({self.diff_count})"


class DiffKind(models.TextChoices):
    LEDGER = "ledger", _("Ledger sum ≠ on hand")
    RESERVED = "reserved", _("Active reservations ≠ reserved")
    CLOSED_ORDER = "closed_order", _("Active reservation of a closed order")
    REFUNDED_LINE = "refunded_line", _("Active reservation of a refunded line")
    CHANNEL = "channel", _("Channel stock ≠ pushed")


class ReconciliationDiff(models.Model):
    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="diffs", verbose_name=_("reconciliation run")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=DiffKind.choices)
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    warehouse = models.ForeignKey(
        Warehouse, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("warehouse")
    )
    listing = models.ForeignKey(
        ChannelListing, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("listing")
    )
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expected = models.IntegerField(_("expected"))
    actual = models.IntegerField(_("actual"))
    note = models.TextField(_("note"), blank=True)
    wording = models.JSONField(_("note (code)"), default=dict, blank=True, editable=False)
    corrected_at = models.DateTimeField(_("corrected at"), null=True, blank=True)
    corrected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    correction = models.ForeignKey(
        StockMovement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("correction")
    )

    class Meta:
        verbose_name = _("reconciliation difference")
        verbose_name_plural = _("reconciliation differences")
        ordering = ["run_id", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.expected}≠{self.actual}"

    @property
    def difference(self) -> int:
        return self.actual - self.expected

    @property
    def note_text(self) -> str:
        """The note in the reader's language."""
        return texts.render(self.wording, fallback=self.note)


class QuarantineEntry(_LedgerTexts, models.Model):
    """Units put in a warehouse's quarantine location (隔离区), e.g. a damaged return: kept apart from
    sellable stock, so they change neither on hand, available, nor any storefront. Append-only like
    the ledger; (source, reference) is unique, so a replayed call records nothing twice."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="quarantine_entries", verbose_name=_("warehouse")
    )
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="quarantine_entries", verbose_name=_("SKU"))
    quantity = models.PositiveIntegerField(_("quantity"))
    reason = models.CharField(_("reason"), max_length=24, default="damaged")
    source = models.CharField(_("source"), max_length=24)
    reference = models.CharField(_("reference"), max_length=128)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("order")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("actor")
    )
    note = models.TextField(_("note"), blank=True)
    wording = models.JSONField(default=dict, blank=True, editable=False)  # the note as a code (orders.texts)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("quarantined stock")
        verbose_name_plural = _("quarantined stock")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "reference"], name="quarantine_unique_reference"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="quarantine_quantity_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.sku.code}@{self.warehouse.code} × {self.quantity} ({self.reason_label})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("quarantine entries are append-only: record a new entry instead")
        super().save(*args, **kwargs)

    @property
    def reason_label(self) -> str:
        label = QUARANTINE_REASON_LABELS.get(self.reason)
        return str(label) if label is not None else self.reason
