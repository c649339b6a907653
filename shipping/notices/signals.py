"""A new buyer notice (a scan, a delivered parcel, an Excel import) wakes the drain after its commit;
the one-minute sweep catches any the broker lost. Nothing else happens here."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from shipping.models import BuyerNotice


@receiver(post_save, sender=BuyerNotice, dispatch_uid="shipping.notices.new_buyer_notice")
def _new_buyer_notice(sender, instance: BuyerNotice, created: bool, **kwargs) -> None:
    if created and not kwargs.get("raw"):
        from shipping.notices.services.sending import enqueue_drain

        transaction.on_commit(enqueue_drain)
