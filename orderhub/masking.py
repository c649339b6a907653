"""One place that decides how personal data and secrets look to someone not entitled to them.

PII: a receiver's name, phone and street address are personal data that a picker, a rule author or
a finance clerk does not need. Only users with `orders.view_receiver_details` ("view receiver
details") see them in full; everyone else sees `王*`, `138****0000` and the province/city/district
(the street address, town and zip are withheld). Every page and endpoint that shows an order's
receiver goes through `mask_receiver_field` / `receiver_for`, so a new page cannot mask differently.

The buyer nick stays visible to every order reader: it is the platform's public nickname (the
platforms already alias it), ops need it to spot repeat buyers and blacklist entries, and it is no
way to reach the person. Contact data (name, phone, address) is what is masked.

Secrets: channel credentials are write-only. `mask_secret` is what any page may show of one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import CharField, Func
from django.utils.translation import gettext_lazy as _

#: the permission that shows receiver details in full ("app_label.codename")
RECEIVER_DETAILS_PERMISSION = "orders.view_receiver_details"

#: withheld text shown in place of the street address, town and zip
WITHHELD = "***"

#: every model field / fact name that carries receiver contact data, and how it is masked
RECEIVER_FIELDS = (
    "receiver_name",
    "receiver_phone",
    "receiver_address",
    "receiver_town",
    "receiver_zip",
    "receiver_cipher",
)

#: column labels of the masked receiver fields (the same words as the Order model's)
RECEIVER_LABELS = {
    "receiver_name": _("receiver name"),
    "receiver_phone": _("receiver phone"),
    "receiver_address": _("address"),
    "receiver_town": _("town"),
    "receiver_zip": _("zip code"),
    "receiver_cipher": _("receiver ciphertext"),
}

#: channel credentials: never rendered, only read by the code that signs requests
SECRET_FIELDS = ("app_secret", "access_token", "sign_secret", "message_key", "webhook_secret")

SECRET_LABELS = {
    "app_secret": _("app secret"),
    "access_token": _("access token (session)"),
    "sign_secret": _("sign secret"),
    "message_key": _("message key"),
    "webhook_secret": _("webhook secret"),
}

SECRET_NOT_SET = _("not set")


def can_view_receiver(user: Any) -> bool:
    """True when the user may see a receiver's name, phone and street address in full."""
    return bool(user is not None and user.is_authenticated and user.has_perm(RECEIVER_DETAILS_PERMISSION))


def mask_name(value: str) -> str:
    """`王小明` -> `王*`: the family name stays (to tell two receivers apart), the rest goes."""
    value = (value or "").strip()
    if not value:
        return ""
    return value[0] + "*"


def mask_phone(value: str) -> str:
    """`13812340000` -> `138****0000`; shorter numbers keep only their last 4 digits."""
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) >= 11:
        return f"{value[:3]}****{value[-4:]}"
    if len(value) > 4:
        return f"****{value[-4:]}"
    return "****"


class MaskedPhone(Func):
    """`mask_phone` computed by the database over a phone column: the key of the expression index
    that lets staff without the permission search by a phone number as they see it
    (orders.selectors.order_search). One SQL text per database, so the query repeats the index's
    expression exactly (PostgreSQL only uses an expression index for an identical expression).
    Keep it in step with `mask_phone`."""

    output_field = CharField()
    arity = 1
    template = (
        "CASE WHEN LENGTH(%(expressions)s) >= 11"
        " THEN LEFT(%(expressions)s, 3) || '****' || RIGHT(%(expressions)s, 4)"
        " WHEN LENGTH(%(expressions)s) > 4 THEN '****' || RIGHT(%(expressions)s, 4)"
        " WHEN LENGTH(%(expressions)s) > 0 THEN '****' ELSE '' END"
    )

    def as_sqlite(self, compiler, connection, **extra_context):
        template = self.template.replace("LEFT(%(expressions)s, 3)", "SUBSTR(%(expressions)s, 1, 3)")
        template = template.replace("RIGHT(%(expressions)s, 4)", "SUBSTR(%(expressions)s, -4)")
        return self.as_sql(compiler, connection, template=template, **extra_context)


def mask_phone_sql(field: str) -> MaskedPhone:
    """The masked form of the phone column `field`, as the database computes it."""
    return MaskedPhone(field)


def mask_detail(value: Any) -> Any:
    """Street address, town, zip, ciphertext: withheld entirely (province/city/district stay)."""
    if value in ("", None, {}, []):
        return value
    return WITHHELD


_MASKERS = {
    "receiver_name": mask_name,
    "receiver_phone": mask_phone,
    "receiver_address": mask_detail,
    "receiver_town": mask_detail,
    "receiver_zip": mask_detail,
    "receiver_cipher": mask_detail,
}


def mask_receiver_field(name: str, value: Any) -> Any:
    """The masked form of one receiver field (or rule fact) named `name`; other names pass through."""
    masker = _MASKERS.get(name)
    return masker(value) if masker else value


def mask_receiver_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a dict (API body, rule facts, history diff) with every receiver field masked."""
    return {key: mask_receiver_field(key, value) for key, value in data.items()}


def receiver_for(user: Any, name: str, value: Any) -> Any:
    """What `user` may see of the receiver field `name`: in full with the permission, else masked."""
    return value if can_view_receiver(user) else mask_receiver_field(name, value)


def mask_secret(value: str) -> str:
    """`••••1234` (last 4 characters only), or "not set". Short secrets show no characters at all."""
    if not value:
        return str(SECRET_NOT_SET)
    if len(value) < 12:
        return "••••"
    return f"••••{value[-4:]}"
