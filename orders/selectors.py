"""Order reads.

Search (`order_search`) is built to use indexes at a million orders: each exact key has its own
b-tree index (platform order id, buyer nick, receiver phone and name; the tracking number on the
parcel), partial text has a trigram index on PostgreSQL (migration 0007), and the phone as masked
staff see it has an expression index (orderhub.masking.mask_phone_sql)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orderhub.masking import mask_phone, mask_phone_sql
from orders.models import Channel, InboxMessage, Order, OrderState

#: partial (substring) matching needs at least this many characters: a trigram index cannot answer
#: a shorter pattern, so shorter terms match the exact keys only
PARTIAL_MIN_LENGTH = 3

_SPACES = re.compile(r"\s+")
_PHONE_PUNCTUATION = re.compile(r"[\s\-()（）]")
_PHONE_LIKE = re.compile(r"^\+?[0-9*]{5,20}$")


def normalise_search_term(term: str) -> str:
    """Trimmed, inner runs of spaces (also the full-width one) collapsed to one."""
    return _SPACES.sub(" ", (term or "").replace("\u3000", " ")).strip()


def normalise_phone(term: str) -> str:
    """`138 1234-5678`, `+86 13812345678` -> `13812345678`: what the adapters store."""
    phone = _PHONE_PUNCTUATION.sub("", term)
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("0086"):
        phone = phone[4:]
    return phone


def order_ids_by_tracking_number(number: str) -> list[int]:
    """Orders carried by the parcel(s) under this tracking number (indexed; usually one, several
    for a merged parcel). Read first and passed as ids, so the search's OR stays index-only."""
    from shipping.models import ShipmentLine

    lines = ShipmentLine.objects.filter(shipment__tracking_number=number).order_by()
    return list(lines.values_list("order_id", flat=True).distinct())


def order_search(queryset: QuerySet[Order], term: str, *, reveal_receiver: bool) -> QuerySet[Order]:
    """Orders of `queryset` matching `term` (the admin's search box).

    Exact: platform order id, tracking number, buyer nick; with `reveal_receiver` also receiver
    phone and name. Partial (terms of 3+ characters): inside the buyer nick, and with
    `reveal_receiver` inside the receiver name or phone, case-insensitive. Without `reveal_receiver`
    a phone number matches the orders whose phone *masked* (`138****5678`) equals the term masked:
    staff find the order a caller means, and learn nothing they could not already see in the list
    (the result depends only on the masked form). A platform that sends masked phones stores them
    masked; such an order is found by its stored form (`138****5678`), as typed or by mask."""
    term = normalise_search_term(term)
    if not term:
        return queryset
    match = Q(external_id=term) | Q(buyer_nick=term)
    tracked = order_ids_by_tracking_number(term)
    if tracked:
        match |= Q(pk__in=tracked)
    partial = len(term) >= PARTIAL_MIN_LENGTH
    if partial:
        match |= Q(buyer_nick__icontains=term)
    phone = normalise_phone(term)
    if reveal_receiver:
        match |= Q(receiver_name=term) | Q(receiver_phone=term)
        if phone != term:
            match |= Q(receiver_phone=phone)
        if partial:
            match |= Q(receiver_name__icontains=term) | Q(receiver_phone__icontains=term)
    elif _PHONE_LIKE.match(phone):
        queryset = queryset.alias(receiver_phone_masked=mask_phone_sql("receiver_phone"))
        match |= Q(receiver_phone_masked=mask_phone(phone))
    return queryset.filter(match)


def order_list(*, state: str | None = None, channel_id: int | None = None) -> QuerySet[Order]:
    qs = Order.objects.select_related("channel").prefetch_related("lines")
    if state:
        qs = qs.filter(state=state)
    if channel_id:
        qs = qs.filter(channel_id=channel_id)
    return qs


#: the exact keys the API filters orders by (each one indexed)
EXACT_KEYS = ("external_id", "buyer_nick", "receiver_phone", "tracking_number")


def orders_with_key(queryset: QuerySet[Order], *, key: str, value: str, reveal_receiver: bool) -> QuerySet[Order]:
    """Orders of `queryset` whose exact key `key` (one of EXACT_KEYS) is `value`, normalised as
    order_search does. A receiver phone asked by someone without `reveal_receiver` compares masked
    forms (order_search says why that leaks nothing)."""
    value = normalise_search_term(value)
    if key == "external_id":
        return queryset.filter(external_id=value)
    if key == "buyer_nick":
        return queryset.filter(buyer_nick=value)
    if key == "tracking_number":
        return queryset.filter(pk__in=order_ids_by_tracking_number(value))
    if key == "receiver_phone":
        phone = normalise_phone(value)
        if reveal_receiver:
            return queryset.filter(receiver_phone=phone)
        masked = queryset.alias(receiver_phone_masked=mask_phone_sql("receiver_phone"))
        return masked.filter(receiver_phone_masked=mask_phone(phone))
    raise ValueError(f"not an exact order key: {key}")


