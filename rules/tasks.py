"""django-q2 entry points: they only call services (idempotent: a replay escalates nothing twice)."""

from __future__ import annotations

from rules import services


def escalate_exceptions() -> int:
    return services.exceptions_escalate()


def recheck_open_orders(order_ids: list[int] | None = None) -> dict[str, int]:
    return services.recheck_open_orders(order_ids=order_ids)


def run_backtest(run_id: int) -> str:
    """A queued BacktestRun (enqueued by services.backtest_start); returns the run's final state."""
    return services.backtest_execute(run_id=run_id).state
