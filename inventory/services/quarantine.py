"""The quarantine location: units kept apart from sellable stock (a damaged return). Recording them
touches no stock level, reservation or push: storefronts keep showing only what can be sold."""

from __future__ import annotations

from django.db import transaction

from inventory import texts
from inventory.errors import MovementConflict
from inventory.models import QuarantineEntry, Sku, Warehouse
from orders.texts import Wording


def quarantine_record_in_transaction(
    *,
    warehouse: Warehouse,
    sku: Sku,
    quantity: int,
    source: str,
    reference: str,
    reason: str = "damaged",
    order_id: int | None = None,
    actor=None,
    note: str | Wording = "",
) -> QuarantineEntry:
    """Put `quantity` units of `sku` into `warehouse`'s quarantine, once per (source, reference): a
    replay with the same figures returns the stored entry, other figures raise MovementConflict.
    Must run inside the caller's atomic block (the return being received)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quarantine_record_in_transaction needs an atomic block")
    if quantity <= 0:
        raise ValueError("a quarantine entry needs a quantity above zero")
    stored = QuarantineEntry.objects.filter(source=source, reference=reference).first()
    if stored is not None:
        if (stored.warehouse_id, stored.sku_id, stored.quantity) != (warehouse.pk, sku.pk, quantity):
            raise MovementConflict(reference=reference, movement_id=stored.pk)
        return stored
    note, wording = texts.stored(note)
    return QuarantineEntry.objects.create(
        warehouse=warehouse,
        sku=sku,
        quantity=quantity,
        reason=reason,
        source=source,
        reference=reference,
        order_id=order_id,
        actor=actor,
        note=note,
        wording=wording,
    )
