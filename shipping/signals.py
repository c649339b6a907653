"""Orders that become ready go to the print queue at once: after the commit that made them ready, one
coalesced task fills the queue (the one-minute schedule catches anything a lost task left). A line
refunded before it left the warehouse is taken out of its parcels in the same transaction; a shipped
line's refund on the platform opens (or, withdrawn, cancels) a return."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.dispatch import receiver
from django_fsm.signals import post_transition

from orderhub.db import on_commit_once
from orders.models import LineRefundState, Order, OrderLine, OrderState
from orders.signals import line_refund_changed

logger = logging.getLogger(__name__)


@receiver(post_transition, sender=Order)
def _order_became_ready(sender, instance: Order, name: str, source: str, target: str, **kwargs) -> None:
    # post_transition fires before save and commit: only register work for after the commit (an
    # order never stored, e.g. the state machine on its own, has nothing to print)
    if target == OrderState.READY and instance.pk is not None and getattr(settings, "SHIPPING_ENQUEUE_TASKS", True):
        on_commit_once(_enqueue_print_queue)  # a batch of orders becoming ready wakes the queue once


def _enqueue_print_queue() -> None:
    from django_q.conf import Conf

    from shipping.tasks import PRINT_QUEUE_ENQUEUED_KEY

    # coalesce queued runs; in django-q2's sync mode the run happens right here, nothing is queued
    if not Conf.SYNC and not cache.add(PRINT_QUEUE_ENQUEUED_KEY, 1, timeout=5):
        return  # a run is queued and not started yet: it will see this order
    try:
        from django_q.tasks import async_task

        async_task("shipping.tasks.fill_print_queue")
    except Exception:  # the broker being down must not fail anything; the schedule catches up
        logger.warning("could not enqueue the print queue; the schedule will catch up", exc_info=True)


@receiver(line_refund_changed, sender=OrderLine)
def _line_refunded(sender, order: Order, line: OrderLine, previous: str, current: str, **kwargs) -> None:
    # sent inside the transaction that stored the refund, with the order locked: parcels follow it
    if current == LineRefundState.REFUNDED:
        from shipping.services.parcels import parcels_drop_refunded_line

        parcels_drop_refunded_line(order=order, line=line)


@receiver(line_refund_changed, sender=OrderLine)
def _line_refund_changed(sender, order: Order, line: OrderLine, previous: str, current: str, **kwargs) -> None:
    """A shipped line's refund requested or completed opens a return; a withdrawn one cancels it
    (inside the transaction that stored the change: the return is there exactly when the line is)."""
    from shipping.services.returns import return_follow_line_refund

    return_follow_line_refund(order=order, line=line, current=current)
