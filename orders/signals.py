"""Signals other apps listen to, so orders never imports them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that stored the change, once per line whose refund state changed in
# either direction (a request, a completed refund, a withdrawn request).
# sender=OrderLine; kwargs: order, line, previous (LineRefundState), current (LineRefundState).
line_refund_changed = Signal()
