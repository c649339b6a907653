"""Domain errors of the orders app; views and admin turn them into clear messages."""

from __future__ import annotations


class OrderError(Exception):
    """Base for order errors that carry what a person needs to understand them."""


class OrderTransitionNotAllowed(OrderError):
    """The order's current state does not allow the requested transition (API: HTTP 409)."""

    def __init__(self, *, order_id: int, transition: str, state: str):
        self.order_id = order_id
        self.transition = transition
        self.state = state
        super().__init__(f"Order {order_id} cannot '{transition}' while it is '{state}'.")


class OrderPermissionDenied(OrderError):
    def __init__(self, *, transition: str, permission: str):
        self.transition = transition
        self.permission = permission
        super().__init__(f"You lack the permission '{permission}' needed to {transition} an order.")


class ChannelDisabled(OrderError):
    def __init__(self, channel_id: int):
        self.channel_id = channel_id
        super().__init__(f"Channel {channel_id} is disabled.")
