"""Domain errors of the inventory app, carrying what a person (or the API) needs to act."""

from __future__ import annotations


class InventoryError(Exception):
    """Base for inventory errors."""


class MovementInvalid(InventoryError):
    """A stock movement cannot be recorded. `errors` maps field name -> messages (API: HTTP 400)."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))


class MovementConflict(InventoryError):
    """The reference was already used for a different movement (API: HTTP 409)."""

    def __init__(self, *, reference: str, movement_id: int):
        self.reference = reference
        self.movement_id = movement_id
        super().__init__(f"Reference {reference!r} was already used by movement {movement_id} with other data.")
