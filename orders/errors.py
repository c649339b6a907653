"""Domain errors of the orders app; views and admin turn them into clear messages.

Messages are translated when the error is raised (the active language of the request or task); the
attributes (`state`, `transition`, `permission`) keep the codes for the API and for logs."""

from __future__ import annotations

from django.utils.translation import gettext, pgettext_lazy

# A transition inside a sentence ("cannot “<transition>” while …", "needed to <transition> an order"). The
# English text keeps the transition's code, the name the API and the logs use; translations give the verb.
TRANSITION_VERBS = {
    "accept": pgettext_lazy("order transition", "accept"),
    "release": pgettext_lazy("order transition", "release"),
    "hold": pgettext_lazy("order transition", "hold"),
    "wait_for_stock": pgettext_lazy("order transition", "wait_for_stock"),
    "mark_printed": pgettext_lazy("order transition", "mark_printed"),
    "ship_partially": pgettext_lazy("order transition", "ship_partially"),
    "ship": pgettext_lazy("order transition", "ship"),
    "mark_delivered": pgettext_lazy("order transition", "mark_delivered"),
    "mark_returned": pgettext_lazy("order transition", "mark_returned"),
    "cancel": pgettext_lazy("order transition", "cancel"),
}
NO_STOCK_SUFFIX = " (no stock)"


def _transition_verb(transition: str) -> str:
    verb = TRANSITION_VERBS.get(transition)
    return str(verb) if verb is not None else transition


def _state_label(state: str) -> str:
    """The state's label in the active language; `state` may carry the " (no stock)" note of a release."""
    from orders.models import OrderState

    code = state.removesuffix(NO_STOCK_SUFFIX)
    if code not in OrderState.values:
        return state
    label = str(OrderState(code).label)
    return label if code == state else gettext("%(state)s, no stock") % {"state": label}


class OrderError(Exception):
    """Base for order errors that carry what a person needs to understand them."""


class OrderTransitionNotAllowed(OrderError):
    """The order's current state does not allow the requested transition (API: HTTP 409)."""

    def __init__(self, *, order_id: int, transition: str, state: str):
        self.order_id = order_id
        self.transition = transition
        self.state = state
        super().__init__(
            gettext("Order %(order_id)s cannot “%(transition)s” while it is “%(state)s”.")
            % {"order_id": order_id, "transition": _transition_verb(transition), "state": _state_label(state)}
        )


class OrderPermissionDenied(OrderError):
    def __init__(self, *, transition: str, permission: str):
        self.transition = transition
        self.permission = permission
        super().__init__(
            gettext("You lack the permission “%(permission)s” needed to %(transition)s an order.")
            % {"permission": permission, "transition": _transition_verb(transition)}
        )


class ChannelDisabled(OrderError):
    def __init__(self, channel_id: int):
        self.channel_id = channel_id
        super().__init__(gettext("Channel %(channel_id)s is disabled.") % {"channel_id": channel_id})
