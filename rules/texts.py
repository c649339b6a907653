"""What the rules engine and its services store on exception tasks — why a to-do was opened, how it
was closed, its escalation — and the escalation alert, as codes with parameters in the orders.texts
registry. The task keeps the English text in `note` / `resolution_note` (hold reasons, searches);
`note_text` / `resolution_note_text` render it in the reader's language. A note a person typed
stays as typed. Registered at start-up (rules.apps)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from orders import texts
from orders.texts import Wording

TEXTS = {
    "task.sku_unmatched": _("lines without a known SKU: %(lines)s"),
    "task.short": _("short: %(lines)s"),
    "task.short_unknown": _("short"),
    "task.address_changed": _("the platform reports a new receiver address"),
    "task.no_longer_raised": _("no longer raised"),
    "task.merged": _("merged with order %(order)s (%(external_id)s) into one parcel."),
    "task.merged_with_note": _("merged with order %(order)s (%(external_id)s) into one parcel. %(note)s"),
    "task.escalated": _("[%(at)s] escalated to %(group)s"),
    "task.escalated_after": _("%(note)s\n[%(at)s] escalated to %(group)s"),
    "alert.exceptions_escalated": _(
        "%(count)s “%(type)s” exception(s) overdue or unassigned, escalated to %(group)s: orders %(orders)s"
    ),
}


def register() -> None:
    from rules.labels import SEEDED_GROUP_NAMES

    texts.register(TEXTS)
    texts.register({f"assignee_group.{name}": label for name, label in SEEDED_GROUP_NAMES.items()})


def group(name: str) -> Wording:
    """A group as a parameter: a seeded group's name in the reader's language, any other as typed."""
    return {"code": f"assignee_group.{name}", "fallback": name}


def exception_type(code: str) -> Wording:
    return {"code": f"exception_type.{code}", "fallback": code}


stored = texts.to_columns  # a note's English text and wording, as its row stores them
