"""Names of the seeded exception types, rules and assignee groups in the reader's language.

Seeded rows are stored with their English name (migrations 0004 and 0007 turned "中文 / English" into
English); while a row keeps that name it is shown translated. A row a person renamed, and every custom row,
shows its name as typed. The type names are also registered as texts (`exception_type.<code>`), so a
stored hold reason that lists open exceptions reads in the reader's language (orders.texts)."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import pgettext_lazy

from orders import texts

# code → English name as seeded (the msgid), translated per language
SEEDED_TYPE_NAMES = {
    "address_missing": pgettext_lazy("exception type", "Address missing"),
    "payment_pending": pgettext_lazy("exception type", "Payment pending"),
    "out_of_stock": pgettext_lazy("exception type", "Out of stock"),
    "sku_unmatched": pgettext_lazy("exception type", "SKU unmatched"),
    "address_invalid": pgettext_lazy("exception type", "Receiver invalid"),
    "refund_requested": pgettext_lazy("exception type", "Refund requested"),
    "blacklisted_buyer": pgettext_lazy("exception type", "Blacklisted buyer"),
    "remark_review": pgettext_lazy("exception type", "Message to review"),
    "price_abnormal": pgettext_lazy("exception type", "Price abnormal"),
    "mergeable": pgettext_lazy("exception type", "Mergeable"),
    "address_changed": pgettext_lazy("exception type", "Address changed"),
    "waybill_failed": pgettext_lazy("exception type", "Waybill failed"),
    "write_back_refused": pgettext_lazy("exception type", "Write-back refused"),
    "platform_order_closed": pgettext_lazy("exception type", "Platform order closed"),
    "tracking_problem": pgettext_lazy("exception type", "Tracking problem"),
    "no_pickup": pgettext_lazy("exception type", "No pickup"),
}

SEEDED_RULE_NAMES = {
    "promotion_lane": pgettext_lazy("intercept rule", "Stacked-coupon orders to the promotion lane"),
    "address_missing": pgettext_lazy("intercept rule", "Address missing"),
    "payment_pending": pgettext_lazy("intercept rule", "Payment pending"),
    "refund_requested": pgettext_lazy("intercept rule", "Refund requested"),
    "blacklisted_buyer": pgettext_lazy("intercept rule", "Blacklisted buyer"),
    "address_invalid": pgettext_lazy("intercept rule", "Receiver invalid"),
    "price_abnormal": pgettext_lazy("intercept rule", "Discount over 50%"),
    "remark_review": pgettext_lazy("intercept rule", "Message to review"),
    "mergeable": pgettext_lazy("intercept rule", "Mergeable"),
}


#: the assignee groups the exception types route to, by their English name as seeded (the msgid).
#: Groups are Django's auth groups: `Group.label` (and str()) is set up by rules.apps.
SEEDED_GROUP_NAMES = {
    "Customer service": pgettext_lazy("assignee group", "Customer service"),
    "Warehouse": pgettext_lazy("assignee group", "Warehouse"),
    "Finance": pgettext_lazy("assignee group", "Finance"),
    "Supervisors": pgettext_lazy("assignee group", "Supervisors"),
}


def _english(label) -> str:
    """The name a seeded row is stored with: the label in English."""
    with translation.override("en"):
        return str(label)


def seeded_name(table: dict, code: str | None, name: str) -> str:
    """The row's name in the reader's language while it is the seeded one; otherwise as typed."""
    label = table.get(code or "")
    if label is not None and name == _english(label):
        return str(label)
    return name


def rule_name_wording(code: str | None, name: str) -> dict | None:
    """A seeded rule's name, while it is the seeded one, as a text parameter (`intercept_rule.<code>`):
    a stored note that quotes it reads in the reader's language. None for any other name."""
    label = SEEDED_RULE_NAMES.get(code or "")
    if label is None or name != _english(label):
        return None
    return {"code": f"intercept_rule.{code}", "fallback": name}


def group_label(name: str) -> str:
    """A group's name in the reader's language while it is a seeded group's or a role's name; otherwise
    as typed."""
    from orderhub.roles import ROLE_LABELS

    label = SEEDED_GROUP_NAMES.get(name) or ROLE_LABELS.get(name)
    return str(label) if label is not None else name


texts.register({f"exception_type.{code}": label for code, label in SEEDED_TYPE_NAMES.items()})
texts.register({f"intercept_rule.{code}": label for code, label in SEEDED_RULE_NAMES.items()})
