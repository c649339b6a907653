"""Notes shipping services store on orders, to-dos and stock movements, as codes with parameters in
the orders.texts registry: they were translated when written (the scanner's or the task worker's
language) and read that way to everyone; now each reader reads them in their own language, and the
English text stays in the note column. Registered at start-up (shipping.apps)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from orders import texts

TEXTS = {
    "shipping.no_waybill_account": _("No e-waybill account is set up for the shop %(shop)s."),
    "shipping.labels_printed": _("labels printed"),
    "shipping.rest_refunded": _("the rest of the order was refunded"),
    "shipping.all_came_back": _("everything shipped came back (return %(number)s)"),
    "shipping.all_delivered": _("all parcels delivered (%(number)s last)"),
    "shipping.write_back_queued_again": _("write-back of parcel %(number)s queued again"),
    "shipping.return_of_order": _("return %(number)s of order %(order)s"),
}


def register() -> None:
    texts.register(TEXTS)
