"""Buyer notices: the admin-editable templates per event and medium, the carrier × province transit
table the ETA falls back on, and the log of every call made for a notice (the outbox row itself is
shipping.BuyerNotice, written by the scan, the ship-by clock and the tracking callbacks).

Facts behind the shapes: ../shared/channels/shipping.md §4."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from shipping.notices.rendering import TemplateError, check_template, parse_vendor_params


class NoticeEvent(models.TextChoices):
    SHIPPED = "shipped", _("Shipped")
    DELAYED = "delayed", _("Delayed (past the ship-by deadline)")
    DELIVERED = "delivered", _("Delivered")


class NoticeMedium(models.TextChoices):
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat subscribe message")


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
