"""django-q2 entry points: they only call services, and are safe to run twice."""

from __future__ import annotations

from dataclasses import asdict

from orders import gateway


def pull_channel(channel_id: int) -> dict:
    return asdict(gateway.channel_pull(channel_id=channel_id))


def process_push_message(message_id: int) -> None:
    gateway.process_push_message(message_id=message_id)


def sweep_push_messages() -> int:
    return gateway.sweep_push_messages()


def watch_inbox() -> float | None:
    """Alert on an old webhook inbox backlog (also when no drainer runs), and purge old decided rows."""
    from orders import inbox

    inbox.inbox_purge_decided()
    return inbox.inbox_check_backlog()


def check_stranded_orders() -> dict:
    """The stranded-order guard (schedule "orders: stranded-order guard")."""
    from orders.workflow_services import stranded_orders_check

    return stranded_orders_check()


def rollup_workflow_figures() -> dict:
    """The workflow page's hourly rollup (schedule "orders: workflow rollup")."""
    from orders.workflow_services import flow_rollup

    return flow_rollup()
