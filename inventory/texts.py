"""The notes inventory services store (movement notes, reconciliation differences, correction events)
as codes with parameters, in the orders.texts registry: a Chinese reader reads them in Chinese, and
the English text stays in the row's old column for searches and older readers.

Registered when the app is ready (inventory.apps), so any page or export can render them."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from orders import texts
from orders.texts import Wording

TEXTS = {
    "stock.demo_opening": _("demo opening stock"),
    "stock.stocktake_import": _("stocktake import"),
    "stock.outbound_scan": _("outbound scan of order %(order)s"),
    "stock.return_of_order": _("return of order %(order)s"),
    "stock.order_is": _("order is %(state)s"),
    "stock.refunded_line": _("order line %(line)s (%(sku)s) is refunded"),
    "stock.platform_reports": _("platform reports"),
    "stock.ledger_sum": _("ledger sum vs on hand"),
    "stock.reservations_vs_reserved": _("reservations vs reserved"),
    "stock.unknown_figure": _("%(note)s (-1: never pushed / unknown)"),
    "stock.read_no_answer": _("could not read platform stock: the platform did not answer"),
    "stock.read_no_answer_code": _("could not read platform stock: the platform did not answer (%(error)s)"),
    "stock.read_refused": _("could not read platform stock: the platform refused (%(error)s)"),
    "stock.read_refused_no_code": _("could not read platform stock: the platform refused (no code)"),
    "stock.ledger_corrected": _("reconciliation #%(run)s: ledger %(ledger)s brought to on hand %(on_hand)s"),
    "stock.reserved_corrected": _("reconciliation #%(run)s: reserved %(before)s set to active reservations %(active)s"),
    "stock.corrected": _("%(kind)s: %(expected)s vs %(actual)s corrected"),
    "stock.presale_on": _("%(sku)s %(name)s: available %(available)s ≤ safety stock %(safety)s, listings on presale"),
    "stock.presale_off": _("%(sku)s %(name)s: available %(available)s > safety stock %(safety)s, presale off"),
    "stock.count_below_reserved": _(
        "Counted %(counted)s below the %(reserved)s units reserved; released the reservations of orders "
        "%(orders)s (they need stock again)."
    ),
    "stock.push_failed": _("Stock push to %(channel)s for %(sku)s failed %(count)s times: %(error)s"),
}


def register() -> None:
    """The codes above, and every order state and difference kind as a parameter in words."""
    from inventory.models import DiffKind
    from orders.models import OrderState

    texts.register(TEXTS)
    texts.register({f"order_state.{value}": label for value, label in OrderState.choices})
    texts.register({f"diff_kind.{value}": label for value, label in DiffKind.choices})


def order_state(state: str) -> Wording:
    """An order state as a parameter: its label in the reader's language, its code if unknown."""
    return {"code": f"order_state.{state}", "fallback": state}


stored = texts.to_columns  # a note's English text and wording, as its row stores them