#: enabled channels this process read recently, by id: (time.monotonic() when read, the channel)
_recent_channels: dict[int, tuple[float, Channel]] = {}
#: how long a read channel may stand in for a database read (channel_get_enabled_recent)
CHANNEL_RECENT_SECONDS = 60.0


def channel_get_enabled(*, channel_id: int) -> Channel | None:
    """The channel if it exists and is enabled, read from the database (and remembered for
    `channel_get_enabled_recent`)."""
    channel = Channel.objects.filter(pk=channel_id, enabled=True).first()
    if channel is None:
        _recent_channels.pop(channel_id, None)
    else:
        _recent_channels[channel_id] = (time.monotonic(), channel)
    return channel


def channel_get_enabled_recent(*, channel_id: int) -> Channel | None:
    """The channel as `channel_get_enabled` read it in this process within CHANNEL_RECENT_SECONDS, or
    None. Why: a flash sale's pushes would each read the same row. Only for work that confirms the
    channel where it writes (the inbox's store statement checks enabled, platform and secret) and reads
    it afresh whenever the copy fails it, so disabling a channel or rotating its secret acts at once."""
    entry = _recent_channels.get(channel_id)
    if entry is None or time.monotonic() - entry[0] > CHANNEL_RECENT_SECONDS:
        return None
    return entry[1]


def channel_list_with_health() -> QuerySet[Channel]:
    """Channels annotated with today's order count (local day): one index-only range scan per
    channel over (channel, received_at), not a join over every order ever received."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = (
        Order.objects.filter(channel=OuterRef("pk"), received_at__gte=start)
        .order_by()
        .values("channel")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Channel.objects.annotate(
        orders_today=Coalesce(Subquery(today, output_field=IntegerField()), Value(0)),
    )


# ---- webhook inbox -------------------------------------------------------------------------------
def inbox_oldest_undecided_at() -> datetime | None:
    """When the oldest order push still waiting for a drainer was accepted (None: nothing waits)."""
    return InboxMessage.objects.undecided().order_by("pk").values_list("received_at", flat=True).first()


def inbox_backlog() -> int:
    return InboxMessage.objects.undecided().count()


#: what an order in each state waits for, in the words its summary shows
WAITING_FOR = {
    OrderState.NEW: _("the checks (rules, stock)"),
    OrderState.READY: _("printing: it is in the print queue"),
    OrderState.ON_HOLD: _("a person to clear its hold"),
    OrderState.AWAITING_STOCK: _("stock to arrive"),
    OrderState.PRINTED: _("the outbound scan"),
    OrderState.PARTIALLY_SHIPPED: _("the rest of its parcels to leave"),
    OrderState.SHIPPED: _("delivery"),
    OrderState.DELIVERED: _("nothing: delivered"),
    OrderState.RETURNED: _("nothing: returned"),
    OrderState.CANCELLED: _("nothing: cancelled"),
}


@dataclass
class OrderSummary:
    """The top of the order page: where the order stands, what it waits for, who has it, by when."""

    order: Order
    waiting_for: str
    open_tasks: list
    tasks: list
    parcels: list


def order_summary(*, order: Order) -> OrderSummary:
    """Three reads: the order's exception tasks (open first), its parcels, nothing else."""
    from rules.models import ExceptionTask, TaskState
    from shipping.models import Shipment

    tasks = list(
        ExceptionTask.objects.filter(order=order)
        .select_related("exception_type", "assignee_user", "assignee_group", "resolved_by")
        .order_by("-state", "due_at", "id")  # "open" sorts after "resolved": reversed
    )
    open_tasks = [task for task in tasks if task.state == TaskState.OPEN]
    waiting_for = str(WAITING_FOR.get(order.state, ""))
    if order.platform_hold:
        waiting_for = str(_("the platform to lift its hold"))
    elif open_tasks:
        waiting_for = str(_("a person to resolve: %(types)s")) % {
            "types": ", ".join(str(task.exception_type.label) for task in open_tasks)
        }
    parcels = list(Shipment.objects.filter(lines__order=order).select_related("carrier").distinct().order_by("id"))
    return OrderSummary(order=order, waiting_for=waiting_for, open_tasks=open_tasks, tasks=tasks, parcels=parcels)
