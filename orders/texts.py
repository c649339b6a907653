"""Texts the services store (event notes, hold reasons, alerts, task facts) as a code with parameters.

A stored English sentence stays English for a Chinese reader. Services store a *wording* instead — a
small dict `{"code": ..., "params": {...}}` — and pages, exports and the API put it into words in the
reader's language when they show it. The English rendering is still stored beside it (the row's old
text column), so searches, logs and rows written before codes existed keep reading as they did.

A parameter may itself be a wording (`{"code": "source.pull"}`): it is rendered in the same language.
A code this registry does not know (a row written by a newer release) falls back to the stored text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypedDict

from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Wording(TypedDict, total=False):
    code: str
    params: dict[str, Any]
    english: str  # the text to store when it says more than the rendering (details kept for searches)


#: code → translatable template with named parameters
TEXTS: dict[str, Any] = {
    # where an order came from (a parameter of "order.received")
    "source.pull": pgettext_lazy("order source", "pull"),
    "source.push": pgettext_lazy("order source", "push"),
    "source.demo": pgettext_lazy("order source", "demo data"),
    # order event notes
    "order.received": _("via %(source)s"),
    "order.checks_passed": _("checks passed"),
    "order.cleared": _("cleared"),
    "order.closed_on_platform": _("closed on the platform (%(status)s)"),
    "order.already_closed_on_platform": _("already closed on the platform (%(status)s)"),
    "order.all_lines_refunded": _("every line refunded on the platform"),
    "order.released_waiting_for_stock": _("released, waiting for stock"),
    "order.stock_arrived": _("stock arrived"),
    # hold reasons (also the note of the hold event)
    "hold.paused_by_ops": _("paused by ops"),
    "hold.shipped_elsewhere": _("shipped outside OrderHub: check before shipping again"),
    "hold.shipped_elsewhere_status": _("shipped outside OrderHub: check before shipping again (%(status)s)"),
    "hold.stock_count_below_reservations": _("out of stock: stock count below reservations"),
    "hold.waiting_for_presale_stock": _("waiting for presale stock"),
    "hold.open_exceptions": _("open exceptions: %(types)s"),
    # alerts
    "alert.quarantined": _("%(channel)s: order %(order)s quarantined as malformed (%(field)s: %(reason)s)"),
    "alert.pull_failing": _("%(channel)s: order pull failed %(count)s times in a row: %(error)s"),
    "alert.push_message_failed": _("%(channel)s: message %(message)s for order %(order)s failed: %(error)s"),
    "alert.reconciliation_differences": _("Stock reconciliation #%(run)s found %(count)s difference(s)."),
    "alert.stock_movement_flagged": _("%(sku)s@%(warehouse)s: %(reason)s"),
    "alert.inbox_backlog": _(
        "Webhook inbox: the oldest undecided order push waits %(seconds)s s (%(count)s undecided); "
        "start or add drainers (manage.py drain_inbox)."
    ),
}


def register(more: dict[str, Any]) -> None:
    """Another app's texts (rules registers the seeded exception type names at start-up)."""
    TEXTS.update(more)
    _english_template.cache_clear()


def wording(code: str, /, **params: Any) -> Wording:
    """A text to store: its code and the figures it needs (JSON-serialisable values or wordings)."""
    if code not in TEXTS:
        raise KeyError(f"unknown text code {code!r}: add it to orders.texts.TEXTS")
    return {"code": code, "params": params} if params else {"code": code}


def render(stored: Wording | dict | None, fallback: str = "") -> str:
    """The stored wording in the active language; the fallback (the stored English text) for rows
    without a code or with a code this release does not know."""
    return _render(stored, fallback, _active_template)


def english(stored: Wording) -> str:
    """The English rendering, stored beside the code for searches, logs and older readers. Each
    code's English template is read once per process (switching the active language per note was
    a tenth of a drainer's CPU per held order)."""
    if stored.get("english"):
        return stored["english"]
    return _render(stored, "", _english_template)


def _render(stored: Wording | dict | None, fallback: str, template_of: Callable[[str], str]) -> str:
    if not stored or stored.get("code") not in TEXTS:
        return fallback
    template = template_of(stored["code"])
    params = {name: _param_text(value, template_of) for name, value in (stored.get("params") or {}).items()}
    try:
        return template % params if params or "%(" in template else template
    except (KeyError, TypeError, ValueError):  # a translation that lost a parameter: never an error page
        return fallback or template


def _active_template(code: str) -> str:
    return str(TEXTS[code])


@functools.cache
def _english_template(code: str) -> str:
    with translation.override("en"):
        return str(TEXTS[code])


def to_columns(note: str | Wording) -> tuple[str, dict]:
    """A note's two columns: its English text and, for a coded note, the wording (a typed note is
    stored as typed, with no wording)."""
    if isinstance(note, dict):
        return english(note), dict(note)
    return note, {}


def _param_text(value: Any, template_of: Callable[[str], str] = _active_template) -> Any:
    if isinstance(value, dict) and "code" in value:
        return _render(value, str(value.get("fallback", value["code"])), template_of)
    if isinstance(value, list):
        return ", ".join(str(_param_text(item, template_of)) for item in value)
    return value
