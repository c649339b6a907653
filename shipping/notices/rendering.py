"""Notice texts from admin-written templates, rendered without evaluating anything.

A template is literal text with {variable} fields. Only the names in VARIABLES are allowed, with no
attribute access ({order.x}), no indexing ({x[0]}), no conversion (!r) and no format spec (:>9): the
text is parsed once by string.Formatter and the values are pasted between its literal parts, so a
template can neither reach an object nor ask for a huge padding."""

from __future__ import annotations

import string

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

#: the variables a template may use, and what they mean (shown in the admin's help text and docs)
VARIABLES: dict[str, str] = {
    "order_number": _("OrderHub's order number"),
    "platform_order_id": _("the platform's order id"),
    "shop_name": _("the shop (channel) name"),
    "carrier_name": _("the carrier's name"),
    "tracking_number": _("the parcel's tracking number"),
    "eta": _("the estimated delivery date (YYYY-MM-DD)"),
    "ship_by": _("the ship-by deadline (YYYY-MM-DD HH:MM)"),
}

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _pieces(text: str) -> list[tuple[str, str | None]]:
    """(literal, variable name or None) pairs; raises TemplateError for anything but a plain name."""
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:  # a lone { or }
        raise TemplateError(
            gettext("Unbalanced braces (write {{ or }} for a literal brace): %(error)s") % {"error": exc}
        ) from exc
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is None:
            pieces.append((literal, None))
            continue
        if conversion or spec:
            raise TemplateError(gettext("Write {%(field)s} without ! or : after the name.") % {"field": field})
        if field not in VARIABLES:
            raise TemplateError(
                gettext("Unknown variable {%(field)s}; use one of: %(known)s")
                % {"field": field, "known": ", ".join("{" + name + "}" for name in VARIABLES)}
            )
        pieces.append((literal, field))
    return pieces


def check_template(text: str) -> None:
    _pieces(text)


def render(text: str, values: dict[str, str]) -> str:
    """The text with each {variable} replaced by its value (an unknown value renders empty)."""
    return "".join(literal + (values.get(field, "") if field else "") for literal, field in _pieces(text))


def parse_vendor_params(text: str) -> list[tuple[str, str]]:
    """`name=template` lines, in order, each template checked like a body."""
    params: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name:
            raise TemplateError(gettext("Line %(n)d: write name=value.") % {"n": number})
        if name in {existing for existing, _value in params}:
            raise TemplateError(gettext("Line %(n)d: %(name)s is given twice.") % {"n": number, "name": name})
        try:
            check_template(value.strip())
        except TemplateError as exc:
            raise TemplateError(gettext("Line %(n)d: %(error)s") % {"n": number, "error": exc.message}) from exc
        params.append((name, value.strip()))
    return params


def render_vendor_params(text: str, values: dict[str, str]) -> list[tuple[str, str]]:
    return [(name, render(template, values)) for name, template in parse_vendor_params(text)]
