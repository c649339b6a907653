"""The default backend: records the rendered text on the notice and sends nothing (development, and
shops that send notices another way)."""

from __future__ import annotations

from shipping.notices.backends.base import Accepted, Lookup, LookupStatus, Message


class DatabaseBackend:
    name = "database"

    def send(self, message: Message) -> Accepted:
        return Accepted(message_id=message.out_id, answer={"recorded": True, "sent": False})

    def lookup(self, message: Message) -> Lookup:
        return Lookup(LookupStatus.SENT, message.out_id, {"recorded": True})
